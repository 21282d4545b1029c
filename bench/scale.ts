// bench/scale: what a site costs the service, and whether that cost stays
// flat while nothing happens. Real `serve` processes as shipped (npm start's
// command), on the test control plane:
//
//   - 100 and 1,000 sites, each with its own Deployment (one pod, kwok), and
//     5,000 probe-only sites (recycle.mode notify, one shared Deployment);
//   - each with one replica, then two;
//   - every site probed every 10 s (one cron tick, each site at its place in
//     the period) against a local
//     HTTP server, one path per site.
//
// Per size: time to ready (each replica's /readyz from its own start, the
// slowest) and to every site's first verdict, RSS (and per site beyond a
// one-site service), CPU per probe, ticks skipped at rest, state writes and
// API requests a minute at rest (the API server counts the service's
// requests itself: the replicas authenticate as a ServiceAccount matched by
// a FlowSchema of its own), and the time until 10 % of the sites, broken at
// once, are all rolled (their recycle `succeeded`). Beside it, what the same
// probing costs blackbox_exporter (probing only: Prometheus would hold the
// schedule and the results).

import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Agent, request } from 'undici'
import { ensureCluster, readState } from '../test/cluster/lib.ts'
import { countingFlow, flowRequests, kubectl } from '../test/fixtures/kube-cluster.ts'
import { MODULE, blackboxConfig } from './probes/blackbox.ts'
import { memoryCage, podMemoryLimit, type MemoryCage } from './lib/cgroup.ts'
import { busyness, NODE, procCpuMs, procMemMB, ROOT, sleep, which } from './lib/proc.ts'
import { ensureBuild, shippedCommand } from './lib/shipped.ts'
import { markdownTable, num, textTable, type TargetCheck } from './lib/stats.ts'

export interface ScaleOptions {
  quick: boolean
  log: (m: string) => void
  /** Only these sizes (sites with Deployments, ≤ 5,000 probe-only above 2,000), no blackbox_exporter beside them. */
  sites?: number[]
  /** Only these replica counts (default 1 and 2). */
  replicas?: number[]
  /** Run `serve` without a pod's memory limit (as `npm start` on a workstation), to compare. */
  noLimit?: boolean
}

export interface SizeRun {
  sites: number
  kind: 'deployments' | 'probe-only'
  replicas: number
  readyMs: number
  firstVerdictsMs: number
  /** RSS of the leader (and the follower) at the end of the rest window, MB. */
  rssMB: number
  followerRssMB?: number
  /** (leader RSS − one-site service RSS) / (sites − 1), KB. */
  perSiteKB: number
  /** Each replica's memory limit (its own cgroup, as a pod's container), MiB; undefined: none. */
  limitMiB?: number
  /** The most any replica's cgroup held at once over the whole run (start, rest, recycles), MB, and OOM kills. */
  peakMB?: number
  oomKills?: number
  cpuMsPerProbe: number
  probesPerMin: number
  /** The leader's cron ticks skipped at rest (a site's last tick still ran: kube_recycler_probe_ticks_skipped_total). */
  ticksSkipped?: number
  /** State writes (all replicas) during the rest window, and its length. */
  writes: number
  restMs: number
  writesPerMin: number
  writesPerSitePerMin: number
  apiRequestsPerMin: number
  /** Each replica's own count (kube_recycler_kube_requests_total) at rest, a minute, leader first: the busiest verb and resource of each. */
  apiByReplica?: Array<{ role: 'leader' | 'follower'; perMin: number; top: string }>
  /** 10 % of the sites broken at once: until every one's recycle succeeded. */
  brokenSites?: number
  rolledMs?: number
  rolled?: number
}

export interface BlackboxRun {
  sites: number
  rssMB: number
  cpuMsPerProbe: number
  probesPerMin: number
  failed: number
}

export interface ScaleResult {
  baseRssMB: number
  /** Why the replicas ran without a memory limit, when they did. */
  noLimit?: string
  runs: SizeRun[]
  blackbox: BlackboxRun[]
  restMs: number
  targets: TargetCheck[]
  durationMs: number
}

const PROBE_EVERY_S = 10
const SA = 'kube-recycler-bench'
const MiB = 1024 * 1024

