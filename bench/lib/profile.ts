// Where the CPU goes (`npm run bench -- --profile`): one extra run of our
// probe worker and of the webhook service, CPU-profiled (the V8 profiler that
// `node --cpu-prof` uses, started after start-up and warm-up so only the
// steady state is in it), each profile summed by origin (our src/, undici,
// fastify, Node's internals, GC…) and by function, self time, idle left out.
// Profiling slows the code down; these runs are not part of the figures.
//
//   node bench/lib/profile.ts FILE.cpuprofile   → the same summary for any profile

import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import { NODE, ROOT, runWorker, startChild } from './proc.ts'
import { textTable } from './stats.ts'
import type { WorkerInput } from '../probes/worker.ts'
import { serviceBodyBytes, signedRequest } from '../webhook/index.ts'
import { shippedCommand } from './shipped.ts'

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

function origin(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC'
  if (fn === '(program)' || fn === '(root)') return '(program: native, outside JS)'
  if (url.includes('/node_modules/undici/')) return 'undici'
  if (
    url.includes('/node_modules/fastify/') ||
    url.includes('/node_modules/@fastify/') ||
    url.includes('/node_modules/find-my-way/') ||
    url.includes('/node_modules/light-my-request/') ||
    url.includes('/node_modules/avvio/')
  )
    return 'fastify'
  if (url.includes('/node_modules/pino')) return 'pino'
  if (url.includes('/node_modules/typebox/') || url.includes('/node_modules/ajv')) return 'typebox/ajv'
  if (url.includes('/node_modules/prom-client/')) return 'prom-client'
  if (url.includes('/node_modules/'))
    return `other deps (${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? '?'})`
  if (url.includes('/src/')) return 'kube-recycler src/'
  if (url.includes('/bench/')) return 'bench harness'
  if (url.startsWith('node:')) return 'Node internals (node:*)'
  if (url === '') return 'native builtins'
  return 'other'
}

interface SelfTimes {
  total: number
  byOrigin: Map<string, number>
  byFn: Map<string, number>
  spanMs: number
}

/** Self time (ms) by origin and by function, without idle time. */
function selfTimes(file: string): SelfTimes {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i + 1] is the time spent in sample i.
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt)
  }
  const byOrigin = new Map<string, number>()
  const byFn = new Map<string, number>()
  let total = 0
  for (const [id, ms] of self) {
    const n = byId.get(id)!
    const { functionName, url, lineNumber } = n.callFrame
    if (functionName === '(idle)') continue
    total += ms
    const o = origin(url, functionName)
    byOrigin.set(o, (byOrigin.get(o) ?? 0) + ms)
    const short = url.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, '$1/')
    const key = `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim()
    byFn.set(key, (byFn.get(key) ?? 0) + ms)
  }
  return { total, byOrigin, byFn, spanMs: (p.endTime - p.startTime) / 1000 }
}

const sorted = (m: Map<string, number>): Array<[string, number]> => [...m.entries()].sort((a, b) => b[1] - a[1])

/** Self time (ms) by origin and by function, without idle time. */
export function summarizeProfile(file: string, top = 12): string {
  const { total, byOrigin, byFn, spanMs } = selfTimes(file)
  const pct = (ms: number) => `${((ms / total) * 100).toFixed(1)}%`
  return [
    `busy ${total.toFixed(0)} ms of ${spanMs.toFixed(0)} ms profiled`,
    textTable(
      ['by origin', 'self ms', 'share'],
      sorted(byOrigin).map(([k, v]) => [k, v.toFixed(0), pct(v)]),
    ),
    textTable(
      ['top functions (self time)', 'self ms', 'share'],
      sorted(byFn)
        .slice(0, top)
        .map(([k, v]) => [k, v.toFixed(0), pct(v)]),
    ),
  ].join('\n\n')
}

/**
 * Two profiles of the same load side by side, per request: where the one
 * costs more than the other, by origin (and its top functions).
 */
export function compareProfiles(
  a: { label: string; file: string; requests: number },
  b: { label: string; file: string; requests: number },
  top = 15,
): string {
  const pa = selfTimes(a.file)
  const pb = selfTimes(b.file)
  const us = (ms: number, n: number): number => (ms * 1000) / n
  const origins = [...new Set([...pa.byOrigin.keys(), ...pb.byOrigin.keys()])]
    .map((o) => [o, us(pa.byOrigin.get(o) ?? 0, a.requests), us(pb.byOrigin.get(o) ?? 0, b.requests)] as const)
    .sort((x, y) => y[2] - y[1] - (x[2] - x[1]))
  const f = (x: number): string => x.toFixed(1)
  return [
    `CPU per request (µs, self time of the profiled steady state over its requests): ${a.label} ${f(us(pa.total, a.requests))} over ${a.requests} requests, ${b.label} ${f(us(pb.total, b.requests))} over ${b.requests} (profiling slows both)`,
    textTable(
      ['by origin', `${a.label} µs/req`, `${b.label} µs/req`, 'difference'],
      [
        ...origins.map(([o, x, y]) => [o, f(x), f(y), `${y - x >= 0 ? '+' : ''}${f(y - x)}`]),
        [
          'all',
          f(us(pa.total, a.requests)),
          f(us(pb.total, b.requests)),
          `+${f(us(pb.total, b.requests) - us(pa.total, a.requests))}`,
        ],
      ],
    ),
    textTable(
      [`top functions of ${b.label} (self time)`, 'µs/req'],
      sorted(pb.byFn)
        .slice(0, top)
        .map(([k, v]) => [k, f(us(v, b.requests))]),
    ),
  ].join('\n\n')
}

async function profileProbes(log: (m: string) => void): Promise<string> {
  const targets = await startChild(NODE, [path.join(ROOT, 'bench/probes/targets-server.ts')])
  const out: string[] = []
  try {
    const cases: Array<[string, Omit<WorkerInput, 'port'>]> = [
      [
        'probes, new connection, /fast, concurrency 100, 3 s',
        { contender: 'ours', keepAlive: false, concurrency: 100, kind: 'fast', durationMs: 3000, warmupMs: 500 },
      ],
      [
        'probes, keep-alive, /fast, concurrency 100, 3 s',
        { contender: 'ours', keepAlive: true, concurrency: 100, kind: 'fast', durationMs: 3000, warmupMs: 500 },
      ],
      [
        'probes, floor (undici request), keep-alive, /fast, concurrency 100, 3 s',
        { contender: 'floor', keepAlive: true, concurrency: 100, kind: 'fast', durationMs: 3000, warmupMs: 500 },
      ],
      [
        'probes, a cron tick: 10,000 checks of /slow, keep-alive, concurrency 500 (cold)',
        { contender: 'ours', keepAlive: true, concurrency: 500, kind: 'slow', count: 10_000 },
      ],
    ]
    for (const [title, input] of cases) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'kr-bench-prof-'))
      try {
        log(`profile: ${title}`)
        const file = path.join(dir, 'worker.cpuprofile')
        await runWorker(
          path.join(ROOT, 'bench/probes/worker.ts'),
          { ...input, port: targets.port },
          { env: { ...process.env, BENCH_CPU_PROFILE: file } },
        )
        out.push(`### ${title}\n\n${summarizeProfile(file)}`)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  } finally {
    await targets.stop()
  }
  return out.join('\n\n')
}

