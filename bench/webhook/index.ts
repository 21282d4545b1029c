// bench/webhook: autocannon against POST /webhooks/jenkins — kube-recycler's
// app (HMAC-signed, valid payloads, a distinct build number each) against a
// bare Fastify route answering 202 with a body of the same size, same process
// settings, alternating in one run. Then the service at a fixed 1,000 req/s
// (its p99), and the idle RSS of the real process (`node src/cli.ts serve`).
//
// The servers are child processes (a fresh one per run, so peak RSS is the
// run's); autocannon drives them from this process. CPU figures are the
// server's own (/proc/<pid>/stat).

import autocannon from 'autocannon'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sign } from '../../src/triggers/signature.ts'
import { startService } from '../../test/fixtures/process.ts'
import { busyness, load1, NODE, procCpuMs, procMemMB, ROOT, sleep, startChild, type Child } from '../lib/proc.ts'
import {
  fmtRatio,
  fmtSpread,
  Histogram,
  markdownTable,
  num,
  ratio,
  spread,
  textTable,
  type Spread,
  type TargetCheck,
} from '../lib/stats.ts'
import { formatImportRss, importRss, type ImportRss } from './import-rss.ts'
import { ensureBuild, shippedCommand } from '../lib/shipped.ts'
import { BENCH_CONFIG, BENCH_SECRETS, JOB } from './server.ts'

export type Variant = 'service' | 'service-failure' | 'bare'
const LABEL: Record<Variant, string> = {
  service: 'kube-recycler (SUCCESS payloads)',
  'service-failure': 'kube-recycler (FAILURE payloads)',
  bare: 'bare Fastify route',
}

export interface WebhookRun {
  requests: number
  perSecond: number
  accepted: number
  other: number
  errors: number
  p50: number
  p99: number
  maxMs: number
  cpuMsPerRequest: number
  /** Server CPU over wall time: 100 % is one core busy (Node's JS runs on one). */
  busyPct: number
  peakRssMB: number
}

export interface WebhookCell {
  variant: Variant
  runs: WebhookRun[]
  perSecond: Spread
  p50: Spread
  p99: Spread
  cpuMsPerRequest: Spread
  busyPct: Spread
  peakRssMB: Spread
  accepted: number
  total: number
}

export interface WebhookResult {
  connections: number
  durationS: number
  cells: WebhookCell[]
  rate: { perSecond: number; runs: WebhookRun[]; p50: Spread; p99: Spread; max: Spread }
  /** Idle RSS of the service as shipped (npm start: dist/ and its V8 flags), no cluster. */
  idleRssMB: Spread
  /** The same from src/ (`node src/cli.ts serve`: Node strips the types at run time). */
  idleRssSrcMB: Spread
  /** Peak RSS (VmHWM) of the shipped service through SUCCESS then FAILURE payloads at full speed. */
  peakShippedMB: Spread
  importRss: ImportRss
  bodyBytes: number
  targets: TargetCheck[]
  durationMs: number
  runs: number
  loadavg: number[]
}

export interface WebhookOptions {
  quick: boolean
  runs: number
  log: (m: string) => void
}

/** A signed, valid payload with a fresh build number; the commit changes every build like real ones. */
export function signedRequest(build: number, status: 'SUCCESS' | 'FAILURE') {
  const commit = ((build * 2654435761) >>> 0).toString(16).padStart(8, '0').repeat(5)
  const body = JSON.stringify({
    job: JOB,
    build,
    status,
    url: `https://jenkins.example.com/job/${JOB}/${build}/`,
    commit,
  })
  const ts = String(Math.floor(Date.now() / 1000))
  return {
    method: 'POST',
    path: '/webhooks/jenkins',
    headers: {
      'content-type': 'application/json',
      'x-recycler-timestamp': ts,
      'x-recycler-signature': sign(BENCH_SECRETS.webhookSecret!, ts, body),
    },
    body,
  }
}

