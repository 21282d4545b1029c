// Will the configured sites fit the memory the pod was given? Said once at
// start, so a limit that is too small shows up as a warning in the first log
// lines, not as an OOM kill at the first busy minute.
//
// The figures are measured (docs/benchmarks.md, `npm run bench -- --only
// scale`): the process connected to a cluster with no site, and what each
// healthy site adds to it (its state, schedule, metrics series and probe
// connection). The budget keeps a margin for a busy moment: recycles
// running, a burst of webhooks, garbage not yet collected.

import { readFileSync } from 'node:fs'

const MiB = 1024 * 1024
/** RSS of the service as shipped, connected to a cluster, with one site (measured 123 MB). */
export const BASE_BYTES = 125 * MiB
/** RSS one healthy site adds, connected and probed every 10 s (measured in the limit this budget gives: 92-102 KB at 1,000 sites, 46-51 KB at 5,000; a margin for a busier start). */
export const PER_SITE_BYTES = 170 * 1024
/** Room above the steady state for bursts and the garbage collector. */
export const MARGIN = 1.25

/** cgroup v2 (what a container sees as its own); cgroup v1's file is the fallback. */
export const CGROUP_MEMORY_MAX = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']

/** The memory the service should be given for `sites` sites, in bytes. */
export function memoryNeeded(sites: number): number {
  return Math.ceil((BASE_BYTES + sites * PER_SITE_BYTES) * MARGIN)
}

/**
 * The memory limit of this process's cgroup, in bytes; undefined when there
 * is none (`max`, cgroup v1's huge "unlimited", no such file: not in a
 * container, or not Linux).
 */
export function readMemoryLimit(paths: readonly string[] = CGROUP_MEMORY_MAX): number | undefined {
  for (const p of paths) {
    let text: string
    try {
      text = readFileSync(p, 'utf8').trim()
    } catch {
      continue
    }
    if (text === 'max') return undefined
    const n = Number(text)
    // cgroup v1 says "unlimited" as a page-rounded 2^63.
    if (!Number.isSafeInteger(n) || n <= 0) return undefined
    return n
  }
  return undefined
}

/** A warning when `sites` will not fit `limit` bytes; undefined when they do or there is no limit. */
export function memoryWarning(sites: number, limit: number | undefined): string | undefined {
  if (limit === undefined) return undefined
  const need = memoryNeeded(sites)
  if (limit >= need) return undefined
  const mb = (b: number) => Math.ceil(b / MiB)
  const fits = Math.max(0, Math.floor((limit / MARGIN - BASE_BYTES) / PER_SITE_BYTES))
  return (
    `the memory limit (${mb(limit)} MiB) is below what ${sites} sites need (~${mb(need)} MiB: ${mb(BASE_BYTES)} MiB for the process, ${PER_SITE_BYTES / 1024} KiB per site, 25 % margin); ` +
    `it fits about ${fits} sites: raise resources.limits.memory (charts/kube-recycler/values.yaml) or split the sites over two installs`
  )
}

/** At start: says when the sites will not fit the pod's memory limit (a warning; the service still starts). */
export function checkMemoryAtStart(
  logger: { warn(o: object, m: string): void },
  sites: number,
  paths: readonly string[] = CGROUP_MEMORY_MAX,
): void {
  const limit = readMemoryLimit(paths)
  const warning = memoryWarning(sites, limit)
  if (warning) logger.warn({ sites, memoryLimitBytes: limit, memoryNeededBytes: memoryNeeded(sites) }, warning)
}
