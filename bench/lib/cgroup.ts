// A pod's memory limit for a process the bench starts: a memory cgroup of
// its own, as the container runtime gives each container. It matters for
// what the bench measures, not only for what it allows: Node sizes V8's heap
// from the memory it may use (libuv reads the cgroup's limit; about half of
// it under 2 GiB), and a heap sized from this machine's 24 GB lets garbage
// and free pages pile up to ~4 times the live set before a full collection.
// A 1,000-site service read 274 MB without a limit and 202 MB in the chart's
// default 384 MiB, the same sites at the same age (docs/benchmarks.md).
//
// cgroup v1 (a `memory` hierarchy: the cage is made under this process's
// own cgroup) or v2 (the unified tree, the cage made at its root, where
// processes may live beside children). The child joins it before it execs
// node, so Node reads the limit at start. Without a writable cgroup (no
// root, a read-only /sys/fs/cgroup) there is no cage, and the caller says
// the figures were read without a limit.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { memoryNeeded } from '../../src/config/memory.ts'

const ROOT = '/sys/fs/cgroup'
/** The repository (this file is bench/lib/cgroup.ts). */
const REPO = fileURLToPath(new URL('../../', import.meta.url))
const MiB = 1024 * 1024

export interface MemoryCage {
  /** The limit, bytes. */
  readonly limit: number
  /** `command args…` as a command that joins the cage, then execs them (same pid). */
  wrap(command: string, args: readonly string[]): { command: string; args: string[] }
  /** The most the cage's processes used at once, bytes (undefined where the kernel does not keep it). */
  peak(): number | undefined
  /** How many times the kernel's OOM killer killed a process of the cage. */
  oomKills(): number
  /** Removes the cage; its processes must have exited. */
  close(): void
}

let made = 0

/** A memory cgroup limited to `limit` bytes, or why there is none. */
export function memoryCage(limit: number): MemoryCage | { unavailable: string } {
  const name = `kube-recycler-bench-${process.pid}-${++made}`
  try {
    if (existsSync(path.join(ROOT, 'cgroup.controllers'))) return v2(name, limit)
    return v1(name, limit)
  } catch (e) {
    return { unavailable: (e as Error).message }
  }
}

function v1(name: string, limit: number): MemoryCage {
  const own = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))
  if (!own) throw new Error('no memory controller in /proc/self/cgroup')
  const dir = limited(path.join(ROOT, 'memory', own[1]!, name), 'memory.limit_in_bytes', limit)
  return cage(dir, limit, {
    peak: () => Number(readFileSync(path.join(dir, 'memory.max_usage_in_bytes'), 'utf8')),
    oom: () => field(path.join(dir, 'memory.oom_control'), 'oom_kill'),
  })
}

function v2(name: string, limit: number): MemoryCage {
  const control = path.join(ROOT, 'cgroup.subtree_control')
  if (!readFileSync(control, 'utf8').split(/\s+/).includes('memory')) writeFileSync(control, '+memory')
  const dir = limited(path.join(ROOT, name), 'memory.max', limit)
  return cage(dir, limit, {
    // memory.peak came with Linux 5.19.
    peak: () =>
      existsSync(path.join(dir, 'memory.peak'))
        ? Number(readFileSync(path.join(dir, 'memory.peak'), 'utf8'))
        : undefined,
    oom: () => field(path.join(dir, 'memory.events'), 'oom_kill'),
  })
}

/** Makes the cgroup `dir` with `limit` in its `file`; nothing is left behind when the limit cannot be set. */
function limited(dir: string, file: string, limit: number): string {
  mkdirSync(dir)
  try {
    writeFileSync(path.join(dir, file), String(limit))
  } catch (e) {
    rmdirSync(dir)
    throw e
  }
  return dir
}

/** `key N` from a flat-keyed cgroup file; 0 when absent. */
function field(file: string, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'))
  return m ? Number(m[1]) : 0
}

function cage(dir: string, limit: number, read: { peak(): number | undefined; oom(): number }): MemoryCage {
  return {
    limit,
    wrap: (command, args) => ({
      command: '/bin/sh',
      // $0 is the procs file: the shell moves itself in, then becomes the command.
      args: ['-c', 'echo $$ > "$0" && exec "$@"', path.join(dir, 'cgroup.procs'), command, ...args],
    }),
    peak: () => read.peak(),
    oomKills: () => read.oom(),
    close: () => {
      try {
        rmdirSync(dir)
      } catch {
        // Still has a process (one that did not exit): left for the kernel to keep; named by pid.
      }
    },
  }
}

/**
 * The memory limit an operator gives `sites` sites by the chart's word: its
 * default limit (values.yaml), raised to what the service's start-up check
 * asks for (src/config/memory.ts) where that is more, in whole MiB.
 */
export function podMemoryLimit(sites: number): number {
  const values = parseYaml(readFileSync(path.join(REPO, 'charts/kube-recycler/values.yaml'), 'utf8')) as {
    resources?: { limits?: { memory?: string } }
  }
  const q = /^(\d+)(Mi|Gi)$/.exec(values.resources?.limits?.memory ?? '')
  if (!q) throw new Error(`charts/kube-recycler/values.yaml: resources.limits.memory is not <n>Mi or <n>Gi`)
  const chart = Number(q[1]) * (q[2] === 'Gi' ? 1024 : 1) * MiB
  return Math.ceil(Math.max(chart, memoryNeeded(sites)) / MiB) * MiB
}