/** One profiled steady state of a webhook server (`service`, or `bare <bytes>`); the requests it answered. */
async function profileWebhookServer(args: string[], file: string): Promise<number> {
  const server = await startChild(
    NODE,
    [...shippedCommand().flags, path.join(ROOT, 'bench/webhook/server.ts'), ...args],
    { env: { ...process.env, BENCH_CPU_PROFILE: file } },
  )
  try {
    let build = 1
    const load = (duration: number) =>
      autocannon({
        url: `http://127.0.0.1:${server.port}`,
        connections: 10,
        duration,
        // The measured runs' requests (bench/webhook/index.ts).
        requests: [{ setupRequest: () => signedRequest(build++, 'SUCCESS') }],
      })
    await load(1)
    server.child.kill('SIGUSR2')
    await new Promise((r) => setTimeout(r, 200))
    const r = await load(5)
    return r.requests.total
  } finally {
    await server.stop()
  }
}

async function profileWebhook(log: (m: string) => void): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kr-bench-prof-'))
  try {
    log('profile: webhook service and the bare route, 10 connections, 5 s each after a 1 s warm-up')
    const service = path.join(dir, 'service.cpuprofile')
    const bare = path.join(dir, 'bare.cpuprofile')
    const serviceRequests = await profileWebhookServer(['service'], service)
    const bareRequests = await profileWebhookServer(['bare', String(await serviceBodyBytes())], bare)
    return [
      `### webhook service (SUCCESS payloads), 10 connections, 5 s\n\n${summarizeProfile(service)}`,
      `### webhook: the service against the bare route, per request\n\n${compareProfiles({ label: 'bare', file: bare, requests: bareRequests }, { label: 'service', file: service, requests: serviceRequests })}`,
    ].join('\n\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function profileParts(parts: string[], log: (m: string) => void): Promise<string> {
  const out: string[] = []
  if (parts.includes('probes')) out.push(await profileProbes(log))
  if (parts.includes('webhook')) out.push(await profileWebhook(log))
  if (parts.includes('recycle'))
    out.push("recycle: not profiled — its wall time is the control plane's (see the table), not our CPU.")
  return out.join('\n\n')
}

if (import.meta.main) {
  // node bench/lib/profile.ts FILE.cpuprofile → the same summary for any profile.
  process.stdout.write(`${summarizeProfile(process.argv[2]!, 20)}\n`)
}