/** The sites' pages: 200 with a small page, or 500 while the bench has broken the site. */
async function startTargets(): Promise<{ port: number; broken: Set<number>; close(): Promise<void> }> {
  const broken = new Set<number>()
  const server = http.createServer((req, res) => {
    const n = Number((req.url ?? '').slice(3))
    if (broken.has(n)) {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end('broken\n')
      return
    }
    const body = `<!doctype html><title>site ${n}</title><h1>Page ${n} is up</h1>\n`
    res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(Buffer.byteLength(body)) })
    res.end(body)
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as net.AddressInfo).port,
    broken,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

/** A ServiceAccount (cluster-admin) with a FlowSchema of its own: the API server counts exactly its requests. */
async function serviceAccount(
  ns: string,
  dir: string,
): Promise<{ kubeconfig: string; flow: string; cleanup(): Promise<void> }> {
  const state = readState()!
  await kubectl(['create', 'serviceaccount', SA, '-n', ns])
  await kubectl(['create', 'clusterrolebinding', ns, '--clusterrole=cluster-admin', `--serviceaccount=${ns}:${SA}`])
  await countingFlow(ns, { name: SA, namespace: ns })
  const token = (await kubectl(['create', 'token', SA, '-n', ns, '--duration=4h'])).trim()
  const kubeconfig = path.join(dir, 'kubeconfig')
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: test, cluster: { server: "${state.apiserver}", certificate-authority: "${state.caFile}" } }]
users: [{ name: ${SA}, user: { token: "${token}" } }]
contexts: [{ name: bench, context: { cluster: test, user: ${SA}, namespace: ${ns} } }]
current-context: bench
`,
    { mode: 0o600 },
  )
  return {
    kubeconfig,
    flow: ns,
    cleanup: async () => {
      await kubectl(['delete', 'clusterrolebinding', ns, '--ignore-not-found']).catch(() => undefined)
      await kubectl(['delete', 'flowschema', ns, '--ignore-not-found']).catch(() => undefined)
    },
  }
}

/** `count` one-pod Deployments web-0.. in `ns` (one apply), and enough extra kwok nodes for their pods. */
async function deployments(ns: string, count: number, log: (m: string) => void): Promise<void> {
  const items = Array.from({ length: count }, (_, i) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `web-${i}`, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: `web-${i}` } },
      template: {
        metadata: { labels: { app: `web-${i}` } },
        spec: { containers: [{ name: 'web', image: 'example.com/site:1' }] },
      },
    },
  }))
  for (let i = 0; i < items.length; i += 250) {
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: items.slice(i, i + 250) }),
      timeoutMs: 300_000,
    })
  }
  const t0 = performance.now()
  for (;;) {
    const out = await kubectl(
      ['get', 'deployments', '-n', ns, '-o', 'jsonpath={range .items[*]}{.status.availableReplicas}{"\\n"}{end}'],
      { timeoutMs: 120_000 },
    )
    const ready = out.split('\n').filter((l) => l === '1').length
    if (ready >= count) break
    if (performance.now() - t0 > 600_000)
      throw new Error(`only ${ready} of ${count} Deployments available after 10 min`)
    log(`scale: ${ready}/${count} Deployments available`)
    await sleep(5000)
  }
}

/** Extra kwok nodes (250 pods each) so 1,000 one-pod Deployments fit beside the test cluster's 3. */
async function extraNodes(count: number): Promise<() => Promise<void>> {
  const names = Array.from({ length: count }, (_, i) => `kwok-scale-${i}`)
  for (const [i, name] of names.entries()) {
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', type: 'kwok' },
        },
        spec: {},
        status: {
          allocatable: { cpu: '32', memory: '256Gi', pods: '250' },
          capacity: { cpu: '32', memory: '256Gi', pods: '250' },
          addresses: [{ type: 'InternalIP', address: `10.240.1.${10 + i}` }],
        },
      }),
    })
  }
  return async () => {
    await kubectl(['delete', 'node', ...names, '--ignore-not-found']).catch(() => undefined)
  }
}

function siteConfig(i: number, kind: SizeRun['kind'], deployNs: string, port: number): string {
  const target = kind === 'deployments' ? `web-${i}` : 'web-shared'
  return `  - name: s${i}
    target: { kind: Deployment, namespace: ${deployNs}, name: ${target} }
    checks: [{ name: home, url: "http://127.0.0.1:${port}/s/${i}", timeout: 5s, bodyContains: "is up" }]
    recycle: { mode: ${kind === 'deployments' ? 'auto' : 'notify'}, cooldown: 0s, timeout: 3m, verify: { delay: 2s, attempts: 3, interval: 5s } }
