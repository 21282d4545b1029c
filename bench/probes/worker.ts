// One measured probe run in a process of its own (so its peak RSS and CPU are
// its own): kube-recycler's probe engine (`ours`, src/triggers/probe.ts, the
// code the cron uses) or a floor, a minimal undici loop doing request, status
// and body regex, nothing else: `floor` with undici's request() API (the
// documented way), `floor-dispatch` with agent.dispatch() and a bare handler
// (undici's lowest level, as our engine uses it).
//
//   node bench/probes/worker.ts '<json WorkerInput>'  → one JSON line (WorkerOutput)
//
// Duration mode: `concurrency` callers each run probes back to back (a closed
// loop, as wrk drives blackbox_exporter) for `warmupMs`, then for `durationMs`
// measured. Count mode (`count`): `count` checks at once through
// `runChecks`, as a cron tick does, timed from call to the last result.

import { performance } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import { createProber } from '../../src/triggers/probe.ts'
import type { CheckConfig } from '../../src/config/types.ts'
import { startCpuProfile } from '../lib/cpu-profile.ts'
import { procCpuMs } from '../lib/procfs.ts'
import { Histogram } from '../lib/stats.ts'
import { BODY_REGEX, PATHS } from './targets-server.ts'

export interface WorkerInput {
  contender: 'ours' | 'floor' | 'floor-dispatch'
  keepAlive: boolean
  concurrency: number
  kind: 'fast' | 'slow'
  port: number
  /** The targets server, whose CPU over the measured window is reported too. */
  targetsPid?: number
  durationMs?: number
  warmupMs?: number
  count?: number
}

export interface WorkerOutput {
  probes: number
  ok: number
  firstError?: string
  elapsedMs: number
  perSecond: number
  cpuMsPerProbe: number
  cpuMs: number
  /** The targets server's CPU over the measured window (NaN without targetsPid). */
  targetsCpuMs: number
  p50: number
  p99: number
  maxMs: number
  peakRssMB: number
}

function checkFor(url: string): CheckConfig {
  return {
    name: url,
    url,
    method: 'GET',
    headers: {},
    timeoutMs: 10_000,
    expectStatus: [{ min: 200, max: 200 }],
    bodyMatches: BODY_REGEX,
    tls: { verify: true },
  }
}

type Outcome = { ok: boolean; message?: string | undefined; latencyMs?: number | undefined }
type ProbeFn = (i: number) => Promise<Outcome>

interface Contender {
  probe: ProbeFn
  /** n checks at once, as a cron tick hands them over (ours only). */
  batch?: (n: number) => Promise<Outcome[]>
  close: () => Promise<void>
}

function oursProbe(input: WorkerInput): Contender {
  const prober = createProber({ concurrency: input.concurrency, keepAlive: input.keepAlive })
  const urls = Array.from({ length: PATHS }, (_, i) => `http://127.0.0.1:${input.port}/${input.kind}/${i}`)
  const checks = urls.map(checkFor)
  return {
    probe: (i) => prober.runCheck(checks[i % PATHS]!),
    // A cron tick: distinct check objects, all handed over at once.
    batch: (n) => prober.runChecks(Array.from({ length: n }, (_, i) => checkFor(urls[i % PATHS]!))),
    close: () => prober.close(),
  }
}

function floorProbe(input: WorkerInput): Contender {
  const agent = new Agent()
  const re = new RegExp(BODY_REGEX)
  const reset = !input.keepAlive
  const urls = Array.from({ length: PATHS }, (_, i) => `http://127.0.0.1:${input.port}/${input.kind}/${i}`)
  return {
    async probe(i) {
      try {
        const { statusCode, body } = await request(urls[i % PATHS]!, { dispatcher: agent, reset })
        const text = await body.text()
        return statusCode === 200 && re.test(text) ? { ok: true } : { ok: false, message: `status ${statusCode}` }
      } catch (e) {
        return { ok: false, message: (e as Error).message }
      }
    },
    close: () => agent.close(),
  }
}

