// bench/recycle: restarting a 10-replica Deployment on the test control plane
// (test/cluster: kube-apiserver v1.34.4, controller-manager, scheduler, kwok
// nodes), kube-recycler's rollout (src/recycle/engine.ts, from the verdict to
// all pods Ready on the new template) against `kubectl rollout restart` then
// `kubectl rollout status`, alternating.
//
// Requests are counted by the API server itself: both clients authenticate
// as one ServiceAccount that a FlowSchema of its own matches, so
// `apiserver_flowcontrol_dispatched_requests_total{flow_schema=<ours>}` before
// and after a run is exactly that run's requests (watches included), and
// nothing of the controllers' or kwok's.
//
// The control plane is the bench's own (same binaries, its own run dir under
// <cache>/bench, own ports), started here and stopped after: the shared one
// test runs use may have its nodes made NotReady by a test at any moment.
// `--shared-cluster` uses the shared one instead. On its own control plane the
// bench renews the kwok nodes' Leases (lib/node-leases.ts says why).
//
// Caveat: kwok plays the kubelet, so a new pod is Running and Ready within
// about a second and a deleted pod is gone at once; a real cluster's
// rollout takes as long as its pods take to start and pass readiness.

import { randomBytes } from 'node:crypto'
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { systemClock } from '../src/clock.ts'
import { createKube } from '../src/kube/client.ts'
import type { Kube } from '../src/kube/types.ts'
import { createEngine } from '../src/recycle/engine.ts'
import {
  binDir,
  cacheRoot,
  ensureBinaries,
  ensureCluster,
  K8S_VERSION,
  kubectlPath,
  NODE_COUNT,
  readState,
  stopCluster,
} from '../test/cluster/lib.ts'
import { deployment, quietLogger, runOnce, siteFor } from '../test/fixtures/engine.ts'
import { countingFlow, flowRequests, kubectl, kubectlJson } from '../test/fixtures/kube-cluster.ts'
import { keepNodesAlive, leaseSockets } from './lib/node-leases.ts'
import { busyness, load1, run, sleep } from './lib/proc.ts'
import { idleRss } from './webhook/index.ts'
import { ensureBuild } from './lib/shipped.ts'
import {
  fmtRatio,
  fmtSpread,
  markdownTable,
  num,
  ratio,
  spread,
  textTable,
  type Spread,
  type TargetCheck,
} from './lib/stats.ts'

export interface RecycleRun {
  who: 'ours' | 'kubectl'
  wallMs: number
  requests: number
  /** ours: from the verdict (engine.run called) to restartWorkload being called. */
  toPatchCallMs?: number
  /** ours: … to the patch's answer (the pod template is changed). */
  toPatchDoneMs?: number
  /** ours: … to the watch seeing the rollout complete (before the outcome and Event are written). */
  toDoneSeenMs?: number
  /** ours: the first getWorkload (the lock check); kubectl: its GET before the PATCH (its -v=6 log). */
  firstGetMs?: number
  /** ours: restartWorkload (the PATCH; the container names come with the first read); kubectl: its PATCH. */
  patchMs?: number
  /** kubectl: `rollout restart` alone (process start to exit). */
  restartMs?: number
  calls?: Record<string, number>
  /** ours: the most TCP connections this process held to the API server during the run (sampled at every step). */
  connections?: number
  outcome: string
}

export interface RecycleResult {
  replicas: number
  runs: RecycleRun[]
  ours: {
    wall: Spread
    requests: Spread
    toPatchCall: Spread
    toPatchDone: Spread
    toDoneSeen: Spread
    firstGet: Spread
    patch: Spread
    connections: Spread
  }
  kubectl: { wall: Spread; requests: Spread; restart: Spread; firstGet: Spread; patch: Spread }
  oursCalls: Record<string, number>
  kubectlRequests: string[]
  /** Idle RSS of the service as shipped (npm start) connected to this control plane (MB). */
  idleRssConnectedMB: Spread
  targets: TargetCheck[]
  durationMs: number
  clusterStartedNow: boolean
  privateCluster: boolean
  loadavg: number[]
}

export interface RecycleOptions {
  quick: boolean
  runs: number
  log: (m: string) => void
  /** Leave a cluster this bench started running. */
  keepCluster?: boolean
  /** Use the shared test control plane (started if none runs) instead of a private one. */
  sharedCluster?: boolean
}