`
}

interface Svc {
  child: ChildProcess
  pid: number
  url: string
  /** Its warnings and errors by message, counted (what went wrong at scale is in them). */
  warnings: Map<string, number>
  stop(): Promise<void>
}

/** `serve` as shipped, in `cage` when given; its log is read for the listen line and dropped (at info it logs every probe). */
async function startServe(env: Record<string, string>, cage?: MemoryCage): Promise<Svc> {
  const { flags, entry } = shippedCommand()
  const argv = [...flags, entry, 'serve']
  const { command, args } = cage ? cage.wrap(NODE, argv) : { command: NODE, args: argv }
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let tail = ''
  const warnings = new Map<string, number>()
  let partial = ''
  const keepWarnings = (d: Buffer): void => {
    const lines = (partial + String(d)).split('\n')
    partial = (lines.pop() ?? '').slice(-100_000)
    for (const line of lines) {
      // The service logs levels by name (src/logger.ts).
      const m = /^\{"level":"(warn|error|fatal)",.*"msg":"([^"]*)"/.exec(line)
      if (!m) continue
      // One key per kind of message: numbers (site names, object names) as N, so 5,000 sites' timed-out
      // writes are one line and leave room for the rest. Bounded: a new key is kept only while fewer than 100 are.
      const key = m[2]!.replace(/\d+/g, 'N')
      if (warnings.has(key) || warnings.size < 100) warnings.set(key, (warnings.get(key) ?? 0) + 1)
    }
  }
  child.stdout!.on('data', keepWarnings)
  child.stderr!.on('data', keepWarnings)
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const url = await new Promise<string>((resolve, reject) => {
    // A replica that does not start in time is killed, never left behind.
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`serve did not listen within 180 s:\n${tail}`))
    }, 180_000)
    const look = (d: Buffer) => {
      if (!tail.includes('kube-recycler listening')) tail = (tail + String(d)).slice(-20_000)
      const m = /"url":"(http:\/\/[^"]+)","msg":"kube-recycler listening"/.exec(tail)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', look)
    child.stderr!.on('data', look)
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`serve exited:\n${tail}`))
    })
  })
  return {
    child,
    pid: child.pid!,
    url,
    warnings,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(t)
    },
  }
}

const agent = new Agent({ connections: 4 })
async function getText(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url, { dispatcher: agent, headersTimeout: 60_000, bodyTimeout: 60_000 })
  return { status: res.statusCode, text: await res.body.text() }
}
async function getJson(url: string): Promise<any> {
  return JSON.parse((await getText(url)).text)
}

/** kube_recycler_kube_requests_total by `VERB resource code`. */
function kubeRequests(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^kube_recycler_kube_requests_total\{(.*)\} (\S+)$/.exec(line)
    if (!m) continue
    const label = (n: string) => new RegExp(`${n}="([^"]*)"`).exec(m[1]!)?.[1] ?? ''
    const key = `${label('verb')} ${label('resource')} ${label('code')}`
    out.set(key, (out.get(key) ?? 0) + Number(m[2]))
  }
  return out
}

function metricSum(text: string, name: string, filter = ''): number {
  let n = 0
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(filter)) n += Number(line.slice(line.lastIndexOf(' ') + 1))
  return n
}

async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const until = performance.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined) return v
    if (performance.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(everyMs)
  }
}

interface Env {
  /** Each replica in a memory cgroup of its own, limited as the chart tells an operator to for its sites. */
  limits: boolean
  deployNs: string
  kubeconfig: string
  flow: string
  port: number
  broken: Set<number>
  dir: string
  log: (m: string) => void
  restMs: number
}