function floorDispatch(input: WorkerInput): Contender {
  const agent = new Agent()
  const re = new RegExp(BODY_REGEX)
  const reset = !input.keepAlive
  const origin = `http://127.0.0.1:${input.port}`
  const paths = Array.from({ length: PATHS }, (_, i) => `/${input.kind}/${i}`)
  return {
    probe(i) {
      return new Promise((resolve) => {
        let status = 0
        const chunks: Buffer[] = []
        agent.dispatch(
          { origin, path: paths[i % PATHS]!, method: 'GET', reset },
          {
            onRequestStart() {},
            onResponseStart(_c, statusCode) {
              status = statusCode
            },
            onResponseData(_c, chunk) {
              chunks.push(chunk)
            },
            onResponseEnd() {
              const ok = status === 200 && re.test(Buffer.concat(chunks).toString('utf8'))
              resolve(ok ? { ok } : { ok, message: `status ${status}` })
            },
            onResponseError(_c, err) {
              resolve({ ok: false, message: err.message })
            },
          },
        )
      })
    },
    close: () => agent.close(),
  }
}

async function closedLoop(
  probe: ProbeFn,
  concurrency: number,
  ms: number,
  hist: Histogram | undefined,
): Promise<{ n: number; ok: number; firstError?: string }> {
  const until = performance.now() + ms
  let next = 0
  let n = 0
  let ok = 0
  let firstError: string | undefined
  const caller = async () => {
    while (performance.now() < until) {
      const t0 = performance.now()
      const r = await probe(next++)
      if (hist !== undefined) {
        hist.record(performance.now() - t0)
        n++
        if (r.ok) ok++
        else firstError ??= r.message
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller))
  return { n, ok, ...(firstError !== undefined ? { firstError } : {}) }
}

async function main(input: WorkerInput): Promise<WorkerOutput> {
  const p: Contender =
    input.contender === 'ours'
      ? oursProbe(input)
      : input.contender === 'floor'
        ? floorProbe(input)
        : floorDispatch(input)
  const hist = new Histogram()
  let n: number
  let ok: number
  let firstError: string | undefined
  let elapsedMs: number
  let cpu: NodeJS.CpuUsage
  const targetsCpu = () => (input.targetsPid !== undefined ? procCpuMs(input.targetsPid) : NaN)
  let targets0 = targetsCpu()
  let targetsMs: number
  if (input.count !== undefined) {
    // Cold: a fresh process and no connections yet, like the first tick.
    const profile = process.env.BENCH_CPU_PROFILE ? await startCpuProfile() : undefined
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    if (p.batch !== undefined) {
      const results = await p.batch(input.count)
      elapsedMs = performance.now() - t0
      cpu = process.cpuUsage(cpu0)
      targetsMs = targetsCpu() - targets0
      n = results.length
      ok = results.filter((r) => r.ok).length
      firstError = results.find((r) => !r.ok)?.message
      for (const r of results) hist.record(r.latencyMs ?? NaN)
    } else {
      let next = 0
      ok = 0
      const caller = async () => {
        while (next < input.count!) {
          const t = performance.now()
          const r = await p.probe(next++)
          hist.record(performance.now() - t)
          if (r.ok) ok++
          else firstError ??= r.message
        }
      }
      await Promise.all(Array.from({ length: input.concurrency }, caller))
      elapsedMs = performance.now() - t0
      cpu = process.cpuUsage(cpu0)
      targetsMs = targetsCpu() - targets0
      n = input.count
    }
    await profile?.(process.env.BENCH_CPU_PROFILE!)
  } else {
    await closedLoop(p.probe, input.concurrency, input.warmupMs ?? 500, undefined)
    const profile = process.env.BENCH_CPU_PROFILE ? await startCpuProfile() : undefined
    targets0 = targetsCpu()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const r = await closedLoop(p.probe, input.concurrency, input.durationMs ?? 3000, hist)
    elapsedMs = performance.now() - t0
    cpu = process.cpuUsage(cpu0)
    targetsMs = targetsCpu() - targets0
    await profile?.(process.env.BENCH_CPU_PROFILE!)
    n = r.n
    ok = r.ok
    firstError = r.firstError
  }
  const cpuMs = (cpu.user + cpu.system) / 1000
  const out: WorkerOutput = {
    probes: n,
    ok,
    ...(firstError !== undefined ? { firstError } : {}),
    elapsedMs,
    perSecond: (n / elapsedMs) * 1000,
    cpuMsPerProbe: cpuMs / n,
    cpuMs,
    targetsCpuMs: targetsMs,
    p50: hist.percentile(50),
    p99: hist.percentile(99),
    maxMs: hist.max,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  }
  await p.close()
  return out
}

if (import.meta.main) {
  const input = JSON.parse(process.argv[2] ?? '{}') as WorkerInput
  main(input).then(
    (out) => {
      process.stdout.write(`${JSON.stringify(out)}\n`)
    },
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`)
      process.exitCode = 1
    },
  )
}