const REPLICAS = 10
const SA = 'bench-client'

/** Counts calls, times the first read and the first restart patch. */
function instrument(kube: Kube) {
  const t = { calls: {} as Record<string, number>, patchCall: NaN, patchDone: NaN, firstGetMs: NaN }
  const wrapped = new Proxy(kube, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (typeof v !== 'function') return v
      const name = String(prop)
      return (...args: unknown[]) => {
        t.calls[name] = (t.calls[name] ?? 0) + 1
        if (name === 'getWorkload' && t.calls[name] === 1) {
          const t0 = performance.now()
          const p = (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)
          void p.then(
            () => {
              t.firstGetMs = performance.now() - t0
            },
            () => undefined,
          )
          return p
        }
        if (name === 'restartWorkload' && Number.isNaN(t.patchCall)) {
          t.patchCall = performance.now()
          const p = (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)
          void p.then(
            () => {
              t.patchDone = performance.now()
            },
            () => undefined,
          )
          return p
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return {
    kube: wrapped,
    reset() {
      t.calls = {}
      t.patchCall = NaN
      t.patchDone = NaN
      t.firstGetMs = NaN
    },
    t,
  }
}

/**
 * Established TCP connections of this process to `port` (/proc/net/tcp{,6}
 * matched to our socket fds), less the node-lease keeper's own: what the
 * engine's Kubernetes client holds.
 */
function connectionsTo(port: number): number {
  return Math.max(0, socketsTo(port) - leaseSockets())
}

function socketsTo(port: number): number {
  const inodes = new Set<string>()
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(f, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/)
      if (c.length < 10 || c[3] !== '01') continue
      if (parseInt(c[2]!.split(':')[1]!, 16) === port) inodes.add(c[9]!)
    }
  }
  let n = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))
      if (m && inodes.has(m[1]!)) n++
    } catch {
      /* closed meanwhile */
    }
  }
  return n
}

/** Waits until the Deployment is fully rolled out and no old pod is left. */
async function settled(ns: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const d = await kubectlJson<any>(['get', 'deployment', 'web', '-n', ns])
    const s = d.status ?? {}
    const pods = await kubectlJson<any>(['get', 'pods', '-n', ns, '-l', 'app=web'])
    const live = (pods.items as any[]).filter((p) => !p.metadata.deletionTimestamp)
    if (
      s.observedGeneration === d.metadata.generation &&
      s.replicas === REPLICAS &&
      s.updatedReplicas === REPLICAS &&
      s.availableReplicas === REPLICAS &&
      s.readyReplicas === REPLICAS &&
      live.length === REPLICAS
    )
      return
    if (Date.now() > until) throw new Error(`deployment ${ns}/web did not settle: ${JSON.stringify(s)}`)
    await sleep(250)
  }
}

interface Setup {
  ns: string
  kubeconfig: string
  dir: string
  cleanup(): Promise<void>
}