/** One size with `replicas` serve processes: start, rest, break 10 %, stop. */
async function runSize(
  e: Env,
  sites: number,
  kind: SizeRun['kind'],
  replicas: number,
  baseRssMB: number,
  measureRest = true,
): Promise<SizeRun> {
  const ns = `kr-scale-${sites}-${replicas}-${randomBytes(2).toString('hex')}`
  await kubectl(['create', 'namespace', ns])
  const config = path.join(e.dir, `${ns}.yaml`)
  writeFileSync(
    config,
    `service:\n  namespace: ${ns}\n  probeConcurrency: 64\nsites:\n${Array.from({ length: sites }, (_, i) => siteConfig(i, kind, e.deployNs, e.port)).join('')}`.replace(
      /^sites:\n/m,
      `defaults:\n  schedule: "*/${PROBE_EVERY_S} * * * * *"\n  failureThreshold: 2\nsites:\n`,
    ),
  )
  const svcs: Svc[] = []
  const cages: MemoryCage[] = []
  let measured: SizeRun | undefined
  const limit = podMemoryLimit(sites)
  try {
    const t0 = performance.now()
    // Each replica's own time from its start to its /readyz, the slowest of
    // them: a pod's. They start one after the other, each once the last is
    // ready, as a Deployment's rolling start does.
    let readyMs = 0
    for (let r = 0; r < replicas; r++) {
      const started = performance.now()
      const cage = e.limits ? memoryCage(limit) : undefined
      if (cage && 'unavailable' in cage) throw new Error(`a memory cgroup for the replica: ${cage.unavailable}`)
      if (cage) cages.push(cage)
      svcs.push(
        await startServe(
          {
            KUBECONFIG: e.kubeconfig,
            POD_NAMESPACE: ns,
            KUBE_RECYCLER_CONFIG: config,
            HOSTNAME: `scale-${r}`,
            KUBE_RECYCLER_WEBHOOK_TOKEN: 'bench-webhook-token-5c1e',
            KUBE_RECYCLER_RECYCLE_TOKEN: 'bench-operator-token-9a2f',
          },
          cages.at(-1),
        ),
      )
      const url = svcs.at(-1)!.url
      await waitUntil(
        'ready',
        async () => ((await getText(`${url}/readyz`)).status === 200 ? true : undefined),
        300_000,
        50,
      )
      readyMs = Math.max(readyMs, performance.now() - started)
    }
    const leader = await waitUntil(
      'a leader',
      async () => {
        for (const s of svcs) if ((await getJson(`${s.url}/status`)).service.leader === true) return s
        return undefined
      },
      60_000,
      500,
    )
    await waitUntil(
      "every site's first verdict",
      async () => ((await getJson(`${leader.url}/status`)).sites.every((x: any) => x.lastVerdict) ? true : undefined),
      300_000,
      500,
    )
    const firstVerdictsMs = performance.now() - t0
    e.log(
      `scale: ${sites} ${kind}, ${replicas} replica(s): ready in ${num(readyMs)} ms, every site probed in ${num(firstVerdictsMs)} ms`,
    )
    const out: SizeRun = {
      sites,
      kind,
      replicas,
      readyMs,
      firstVerdictsMs,
      rssMB: NaN,
      perSiteKB: NaN,
      ...(e.limits ? { limitMiB: limit / MiB } : {}),
      cpuMsPerProbe: NaN,
      probesPerMin: NaN,
      writes: NaN,
      restMs: NaN,
      writesPerMin: NaN,
      writesPerSitePerMin: NaN,
      apiRequestsPerMin: NaN,
    }
    // The cgroups' peaks are read once the replicas stopped (finally, below): the whole run's.
    measured = out
    if (!measureRest) {
      // The process' own is read at the age the sizes' RSS is read (the end of their rest window): a
      // younger process has not grown its heap and compiled code to their steady state yet.
      await sleep(Math.max(0, 65_000 + e.restMs - (performance.now() - t0)))
      out.rssMB = procMemMB(leader.pid).rss
      return out
    }
    // The first minute writes each site's first verdict and `since`: past it, the service is at rest.
    await sleep(Math.max(0, 65_000 - (performance.now() - t0)))
    const snap = async () => {
      const texts = await Promise.all(svcs.map(async (s) => (await getText(`${s.url}/metrics`)).text))
      return {
        sent: texts.map((t) => kubeRequests(t)),
        writes: texts.reduce((n, t) => n + metricSum(t, 'kube_recycler_state_writes_total', 'result="ok"'), 0),
        probes: metricSum(texts[svcs.indexOf(leader)]!, 'kube_recycler_probes_total'),
        skipped: metricSum(texts[svcs.indexOf(leader)]!, 'kube_recycler_probe_ticks_skipped_total'),
        cpu: procCpuMs(leader.pid),
        api: await flowRequests(e.flow),
        at: performance.now(),
      }
    }
    const a = await snap()
    await sleep(e.restMs)
    const b = await snap()
    const minutes = (b.at - a.at) / 60_000
    out.rssMB = procMemMB(leader.pid).rss
    const follower = svcs.find((s) => s !== leader)
    if (follower) out.followerRssMB = procMemMB(follower.pid).rss
    out.perSiteKB = ((out.rssMB - baseRssMB) * 1024) / Math.max(1, sites - 1)
    out.probesPerMin = (b.probes - a.probes) / minutes
    out.ticksSkipped = b.skipped - a.skipped
    out.cpuMsPerProbe = (b.cpu - a.cpu) / Math.max(1, b.probes - a.probes)
    out.writes = b.writes - a.writes
    out.restMs = b.at - a.at
    out.writesPerMin = (b.writes - a.writes) / minutes
    out.writesPerSitePerMin = out.writesPerMin / sites
    out.apiRequestsPerMin = (b.api - a.api) / minutes
    out.apiByReplica = svcs
      .map((s, i) => {
        const delta = new Map<string, number>()
        for (const [k, v] of b.sent[i]!) delta.set(k, v - (a.sent[i]!.get(k) ?? 0))
        const sorted = [...delta].filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1])
        const total = sorted.reduce((n, [, v]) => n + v, 0)
        return {
          role: s === leader ? ('leader' as const) : ('follower' as const),
          perMin: total / minutes,
          top: sorted
            .slice(0, 3)
            .map(([k, v]) => `${k} ${num(v / minutes)}`)
            .join(', '),
        }
      })
      .sort((x, y) => (x.role === 'leader' ? -1 : y.role === 'leader' ? 1 : 0))
    e.log(
      `scale:   at rest: ${num(out.writesPerMin)} writes/min, ${num(out.apiRequestsPerMin)} API requests/min, ${num(out.probesPerMin)} probes/min at ${num(out.cpuMsPerProbe)} ms CPU each, RSS ${num(out.rssMB)} MB (${num(out.perSiteKB)} KB/site) (${busyness()})`,
    )
    for (const r of out.apiByReplica)
      e.log(`scale:   ${r.role} sent ${num(r.perMin)} API requests/min at rest; most: ${r.top || 'none'}`)
    for (const s of svcs)
      for (const [msg, n] of [...s.warnings].sort((x, y) => y[1] - x[1]).slice(0, 5))
        e.log(`scale:   ${s === leader ? 'leader' : 'follower'} warned ${n}x: ${msg.slice(0, 200)}`)

    if (kind === 'deployments') {
      const broken = Array.from({ length: Math.ceil(sites / 10) }, (_, i) => i * 10)
      const tb = performance.now()
      const since = new Date(Date.now() - 1000).toISOString()
      for (const i of broken) e.broken.add(i)
      const done = new Map<number, number>()
      out.brokenSites = broken.length
      try {
        await waitUntil(
          'every broken site rolled',
          async () => {
            const st = await getJson(`${leader.url}/status`)
            for (const i of broken) {
              const r = st.sites[i].lastRecycle
              if (!r || r.createdAt < since) continue
              // Once its rollout is under way the site is mended, so the verification after it passes.
              e.broken.delete(i)
              if (r.state === 'succeeded' && !done.has(i)) done.set(i, performance.now() - tb)
            }
            return done.size === broken.length ? true : undefined
          },
          300_000,
          1000,
        )
      } catch (err) {
        e.log(`scale:   ${(err as Error).message}: ${done.size}/${broken.length} rolled`)
      }
      for (const i of broken) e.broken.delete(i)
      out.rolled = done.size
      out.rolledMs = done.size === broken.length ? Math.max(...done.values()) : NaN
      e.log(
        `scale:   ${broken.length} sites broken at once: ${done.size} rolled, the last after ${num(out.rolledMs / 1000)} s`,
      )
    }
    return out
  } finally {
    await Promise.all(svcs.map((s) => s.stop()))
    if (measured && cages.length) {
      const peaks = cages.map((c) => c.peak()).filter((p): p is number => p !== undefined)
      if (peaks.length) measured.peakMB = Math.max(...peaks) / MiB
      measured.oomKills = cages.reduce((n, c) => n + c.oomKills(), 0)
    }
    for (const c of cages) c.close()
    await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined)
  }
}

