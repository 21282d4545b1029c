// Processes for the benchmarks: children that print `port N` when they
// listen, workers that print one JSON line, CPU and memory of any pid read
// from /proc, the Debian tools the bench needs, and what machine this is.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** The Node that runs the bench (v24 from node_modules under `npm run bench`). */
export const NODE = process.execPath

export { procCpuMs, procMemMB } from './procfs.ts'

export interface Child {
  child: ChildProcess
  pid: number
  port: number
  output(): string
  stop(): Promise<void>
}

/**
 * Starts `command args` and waits for a `port N` line on stdout. With `port`
 * given, it waits for `listenLine` on stdout/stderr instead, or for nothing
 * (the caller polls the port).
 */
export async function startChild(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; port?: number; listenLine?: RegExp; timeoutMs?: number; cwd?: string } = {},
): Promise<Child> {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${command} did not start within ${opts.timeoutMs ?? 15_000} ms:\n${out.slice(-2000)}`)),
      opts.timeoutMs ?? 15_000,
    )
    const look = (d: Buffer) => {
      out += d.toString()
      if (out.length > 100_000) out = out.slice(-50_000)
      if (opts.listenLine) {
        if (opts.listenLine.test(out)) {
          clearTimeout(timer)
          resolve(opts.port ?? 0)
        }
        return
      }
      const m = /^port (\d+)$/m.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    }
    child.stdout!.on('data', look)
    child.stderr!.on('data', look)
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    if (opts.port !== undefined && opts.listenLine === undefined) {
      clearTimeout(timer)
      setImmediate(() => {
        if (child.pid !== undefined) resolve(opts.port!)
      })
    }
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`${command} exited early (${child.exitCode ?? child.signalCode}):\n${out.slice(-2000)}`))
    })
  })
  return {
    child,
    pid: child.pid!,
    port,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(t)
      }
    },
  }
}

/** Runs `node <script> <json>` and returns the JSON of its last stdout line. */
export async function runWorker<T>(
  script: string,
  input: unknown,
  opts: { execArgv?: string[]; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<T> {
  const child = spawn(NODE, [...(opts.execArgv ?? []), script, JSON.stringify(input)], {
    cwd: ROOT,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let last = ''
  let err = ''
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (l.trim()) last = l
  })
  child.stderr!.on('data', (d) => {
    err += String(d)
    if (err.length > 20_000) err = err.slice(-10_000)
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`${script} exited with ${code}:\n${err.slice(-3000)}`)
  return JSON.parse(last) as T
}

/** Runs a command to completion, capturing its output. */
export function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += String(d)
    })
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000)
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: performance.now() - t0 })
    })
  })
}

export function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin', '/bin'])) {
    try {
      const p = `${dir}/${bin}`
      execFileSync('test', ['-x', p])
      return p
    } catch {
      /* next */
    }
  }
  return undefined
}

/**
 * Installs the Debian packages whose binaries are missing (blackbox_exporter
 * and wrk): one `apt-get update`, then `apt-get install`. Needs root.
 */
export async function ensureDebianTools(log: (m: string) => void): Promise<{ blackbox: string; wrk: string }> {
  const want: Array<[bin: string, pkg: string]> = [
    ['prometheus-blackbox-exporter', 'prometheus-blackbox-exporter'],
    ['wrk', 'wrk'],
  ]
  const missing = want.filter(([bin]) => which(bin) === undefined).map(([, pkg]) => pkg)
  if (missing.length > 0) {
    if (process.getuid?.() !== 0)
      throw new Error(
        `missing ${missing.join(', ')}: install them (apt-get install ${missing.join(' ')}) or run the bench as root`,
      )
    log(`installing ${missing.join(', ')} from Debian (apt-get)`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const up = await run('apt-get', ['update', '-qq'], { env })
    if (up.code !== 0) throw new Error(`apt-get update failed:\n${up.stderr}`)
    const inst = await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env })
    if (inst.code !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed:\n${inst.stderr}`)
  }
  return { blackbox: which('prometheus-blackbox-exporter')!, wrk: which('wrk')! }
}

function firstLine(cmd: string, args: string[]): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    return out.split('\n')[0]!.trim()
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string }
    return (
      String(err.stdout || err.stderr || '')
        .split('\n')[0]!
        .trim() || 'unknown'
    )
  }
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version
  } catch {
    return 'not installed'
  }
}

export interface Machine {
  date: string
  nproc: number
  cpu: string
  memGB: number
  kernel: string
  loadavg: string
  /** CPU pressure (PSI some avg10, %) at start. */
  cpuPressure: number
  node: string
  undici: string
  fastify: string
  autocannon: string
  clientNode: string
  blackbox: string
  wrk: string
}

export function machine(): Machine {
  let cpu = 'unknown'
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown'
  } catch {
    /* not Linux */
  }
  const bb = which('prometheus-blackbox-exporter')
  const wrk = which('wrk')
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpu,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    loadavg: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    cpuPressure: cpuPressure(),
    node: process.version,
    undici: pkgVersion('undici'),
    fastify: pkgVersion('fastify'),
    autocannon: pkgVersion('autocannon'),
    clientNode: pkgVersion('@kubernetes/client-node'),
    blackbox: bb ? (/version (\S+)/.exec(firstLine(bb, ['--version']))?.[1] ?? 'unknown') : 'not installed',
    wrk: wrk ? (/wrk (\S+)/.exec(firstLine(wrk, ['--version']))?.[1] ?? 'unknown') : 'not installed',
  }
}

/** The 1-minute load average: other work on the machine skews every figure. */
export function load1(): number {
  return os.loadavg()[0]!
}

/** % of the last 10 s some task waited for a CPU (Linux PSI); NaN where unknown. */
export function cpuPressure(): number {
  try {
    return Number(/^some avg10=(\S+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN)
  } catch {
    return NaN
  }
}

/** `load 0.42, CPU pressure 3.1 %`: how busy the machine was, for the log and the results. */
export function busyness(): string {
  const p = cpuPressure()
  return `load ${load1().toFixed(2)}${Number.isFinite(p) ? `, CPU pressure ${p.toFixed(1)} %` : ''}`
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