/** A namespace, a ServiceAccount (cluster-admin) with a FlowSchema of its own, a token kubeconfig, the Deployment. */
async function setUp(log: (m: string) => void): Promise<Setup> {
  const state = readState()!
  const ns = `bench-recycle-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kr-bench-recycle-'))
  const cleanup = async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined)
    await kubectl(['delete', 'clusterrolebinding', ns, '--ignore-not-found']).catch(() => undefined)
    await kubectl(['delete', 'flowschema', ns, '--ignore-not-found']).catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await kubectl(['create', 'namespace', ns])
    await kubectl(['create', 'serviceaccount', SA, '-n', ns])
    await kubectl(['create', 'clusterrolebinding', ns, '--clusterrole=cluster-admin', `--serviceaccount=${ns}:${SA}`])
    await countingFlow(ns, { name: SA, namespace: ns })
    const token = (await kubectl(['create', 'token', SA, '-n', ns, '--duration=2h'])).trim()
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
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: deployment('web', REPLICAS) })
    await settled(ns)
    log(`recycle: namespace ${ns}, Deployment web with ${REPLICAS} replicas ready`)
    return { ns, kubeconfig, dir, cleanup }
  } catch (e) {
    await cleanup()
    throw e
  }
}

/**
 * Points test/cluster's helpers at <cache>/bench (KUBE_RECYCLER_CACHE), with
 * the cached binaries hard-linked in (test/cluster checks /proc/<pid>/exe
 * against its bin path, so a symlink would not do). Returns the undo.
 */
async function usePrivateCluster(log: (m: string) => void): Promise<() => void> {
  const shared = await ensureBinaries(log)
  const before = process.env.KUBE_RECYCLER_CACHE
  const root = path.join(cacheRoot(), 'bench')
  process.env.KUBE_RECYCLER_CACHE = root
  const bin = binDir()
  mkdirSync(bin, { recursive: true })
  for (const f of readdirSync(shared)) {
    const to = path.join(bin, f)
    if (existsSync(to)) continue
    try {
      linkSync(path.join(shared, f), to)
    } catch {
      copyFileSync(path.join(shared, f), to)
    }
  }
  return () => {
    if (before === undefined) delete process.env.KUBE_RECYCLER_CACHE
    else process.env.KUBE_RECYCLER_CACHE = before
  }
}

export async function benchRecycle(o: RecycleOptions): Promise<RecycleResult> {
  const started = performance.now()
  const log = o.log
  await ensureBuild(log)
  const undo = o.sharedCluster ? () => undefined : await usePrivateCluster((m) => log(`cluster: ${m}`))
  let cluster: Awaited<ReturnType<typeof ensureCluster>>
  let setup: Setup
  let stopLeases = () => undefined as void
  try {
    cluster = await ensureCluster({ log: (m) => log(`cluster: ${m}`) })
    if (!o.sharedCluster)
      stopLeases = keepNodesAlive(
        cluster.kubeconfig,
        Array.from({ length: NODE_COUNT }, (_, i) => `kwok-node-${i}`),
      )
    try {
      setup = await setUp(log)
    } catch (e) {
      stopLeases()
      if (cluster.startedNow && !o.keepCluster) await stopCluster({ log: (m) => log(`cluster: ${m}`) })
      throw e
    }
  } catch (e) {
    undo()
    throw e
  }
  const runs: RecycleRun[] = []
  let kubectlRequests: string[] = []
  const loads: number[] = []
  const idle: number[] = []
  try {
    const { ns, kubeconfig } = setup
    const kcache = path.join(setup.dir, 'kubectl-cache')
    const kctl = (args: string[]) =>
      run(kubectlPath(), [`--kubeconfig=${kubeconfig}`, `--cache-dir=${kcache}`, '-n', ns, ...args], {
        env: { PATH: process.env.PATH ?? '', HOME: setup.dir },
        timeoutMs: 300_000,
      })
    // Like a service that has been up a while: the client exists and has talked to the API once.
    const logger = quietLogger()
    const probe = instrument(createKube({ kubeconfig, logger, env: {} }))
    const engine = createEngine({ kube: probe.kube, clock: systemClock, logger, holder: 'bench' })
    await probe.kube.ping()
    // kubectl as an operator has it: the discovery cache filled by an earlier command.
    await kctl(['get', 'deployment', 'web'])
    const site = siteFor(
      `{ kind: Deployment, namespace: ${ns}, name: web }`,
      '{ cooldown: 0s, maxPerWindow: 100, timeout: 3m }',
    )
    const flow = ns
    const apiPort = Number(new URL(readState()!.apiserver).port)

    for (let i = 0; i < o.runs; i++) {
      loads.push(load1())
      log(`recycle: round ${i + 1}/${o.runs} (${busyness()})`)
      for (const who of ['ours', 'kubectl'] as const) {
        await settled(ns)
        await sleep(1000)
        const before = await flowRequests(flow)
        let r: RecycleRun
        if (who === 'ours') {
          probe.reset()
          const commit = randomBytes(20).toString('hex')
          let doneSeen = NaN
          let connections = connectionsTo(apiPort)
          const t0 = performance.now()
          const ran = await runOnce(engine, site, {
            commit,
            onStep: (m) => {
              connections = Math.max(connections, connectionsTo(apiPort))
              if (Number.isNaN(doneSeen) && /successfully rolled out/.test(m)) doneSeen = performance.now()
            },
          })
          connections = Math.max(connections, connectionsTo(apiPort))
          const wallMs = performance.now() - t0
          await sleep(300)
          r = {
            who,
            wallMs,
            requests: (await flowRequests(flow)) - before,
            toPatchCallMs: probe.t.patchCall - t0,
            toPatchDoneMs: probe.t.patchDone - t0,
            toDoneSeenMs: doneSeen - t0,
            firstGetMs: probe.t.firstGetMs,
            patchMs: probe.t.patchDone - probe.t.patchCall,
            calls: { ...probe.t.calls },
            connections,
            outcome: ran.outcome.state === 'succeeded' ? 'succeeded' : `${ran.outcome.state}: ${ran.outcome.reason}`,
          }
        } else {
          const t0 = performance.now()
          const restart = await kctl(['rollout', 'restart', 'deployment/web', '-v=6'])
          const restartMs = performance.now() - t0
          const status = await kctl(['rollout', 'status', 'deployment/web', '--timeout=3m', '-v=6'])
          const wallMs = performance.now() - t0
          await sleep(300)
          kubectlRequests = [
            ...`${restart.stderr}\n${status.stderr}`.matchAll(/"Response" verb="(\w+)" url="([^"]+)" status="(\d+)/g),
          ].map(
            (m) =>
              `${m[1]} ${new URL(m[2]!).pathname}${/watch=true|resourceVersion=\d+&timeoutSeconds/.test(m[2]!) ? ' (watch)' : ''} → ${m[3]}`,
          )
          const ms = (verb: string) =>
            Number(
              new RegExp(`"Response" verb="${verb}" url="[^"]+" status="[^"]+" milliseconds=(\\d+)`).exec(
                restart.stderr,
              )?.[1] ?? NaN,
            )
          r = {
            who,
            wallMs,
            requests: (await flowRequests(flow)) - before,
            restartMs,
            firstGetMs: ms('GET'),
            patchMs: ms('PATCH'),
            outcome:
              restart.code === 0 && status.code === 0
                ? 'succeeded'
                : `failed: ${restart.stderr.slice(-300)} ${status.stderr.slice(-300)}`,
          }
        }
        runs.push(r)
        log(
          `  recycle ${i + 1}/${o.runs} ${who.padEnd(7)} ${num(r.wallMs)} ms, ${r.requests} requests${r.toPatchDoneMs !== undefined ? `, patch after ${num(r.toPatchCallMs!)} ms (answered ${num(r.toPatchDoneMs)} ms)` : ''}${r.outcome === 'succeeded' ? '' : `  ${r.outcome}`}`,
        )
      }
    }
    probe.kube.close()
    // While the control plane is up: the service's idle RSS as in production, with its Kubernetes client.
    for (let i = 0; i < (o.quick ? 1 : 3); i++) {
      idle.push(await idleRss(o.quick ? 1500 : 3000, { kubeconfig, namespace: ns }))
      log(`  idle RSS as shipped, connected to the cluster: ${num(idle[idle.length - 1]!)} MB`)
    }
  } finally {
    stopLeases()
    await setup.cleanup()
    if (cluster.startedNow && !o.keepCluster) await stopCluster({ log: (m) => log(`cluster: ${m}`) })
    undo()
  }
  const ours = runs.filter((r) => r.who === 'ours')
  const kc = runs.filter((r) => r.who === 'kubectl')
  const res: RecycleResult = {
    replicas: REPLICAS,
    runs,
    ours: {
      wall: spread(ours.map((r) => r.wallMs)),
      requests: spread(ours.map((r) => r.requests)),
      toPatchCall: spread(ours.map((r) => r.toPatchCallMs!)),
      toPatchDone: spread(ours.map((r) => r.toPatchDoneMs!)),
      toDoneSeen: spread(ours.map((r) => r.toDoneSeenMs!)),
      firstGet: spread(ours.map((r) => r.firstGetMs!)),
      patch: spread(ours.map((r) => r.patchMs!)),
      connections: spread(ours.map((r) => r.connections!)),
    },
    kubectl: {
      wall: spread(kc.map((r) => r.wallMs)),
      requests: spread(kc.map((r) => r.requests)),
      restart: spread(kc.map((r) => r.restartMs!)),
      firstGet: spread(kc.map((r) => r.firstGetMs!)),
      patch: spread(kc.map((r) => r.patchMs!)),
    },
    oursCalls: ours[ours.length - 1]?.calls ?? {},
    kubectlRequests,
    idleRssConnectedMB: spread(idle),
    targets: [],
    durationMs: performance.now() - started,
    clusterStartedNow: cluster.startedNow,
    privateCluster: !o.sharedCluster,
    loadavg: loads,
  }
  const wr = ratio(res.ours.wall.median, res.kubectl.wall.median)
  const failed = runs.filter((r) => r.outcome !== 'succeeded').length
  res.targets = [
    {
      name: 'recycle wall time ≤ 1.0 × kubectl rollout restart + status',
      met: wr <= 1.0 && failed === 0,
      detail: `${fmtRatio(wr)} (${num(res.ours.wall.median)} vs ${num(res.kubectl.wall.median)} ms)${failed ? `; ${failed} runs failed` : ''}`,
    },
    {
      name: "API requests ≤ kubectl's + 1 (the Event)",
      met: res.ours.requests.median <= res.kubectl.requests.median + 1,
      detail: `${num(res.ours.requests.median)} vs ${num(res.kubectl.requests.median)} (engine.run; the service adds its state writes, docs/benchmarks.md lists them)`,
    },
    {
      name: 'one connection to the API server for every request and watch',
      met: res.ours.connections.max <= 1,
      detail: `at most ${num(res.ours.connections.max)} (median ${num(res.ours.connections.median)})`,
    },
    {
      name: 'verdict → first patch answered ≤ 30 ms',
      met: res.ours.toPatchDone.median <= 30,
      detail: `${fmtSpread(res.ours.toPatchDone)} ms to the patch's answer (${fmtSpread(res.ours.toPatchCall)} ms to sending it)`,
    },
    {
      name: 'idle RSS as shipped ≤ 110 MB, connected to a cluster',
      met: res.idleRssConnectedMB.median <= 110,
      detail: `${fmtSpread(res.idleRssConnectedMB)} MB`,
    },
  ]
  return res
}