/** blackbox_exporter probing the same pages on the same schedule, driven as Prometheus would (one /probe per site every 10 s). */
async function blackboxRun(sites: number, port: number, restMs: number): Promise<BlackboxRun> {
  const bin = which('prometheus-blackbox-exporter')
  if (!bin)
    throw new Error('prometheus-blackbox-exporter is not installed (apt-get install prometheus-blackbox-exporter)')
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kr-bench-bb-'))
  const cfg = path.join(dir, 'blackbox.yml')
  writeFileSync(
    cfg,
    blackboxConfig().replace(/fail_if_body_not_matches_regexp: \[.*\]/, "fail_if_body_not_matches_regexp: ['is up']"),
  )
  const srv = net.createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  const bbPort = (srv.address() as net.AddressInfo).port
  await new Promise<void>((r) => srv.close(() => r()))
  const child = spawn(bin, [`--config.file=${cfg}`, `--web.listen-address=127.0.0.1:${bbPort}`, '--log.level=warn'], {
    stdio: 'ignore',
  })
  const driver = new Agent({ connections: 64 })
  let stop = false
  let probes = 0
  let failed = 0
  try {
    await waitUntil(
      'blackbox_exporter',
      async () => ((await getText(`http://127.0.0.1:${bbPort}/-/healthy`)).status === 200 ? true : undefined),
      10_000,
      100,
    )
    const one = async (i: number) => {
      try {
        const res = await request(
          `http://127.0.0.1:${bbPort}/probe?module=${MODULE}&target=${encodeURIComponent(`http://127.0.0.1:${port}/s/${i}`)}`,
          { dispatcher: driver },
        )
        const text = await res.body.text()
        probes++
        if (!text.includes('\nprobe_success 1\n')) failed++
      } catch {
        failed++
      }
    }
    // Each site once per period, spread over it, as Prometheus spreads its scrapes.
    const loop = (async () => {
      while (!stop) {
        const t0 = performance.now()
        for (let i = 0; i < sites && !stop; i++) {
          void one(i)
          const due = t0 + ((i + 1) * PROBE_EVERY_S * 1000) / sites
          const wait = due - performance.now()
          if (wait > 1) await sleep(wait)
        }
      }
    })()
    await sleep(Math.min(20_000, restMs / 3))
    const c0 = procCpuMs(child.pid!)
    const p0 = probes
    const t0 = performance.now()
    await sleep(restMs)
    const cpu = procCpuMs(child.pid!) - c0
    const n = probes - p0
    const out = {
      sites,
      rssMB: procMemMB(child.pid!).rss,
      cpuMsPerProbe: cpu / Math.max(1, n),
      probesPerMin: n / ((performance.now() - t0) / 60_000),
      failed,
    }
    stop = true
    await loop
    return out
  } finally {
    stop = true
    child.kill('SIGTERM')
    await driver.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function benchScale(o: ScaleOptions): Promise<ScaleResult> {
  const started = performance.now()
  const log = o.log
  await ensureBuild(log)
  await ensureCluster({ log: (m) => log(`cluster: ${m}`) })
  const restMs = o.quick ? 30_000 : 60_000
  const sizes: Array<{ sites: number; kind: SizeRun['kind'] }> = o.sites
    ? o.sites.map((n) => ({ sites: n, kind: n > 2000 ? 'probe-only' : 'deployments' }))
    : o.quick
      ? [
          { sites: 20, kind: 'deployments' },
          { sites: 50, kind: 'probe-only' },
        ]
      : [
          { sites: 100, kind: 'deployments' },
          { sites: 1000, kind: 'deployments' },
          { sites: 5000, kind: 'probe-only' },
        ]
  const deployNs = `kr-scale-sites-${randomBytes(2).toString('hex')}`
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kr-bench-scale-'))
  const targets = await startTargets()
  await kubectl(['create', 'namespace', deployNs])
  const sa = await serviceAccount(deployNs, dir)
  const maxDeploy = Math.max(1, ...sizes.filter((s) => s.kind === 'deployments').map((s) => s.sites))
  const dropNodes = await extraNodes(Math.max(0, Math.ceil((maxDeploy + 50) / 250) - 2))
  const runs: SizeRun[] = []
  const blackbox: BlackboxRun[] = []
  try {
    await deployments(deployNs, maxDeploy, log)
    await kubectl(['apply', '-n', deployNs, '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web-shared' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'web-shared' } },
          template: {
            metadata: { labels: { app: 'web-shared' } },
            spec: { containers: [{ name: 'web', image: 'example.com/site:1' }] },
          },
        },
      }),
    })
    // Each replica gets a pod's memory limit (a cgroup of its own), unless asked not to or there is no cgroup to make.
    let noLimit = o.noLimit ? 'asked for (--scale-no-limit)' : undefined
    if (!noLimit) {
      const probe = memoryCage(podMemoryLimit(1))
      if ('unavailable' in probe) noLimit = `no memory cgroup could be made (${probe.unavailable})`
      else probe.close()
    }
    log(
      noLimit
        ? `scale: replicas run without a memory limit: ${noLimit}; V8 sizes its heap from this machine's memory, not a pod's`
        : `scale: each replica runs in a memory cgroup limited as the chart says for its sites (${num(podMemoryLimit(1) / MiB)} MiB and up)`,
    )
    const env: Env = {
      limits: !noLimit,
      deployNs,
      kubeconfig: sa.kubeconfig,
      flow: sa.flow,
      port: targets.port,
      broken: targets.broken,
      dir,
      log,
      restMs,
    }
    // The process' own: a one-site service, connected, as old as the sizes are when their RSS is read.
    const base = await runSize(env, 1, 'deployments', 1, 0, false)
    log(`scale: one-site service: RSS ${num(base.rssMB)} MB`)
    for (const s of sizes) {
      for (const replicas of o.replicas ?? [1, 2]) runs.push(await runSize(env, s.sites, s.kind, replicas, base.rssMB))
      if (o.sites) continue
      blackbox.push(await blackboxRun(s.sites, targets.port, Math.min(restMs, 60_000)))
      const bb = blackbox.at(-1)!
      log(
        `scale: blackbox_exporter, ${s.sites} sites: RSS ${num(bb.rssMB)} MB, ${num(bb.cpuMsPerProbe)} ms CPU per probe, ${num(bb.probesPerMin)} probes/min${bb.failed ? `, ${bb.failed} failed` : ''}`,
      )
    }
    return {
      baseRssMB: base.rssMB,
      ...(noLimit ? { noLimit } : {}),
      runs,
      blackbox,
      restMs,
      targets: judge(runs, blackbox),
      durationMs: performance.now() - started,
    }
  } finally {
    await targets.close()
    await sa.cleanup()
    await kubectl(['delete', 'namespace', deployNs, '--wait=false', '--ignore-not-found']).catch(() => undefined)
    await dropNodes()
    await agent.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const label = (r: SizeRun) =>
  `${num(r.sites)} ${r.kind === 'deployments' ? 'sites with Deployments' : 'probe-only sites'}, ${r.replicas} replica${r.replicas > 1 ? 's' : ''}`

export function judge(runs: SizeRun[], bb: BlackboxRun[]): TargetCheck[] {
  const out: TargetCheck[] = []
  for (const r of runs) {
    const l = label(r)
    out.push({ name: `ready ≤ 10 s (${l})`, met: r.readyMs <= 10_000, detail: `${num(r.readyMs / 1000)} s` })
    // One heartbeat a minute: a window of m minutes holds at most floor(m) + 1 of them.
    const beats = Math.floor(r.restMs / 60_000) + 1
    out.push({
      name: `state writes at rest < 0.05 per site per minute, or ≤ one heartbeat a minute for the service (${l})`,
      met: r.writesPerSitePerMin < 0.05 || r.writes <= beats,
      detail: `${r.writes} in ${num(r.restMs / 1000)} s: ${num(r.writesPerMin)}/min (${num(r.writesPerSitePerMin)} per site)`,
    })
    out.push({
      name: `RSS ≤ 100 KB per healthy site beyond the process' own (${l})`,
      met: r.perSiteKB <= 100,
      detail: `${num(r.perSiteKB)} KB (${num(r.rssMB)} MB)`,
    })
    if (r.limitMiB !== undefined)
      out.push({
        name: `within the memory limit the chart gives its sites, never OOM-killed (${l})`,
        met: r.oomKills === 0 && (r.peakMB === undefined || r.peakMB <= r.limitMiB),
        detail: `peak ${r.peakMB === undefined ? 'n/a' : num(r.peakMB)} MB of ${num(r.limitMiB)} MiB, ${r.oomKills ?? 0} OOM kills`,
      })
    out.push({
      name: `API requests at rest ≤ 1 per site per minute (${l})`,
      met: r.apiRequestsPerMin <= r.sites,
      detail: `${num(r.apiRequestsPerMin)}/min (${num(r.apiRequestsPerMin / r.sites)} per site)`,
    })
    if (r.ticksSkipped !== undefined) {
      // The ticks wholly inside the window: a window of 61 s holds 6 of them, and 6 × sites
      // probes over 61 s is 98 % of `sites × 6` a minute, every tick on time.
      const due = r.sites * Math.floor(r.restMs / 1000 / PROBE_EVERY_S)
      const probes = Math.round((r.probesPerMin * r.restMs) / 60_000)
      out.push({
        name: `at rest every site probed at every tick: none skipped, ≥ 99 % of the probes due (${l})`,
        met: r.ticksSkipped === 0 && probes >= 0.99 * due,
        detail: `${r.ticksSkipped} skipped; ${num(probes)} probes in ${num(r.restMs / 1000)} s, ${num(due)} due`,
      })
    }
    const b = bb.find((x) => x.sites === r.sites)
    if (b)
      out.push({
        name: `CPU per probe ≤ 2 × blackbox_exporter's (${l})`,
        met: r.cpuMsPerProbe <= 2 * b.cpuMsPerProbe,
        detail: `${num(r.cpuMsPerProbe)} vs ${num(b.cpuMsPerProbe)} ms`,
      })
    if (r.brokenSites !== undefined)
      out.push({
        name: `10 % broken at once all rolled ≤ 60 s (${l})`,
        met: r.rolledMs !== undefined && r.rolledMs <= 60_000,
        detail: `${r.rolled}/${r.brokenSites} rolled${Number.isFinite(r.rolledMs) ? `, the last after ${num(r.rolledMs! / 1000)} s` : ''}`,
      })
  }
  return out
}

export function formatScale(r: ScaleResult, markdown: boolean): string {
  const table = markdown ? markdownTable : textTable
  const head = [
    'size',
    'ready s',
    'all probed s',
    'RSS MB (follower)',
    'KB/site',
    'limit MiB (peak MB)',
    'CPU ms/probe',
    'probes/min',
    'writes/min at rest',
    'API req/min at rest',
    '10 % broken: all rolled s',
  ]
  const rows = r.runs.map((x) => [
    label(x),
    num(x.readyMs / 1000),
    num(x.firstVerdictsMs / 1000),
    `${num(x.rssMB)}${x.followerRssMB !== undefined ? ` (${num(x.followerRssMB)})` : ''}`,
    num(x.perSiteKB),
    x.limitMiB === undefined ? 'none' : `${num(x.limitMiB)} (${x.peakMB === undefined ? 'n/a' : num(x.peakMB)})`,
    num(x.cpuMsPerProbe),
    num(x.probesPerMin),
    num(x.writesPerMin),
    num(x.apiRequestsPerMin),
    x.brokenSites === undefined
      ? '—'
      : `${Number.isFinite(x.rolledMs) ? num(x.rolledMs! / 1000) : 'n/a'} (${x.rolled}/${x.brokenSites})`,
  ])
  const bbHead = ['blackbox_exporter, probing only', 'RSS MB', 'CPU ms/probe', 'probes/min', 'failed']
  const bbRows = r.blackbox.map((b) => [
    `${num(b.sites)} sites`,
    num(b.rssMB),
    num(b.cpuMsPerProbe),
    num(b.probesPerMin),
    String(b.failed),
  ])
  return [
    `Every site probed every ${PROBE_EVERY_S} s; at rest measured over ${r.restMs / 1000} s after the first minute; a one-site service (the process' own), read at the same age, has RSS ${num(r.baseRssMB)} MB.`,
    r.noLimit
      ? `The replicas ran without a memory limit: ${r.noLimit}. V8 then sizes its heap from the machine's memory, and RSS reads higher than in a pod.`
      : `Each replica ran in a memory cgroup of its own, limited as the chart says for its sites (the chart's default, or what the start-up check asks for); Node sizes its heap from that limit, as in a pod. Peak: the most the cgroup held over the whole run.`,
    '',
    table(head, rows),
    '',
    table(bbHead, bbRows),
    '',
    `(${(r.durationMs / 60_000).toFixed(1)} min; MiB = ${MiB} bytes)`,
  ].join('\n')
}