async function startServer(variant: Variant, bodyBytes: number): Promise<Child> {
  const args = variant === 'bare' ? ['bare', String(bodyBytes)] : ['service']
  // Both with the V8 flags the service ships with (npm start, the image).
  return startChild(NODE, [...shippedCommand().flags, path.join(ROOT, 'bench/webhook/server.ts'), ...args])
}

let buildCounter = 1

export async function drive(
  port: number,
  opts: { connections: number; durationS: number; overallRate?: number; status: 'SUCCESS' | 'FAILURE' },
): Promise<{ hist: Histogram; requests: number; accepted: number; other: number; errors: number; seconds: number }> {
  const hist = new Histogram()
  let accepted = 0
  let other = 0
  const t0 = performance.now()
  const inst = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: opts.connections,
    pipelining: 1,
    duration: opts.durationS,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    requests: [{ setupRequest: () => signedRequest(buildCounter++, opts.status) }],
  })
  inst.on('response', (_c, status, _bytes, ms) => {
    hist.record(ms)
    if (status === 202) accepted++
    else other++
  })
  const r = await inst
  const seconds = (performance.now() - t0) / 1000
  return { hist, requests: accepted + other, accepted, other, errors: r.errors + r.timeouts, seconds }
}

async function measure(
  variant: Variant,
  bodyBytes: number,
  load: { connections: number; durationS: number; overallRate?: number },
): Promise<WebhookRun> {
  const server = await startServer(variant, bodyBytes)
  try {
    const status = variant === 'service-failure' ? 'FAILURE' : 'SUCCESS'
    await drive(server.port, { ...load, durationS: 1, status }) // warm-up (JIT, connections)
    const cpu0 = procCpuMs(server.pid)
    const d = await drive(server.port, { ...load, status })
    const cpu = procCpuMs(server.pid) - cpu0
    return {
      requests: d.requests,
      perSecond: d.requests / d.seconds,
      accepted: d.accepted,
      other: d.other,
      errors: d.errors,
      p50: d.hist.percentile(50),
      p99: d.hist.percentile(99),
      maxMs: d.hist.max,
      cpuMsPerRequest: cpu / d.requests,
      busyPct: (cpu / (d.seconds * 1000)) * 100,
      peakRssMB: procMemMB(server.pid).peak,
    }
  } finally {
    await server.stop()
  }
}

/** The size of the service's answer to a SUCCESS payload, for the bare route to match. */
export async function serviceBodyBytes(): Promise<number> {
  const server = await startServer('service', 0)
  try {
    const req = signedRequest(0, 'SUCCESS')
    const res = await fetch(`http://127.0.0.1:${server.port}${req.path}`, {
      method: 'POST',
      headers: req.headers,
      body: req.body,
    })
    const text = await res.text()
    if (res.status !== 202) throw new Error(`the service answered ${res.status}: ${text}`)
    return Buffer.byteLength(text)
  } finally {
    await server.stop()
  }
}

/**
 * RSS of the real process (`node src/cli.ts serve`) a few seconds after it
 * listens, with no traffic. Without `kubeconfig` there is no cluster (HOME
 * without ~/.kube/config, no KUBECONFIG): dry-run, and the Kubernetes client
 * is never loaded. With one (bench/recycle.ts passes its cluster's), the
 * service connects as it would in production.
 */
export async function idleRss(
  settleMs: number,
  cluster?: { kubeconfig: string; namespace: string },
  how: 'shipped' | 'src' = 'shipped',
): Promise<number> {
  return withService(cluster, how, async (svc) => {
    await sleep(settleMs)
    return procMemMB(svc.child.pid!).rss
  })
}