export function formatRecycle(r: RecycleResult, markdown: boolean): string {
  const table = markdown ? markdownTable : textTable
  const n = r.runs.filter((x) => x.who === 'ours').length
  const calls = Object.entries(r.oursCalls)
    .map(([k, v]) => `${k}×${v}`)
    .join(', ')
  return [
    `Deployment of ${r.replicas} replicas on the test control plane (Kubernetes ${K8S_VERSION}, kwok nodes); ${n} run${n === 1 ? '' : 's'} each, alternating; medians (min–max):`,
    '',
    table(
      ['', 'kube-recycler (engine.run, rollout)', 'kubectl rollout restart + status', 'ratio'],
      [
        [
          'wall ms, verdict → all pods Ready',
          fmtSpread(r.ours.wall),
          fmtSpread(r.kubectl.wall),
          fmtRatio(ratio(r.ours.wall.median, r.kubectl.wall.median)),
        ],
        [
          'API requests (flow-schema counter)',
          fmtSpread(r.ours.requests),
          fmtSpread(r.kubectl.requests),
          fmtRatio(ratio(r.ours.requests.median, r.kubectl.requests.median)),
        ],
        ['ms to the restart patch sent', fmtSpread(r.ours.toPatchCall), '—', ''],
        [
          'ms to the restart patch answered',
          fmtSpread(r.ours.toPatchDone),
          `${fmtSpread(r.kubectl.restart)} (rollout restart exits)`,
          '',
        ],
        ['ms to rollout seen complete', fmtSpread(r.ours.toDoneSeen), '—', ''],
        [
          'ms in the GET before the patch',
          fmtSpread(r.ours.firstGet),
          `${fmtSpread(r.kubectl.firstGet)} (its -v=6 log)`,
          '',
        ],
        ['ms in the restart PATCH', fmtSpread(r.ours.patch), `${fmtSpread(r.kubectl.patch)} (its -v=6 log)`, ''],
        ['TCP connections to the API server (most at once)', fmtSpread(r.ours.connections), '—', ''],
      ],
    ),
    '',
    `Idle RSS of the service as shipped (npm start) connected to this control plane (no traffic, 3 s after it listens): ${fmtSpread(r.idleRssConnectedMB)} MB`,
    '',
    `kube-recycler's calls on its Kube face in one run: ${calls}`,
    `kubectl's requests in one run: ${r.kubectlRequests.join('; ')}`,
  ].join('\n')
}