/** The real `serve` process on the bench config (as shipped, or from src/), for `use`; stopped after. */
export async function withService<T>(
  cluster: { kubeconfig: string; namespace: string } | undefined,
  how: 'shipped' | 'src',
  use: (svc: Awaited<ReturnType<typeof startService>>) => Promise<T>,
): Promise<T> {
  const shipped = shippedCommand()
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kr-bench-idle-'))
  try {
    const config = path.join(dir, 'config.yaml')
    writeFileSync(
      config,
      cluster ? BENCH_CONFIG.replace('service:\n', `service:\n  namespace: ${cluster.namespace}\n`) : BENCH_CONFIG,
    )
    const svc = await startService({
      args: ['--config', config],
      env: {
        HOME: dir,
        KUBE_RECYCLER_WEBHOOK_SECRET: BENCH_SECRETS.webhookSecret!,
        KUBE_RECYCLER_RECYCLE_TOKEN: BENCH_SECRETS.recycleToken!,
        ...(cluster ? { KUBECONFIG: cluster.kubeconfig } : {}),
      },
      timeoutMs: 30_000,
      entry: how === 'shipped' ? [...shipped.flags, shipped.entry] : ['src/cli.ts'],
    })
    try {
      return await use(svc)
    } finally {
      await svc.stop()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function cellOf(variant: Variant, runs: WebhookRun[]): WebhookCell {
  return {
    variant,
    runs,
    perSecond: spread(runs.map((r) => r.perSecond)),
    p50: spread(runs.map((r) => r.p50)),
    p99: spread(runs.map((r) => r.p99)),
    cpuMsPerRequest: spread(runs.map((r) => r.cpuMsPerRequest)),
    busyPct: spread(runs.map((r) => r.busyPct)),
    peakRssMB: spread(runs.map((r) => r.peakRssMB)),
    accepted: runs.reduce((n, r) => n + r.accepted, 0),
    total: runs.reduce((n, r) => n + r.requests, 0),
  }
}

export async function benchWebhook(o: WebhookOptions): Promise<WebhookResult> {
  const started = performance.now()
  await ensureBuild(o.log)
  const connections = 10
  const durationS = o.quick ? 2 : 5
  const rateS = o.quick ? 3 : 10
  const bodyBytes = await serviceBodyBytes()
  const variants: Variant[] = o.quick ? ['service', 'bare'] : ['service', 'bare', 'service-failure']
  const raw = new Map<Variant, WebhookRun[]>()
  const rateRuns: WebhookRun[] = []
  const idle: number[] = []
  const idleSrc: number[] = []
  const peaks: number[] = []
  const loads: number[] = []
  for (let round = 0; round < o.runs; round++) {
    loads.push(load1())
    o.log(`webhook: round ${round + 1}/${o.runs} (${busyness()})`)
    for (const v of variants) {
      const r = await measure(v, bodyBytes, { connections, durationS })
      raw.set(v, [...(raw.get(v) ?? []), r])
      o.log(
        `  ${v.padEnd(16)} ${num(r.perSecond)} req/s  p99 ${num(r.p99)} ms  cpu ${num(r.cpuMsPerRequest)} ms/req  rss ${num(r.peakRssMB)} MB${r.other || r.errors ? `  NOT 202: ${r.other}, errors ${r.errors}` : ''}`,
      )
    }
    const rr = await measure('service', bodyBytes, { connections, durationS: rateS, overallRate: 1000 })
    rateRuns.push(rr)
    o.log(
      `  service @1,000/s  ${num(rr.perSecond)} req/s  p50 ${num(rr.p50)} ms  p99 ${num(rr.p99)} ms  max ${num(rr.maxMs)} ms`,
    )
    idle.push(await idleRss(o.quick ? 1500 : 3000))
    idleSrc.push(await idleRss(o.quick ? 1500 : 3000, undefined, 'src'))
    o.log(`  idle RSS as shipped (npm start): ${num(idle.at(-1)!)} MB; from src/: ${num(idleSrc.at(-1)!)} MB`)
    peaks.push(
      await withService(undefined, 'shipped', async (svc) => {
        const port = Number(new URL(svc.url).port)
        for (const status of ['SUCCESS', 'FAILURE'] as const) await drive(port, { connections, durationS, status })
        return procMemMB(svc.child.pid!).peak
      }),
    )
    o.log(`  peak RSS as shipped through SUCCESS then FAILURE payloads: ${num(peaks.at(-1)!)} MB`)
  }
  const cells = variants.map((v) => cellOf(v, raw.get(v) ?? []))
  const rate = {
    perSecond: 1000,
    runs: rateRuns,
    p50: spread(rateRuns.map((r) => r.p50)),
    p99: spread(rateRuns.map((r) => r.p99)),
    max: spread(rateRuns.map((r) => r.maxMs)),
  }
  const idleRssMB = spread(idle)
  const idleRssSrcMB = spread(idleSrc)
  const peakShippedMB = spread(peaks)
  const imports = await importRss()
  // The bare route stays in the table as a reference (what the framework
  // alone costs); a target against it is withdrawn: the service does the
  // product's work per delivery (HMAC, the state decision, a state write
  // per delivery key), which a route answering 202 does not, and Jenkins
  // calls a few times an hour. The targets are latency and bounded memory.
  const targets: TargetCheck[] = [
    { name: 'webhook p99 ≤ 10 ms at 1,000 req/s', met: rate.p99.median <= 10, detail: `${fmtSpread(rate.p99)} ms` },
    {
      name: 'idle RSS as shipped ≤ 90 MB, without a cluster (dry-run)',
      met: idleRssMB.median <= 90,
      detail: `${fmtSpread(idleRssMB)} MB (from src/: ${fmtSpread(idleRssSrcMB)} MB)`,
    },
    {
      name: 'peak RSS as shipped under the webhook bench ≤ 150 MB',
      met: peakShippedMB.median <= 150,
      detail: `${fmtSpread(peakShippedMB)} MB`,
    },
  ]
  return {
    connections,
    durationS,
    cells,
    rate,
    idleRssMB,
    idleRssSrcMB,
    peakShippedMB,
    importRss: imports,
    bodyBytes,
    targets,
    durationMs: performance.now() - started,
    runs: o.runs,
    loadavg: loads,
  }
}

export function formatWebhook(r: WebhookResult, markdown: boolean): string {
  const table = markdown ? markdownTable : textTable
  const bare = r.cells.find((c) => c.variant === 'bare')!
  const rows = r.cells.map((c) => [
    LABEL[c.variant],
    fmtSpread(c.perSecond),
    c.variant === 'bare' ? '1.00×' : fmtRatio(ratio(c.perSecond.median, bare.perSecond.median)),
    fmtSpread(c.p50),
    fmtSpread(c.p99),
    fmtSpread(c.cpuMsPerRequest),
    num(1000 / c.cpuMsPerRequest.median),
    fmtSpread(c.busyPct),
    fmtSpread(c.peakRssMB),
    `${c.accepted}/${c.total}`,
  ])
  return [
    `autocannon, ${r.connections} connections, ${r.durationS} s per run after a 1 s warm-up; medians over ${r.runs} run${r.runs === 1 ? '' : 's'} (min–max); answers ${r.bodyBytes} bytes:`,
    '',
    table(
      [
        'server',
        'req/s',
        'vs bare',
        'p50 ms',
        'p99 ms',
        'server CPU ms/req',
        'req/s per CPU-second',
        'server busy %',
        'peak RSS MB',
        '202s',
      ],
      rows,
    ),
    '',
    `kube-recycler at a fixed ${num(r.rate.perSecond)} req/s (${r.connections} connections): p50 ${fmtSpread(r.rate.p50)} ms, p99 ${fmtSpread(r.rate.p99)} ms, max ${fmtSpread(r.rate.max)} ms`,
    `Idle RSS (no cluster, no traffic) as shipped (\`npm start\`: ${shippedCommand().flags.join(' ')} ${shippedCommand().entry}): ${fmtSpread(r.idleRssMB)} MB; from src/ (\`node src/cli.ts serve\`): ${fmtSpread(r.idleRssSrcMB)} MB`,
    `Peak RSS as shipped through ${r.durationS} s of SUCCESS then ${r.durationS} s of FAILURE payloads (${r.connections} connections, full speed): ${fmtSpread(r.peakShippedMB)} MB`,
    '',
    'Where it goes (RSS of a fresh process after one import and a GC):',
    '',
    formatImportRss(r.importRss, markdown),
  ].join('\n')
}
