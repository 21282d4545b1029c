// One service, not two: real `serve` processes (two or three) on the test
// control plane, Jenkins results spread over them as a Service spreads
// them, replicas restarted and killed, the kube-apiserver stopped. Each test
// names the point of the contract it proves (README, "State and HA").

import t, { type Test } from 'tap'
import { clusterState, freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployment } from '../fixtures/engine.ts'
import { haConfig, leaderOf, report, startReplica, type Replica } from '../fixtures/replicas.ts'

async function site(t: Test, name: string, opts: { replicas?: number; minReadySeconds?: number } = {}) {
  const ns = await freshNamespace(name)
  t.teardown(ns.cleanup)
  const d = JSON.parse(deployment('web', opts.replicas ?? 2))
  if (opts.minReadySeconds) d.spec.minReadySeconds = opts.minReadySeconds
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: JSON.stringify(d) })
  await waitFor(
    async () =>
      (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).status?.availableReplicas ===
      (opts.replicas ?? 2),
    { timeoutMs: 60_000, description: 'web available' },
  )
  return ns.name
}

/** How many times the Deployment rolled: its revision, less the first. */
async function rollouts(ns: string): Promise<number> {
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })
  return Number(d.metadata.annotations['deployment.kubernetes.io/revision']) - 1
}

/** Waits until the site's last recycle is neither pending nor running, as `r` sees it. */
async function settled(r: Replica): Promise<any> {
  return waitFor(
    async () => {
      const last = (await r.get('/status')).json.sites[0].lastRecycle
      return last && !['pending', 'running'].includes(last.state) && last.verification !== 'pending' ? last : undefined
    },
    { timeoutMs: 60_000, description: 'the recycle settled' },
  )
}

const stateOf = async (r: Replica) => {
  const s = (await r.get('/status')).json
  return {
    health: s.sites[0].health,
    failures: s.sites[0].consecutiveFailures,
    circuitOpen: s.sites[0].circuitOpen,
    recent: s.recent.map((x: any) => `${x.id}:${x.state}`),
  }
}

t.test(
  '1, 2: a failure reported half to each replica is counted by the service, acts once, and every replica tells the same story',
  async (t) => {
    const ns = await site(t, 'ha-count')
    const config = haConfig(ns, '{ cooldown: 0s, timeout: 60s }')
    const a = await startReplica(t, { name: 'replica-a', configPath: config, namespace: ns })
    const b = await startReplica(t, { name: 'replica-b', configPath: config, namespace: ns })
    await leaderOf([a, b])
    await waitFor(async () => (await a.get('/readyz')).status === 200 && (await b.get('/readyz')).status === 200, {
      description: 'both ready',
    })

    const okWrites = async (r: Replica) =>
      Number(/kube_recycler_state_writes_total\{result="ok"\} (\d+)/.exec((await r.get('/metrics')).text)?.[1] ?? 0)
    const writesBefore = (await okWrites(a)) + (await okWrites(b))
    const first = await a.post('/webhooks/jenkins', report('FAILURE', 1))
    t.equal(first.status, 202)
    t.equal(first.json.reason, '1/2 consecutive failures')
    const second = await b.post('/webhooks/jenkins', report('FAILURE', 2))
    t.equal(second.json.action, 'recycle-requested', 'the second failure, on the other replica, reaches the threshold')
    const id = second.json.recycle.id
    // Jenkins retries the same build to the other replica: counted once.
    const retry = await a.post('/webhooks/jenkins', report('FAILURE', 2))
    t.equal(retry.json.action, 'duplicate')
    t.match(retry.json.reason, /jenkins:shop-integrity#2@shop was already received \(FAILURE at /)
    const last = await settled(a)
    t.equal(last.id, id)
    t.equal(last.state, 'succeeded')
    t.equal(await rollouts(ns), 1, 'one rollout')
    // 8: what it cost in state writes, both replicas together: one per verdict
    // (two), the claim, at most one progress flush, the outcome. The duplicate wrote nothing.
    const spent = (await okWrites(a)) + (await okWrites(b)) - writesBefore
    t.comment(`state writes for 2 failing verdicts, 1 duplicate and 1 recycle (no verification): ${spent}`)
    t.ok(spent >= 4 && spent <= 5, `${spent} writes`)
    // The same story on every replica: /status, the recycle, the page, the gauges.
    await waitFor(async () => JSON.stringify(await stateOf(a)) === JSON.stringify(await stateOf(b)), {
      timeoutMs: 5000,
      description: 'same /status on both',
    })
    const [ra, rb] = [await a.get(`/recycles/${id}`), await b.get(`/recycles/${id}`)]
    t.equal(ra.status, 200)
    t.equal(rb.status, 200)
    t.same(ra.json, rb.json, 'GET /recycles/:id is the same on both, steps included')
    t.match(
      rb.json.steps.map((s: any) => s.message).join('\n'),
      /started by replica-[ab]-[0-9a-f]{6}[\s\S]*patched the pod template/,
    )
    for (const r of [a, b]) {
      t.match((await r.get('/status?format=html')).text, new RegExp(`/recycles/${id}`), `${r.name}: the page lists it`)
      t.match(
        (await r.get('/metrics')).text,
        /kube_recycler_site_health\{site="shop"\} 0/,
        `${r.name}: the health gauge follows the shared state`,
      )
    }
    // 8: state writes are bounded and visible. Each Jenkins delivery is
    // written once (its key is kept, so a replayed SUCCESS cannot reset the
    // count); the same delivery again writes nothing.
    const writes = async () =>
      Number(/kube_recycler_state_writes_total\{result="ok"\} (\d+)/.exec((await a.get('/metrics')).text)?.[1] ?? 0)
    t.equal((await a.post('/webhooks/jenkins', report('SUCCESS'))).json.reason, 'recovered')
    const before = await writes()
    let latest = report('SUCCESS')
    for (let i = 0; i < 5; i++) {
      latest = report('SUCCESS')
      t.equal((await a.post('/webhooks/jenkins', latest)).json.health, 'healthy')
    }
    t.equal(await writes(), before + 5, 'five more healthy builds: one write each, for their delivery keys')
    for (const r of [a, b])
      t.equal(
        (await r.post('/webhooks/jenkins', latest)).json.action,
        'duplicate',
        `${r.name}: the same build again is a duplicate`,
      )
    t.equal(await writes(), before + 5, 'the same build again, to either replica: no write')
  },
)

t.test(
  '3, 4, 5: the circuit breaker, the history and the last report hold across restarts of every replica',
  async (t) => {
    const ns = await site(t, 'ha-flap')
    const config = haConfig(ns, '{ cooldown: 0s, maxPerWindow: 2, window: 1h, timeout: 60s }')
    let replicas = [
      await startReplica(t, { name: 'replica-a', configPath: config, namespace: ns }),
      await startReplica(t, { name: 'replica-b', configPath: config, namespace: ns }),
    ]
    await leaderOf(replicas)
    const ids: string[] = []
    let n = 0
    const flap = async () => {
      // Two failures and a recovery, spread over the replicas in turn.
      const r1 = await replicas[n++ % 2]!.post('/webhooks/jenkins', report('FAILURE'))
      const r2 = await replicas[n++ % 2]!.post('/webhooks/jenkins', report('FAILURE'))
      t.equal(r1.status, 202)
      t.equal(r2.status, 202)
      if (r2.json.recycle) ids.push(r2.json.recycle.id)
      if (r2.json.action === 'recycle-requested') await settled(replicas[0]!)
      await replicas[n++ % 2]!.post('/webhooks/jenkins', report('SUCCESS'))
      return r2.json
    }
    for (let i = 0; i < 4; i++) await flap()
    t.equal(await rollouts(ns), 2, 'four flaps, maxPerWindow 2: two rollouts')
    // Every replica restarts (one after the other, as a rolling update does).
    for (const r of replicas) await r.restart('SIGTERM')
    await leaderOf(replicas)
    const reportedAt = (await replicas[1]!.get('/status')).json.sites[0].lastReportAt
    t.ok(reportedAt, 'the last Jenkins report is known after the restart (the dead-man switch counts from it)')
    const again = await flap()
    t.equal(again.action, 'none')
    t.match(again.reason, /circuit open: 2 recycles within 60 min/)
    for (let i = 0; i < 2; i++) await flap()
    t.equal(await rollouts(ns), 2, 'still two rollouts after both replicas restarted')
    // A third replica that never saw any of it tells the same story.
    const c = await startReplica(t, { name: 'replica-c', configPath: config, namespace: ns })
    replicas = [...replicas, c]
    await waitFor(async () => (await c.get('/readyz')).status === 200, { description: 'c ready' })
    const s = (await c.get('/status')).json
    t.equal(s.sites[0].circuitOpen, true)
    const succeeded = s.recent.filter((r: any) => r.state === 'succeeded')
    t.equal(succeeded.length, 2, 'both recycles are in its history')
    t.ok(
      s.recent.some((r: any) => r.state === 'skipped' && r.repeats >= 2),
      'repeated circuit-open skips are one record, counted',
    )
    for (const id of ids.slice(0, 2)) {
      const got = await c.get(`/recycles/${id}`)
      t.equal(got.status, 200, `GET /recycles/${id} on a new replica`)
      t.ok(got.json.steps.length > 0, 'with its steps')
    }
    t.equal(s.sites[0].lastReportAt !== undefined, true)
    t.notOk(
      s.recent.some((r: any) => typeof r.steps !== 'undefined'),
      '/status lists briefs, without steps',
    )
  },
)

t.test(
  '6: the leader SIGKILLed mid-rollout: the other replica adopts it within a Lease, watches it to its end, never starts it again',
  async (t) => {
    const ns = await site(t, 'ha-kill', { minReadySeconds: 4 })
    const config = haConfig(ns, '{ cooldown: 0s, timeout: 90s }')
    const a = await startReplica(t, { name: 'replica-a', configPath: config, namespace: ns })
    const b = await startReplica(t, { name: 'replica-b', configPath: config, namespace: ns })
    const { leader, others } = await leaderOf([a, b])
    const follower = others[0]!
    await follower.post('/webhooks/jenkins', report('FAILURE'))
    const res = await follower.post('/webhooks/jenkins', report('FAILURE'))
    t.equal(res.json.action, 'recycle-requested')
    const id = res.json.recycle.id
    // The leader claims it (the follower only recorded it) and patches.
    await waitFor(async () => (await follower.get(`/recycles/${id}`)).json.state === 'running', {
      timeoutMs: 10_000,
      description: 'running',
    })
    await waitFor(
      async () =>
        (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })).spec.template.metadata.annotations?.[
          'kubectl.kubernetes.io/restartedAt'
        ],
      { timeoutMs: 10_000, description: 'patched' },
    )
    const killedAt = Date.now()
    await leader.stop('SIGKILL')
    const adopted = await waitFor(
      async () => {
        const r = (await follower.get(`/recycles/${id}`)).json
        return r.steps.some((s: any) => /adopted by replica-/.test(s.message)) ? r : undefined
      },
      { timeoutMs: 15_000, intervalMs: 200, description: 'adopted' },
    )
    const took = Date.now() - killedAt
    t.ok(took < 4000 + 3000, `adopted ${took} ms after the kill (Lease 4 s)`)
    t.match(adopted.holder, /^replica-[ab]-/)
    t.not(adopted.holder, undefined)
    const done = await settled(follower)
    t.equal(done.id, id)
    t.equal(done.state, 'succeeded', JSON.stringify(done))
    t.equal(await rollouts(ns), 1, 'never started again: one rollout')
    const lock = JSON.parse(
      (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })).metadata.annotations[
        'kube-recycler.io/last-recycle'
      ],
    )
    t.match(lock, { id, outcome: 'succeeded' }, 'its outcome is written on the workload')
  },
)

/** Stops the test control plane's kube-apiserver for `ms` (SIGSTOP, then SIGCONT, also on failure). */
async function apiServerStopped<T>(t: Test, ms: number, during: () => Promise<T>): Promise<T> {
  const pid = clusterState().pids['kube-apiserver']!
  const cont = () => {
    try {
      process.kill(pid, 'SIGCONT')
    } catch {
      /* gone */
    }
  }
  t.teardown(cont)
  const until = Date.now() + ms
  process.kill(pid, 'SIGSTOP')
  const timer = setTimeout(cont, ms)
  try {
    return await during()
  } finally {
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())))
    clearTimeout(timer)
    cont()
  }
}

t.test(
  '7: a replica that cannot reach the API server is not ready and refuses, never plans instead; then it serves',
  async (t) => {
    const ns = await site(t, 'ha-outage')
    const config = haConfig(ns, '{ cooldown: 0s, timeout: 60s }')
    let c: Replica | undefined
    await apiServerStopped(t, 8000, async () => {
      c = await startReplica(t, { name: 'replica-c', configPath: config, namespace: ns })
      await new Promise((r) => setTimeout(r, 1500))
      const ready = await c.get('/readyz')
      t.equal(ready.status, 503)
      t.match(ready.json.reason, /state not loaded/)
      const w = await c.post('/webhooks/jenkins', report('FAILURE'))
      t.equal(w.status, 503, 'a delivery is refused, so Jenkins retries it')
      t.equal(w.headers['retry-after'], '5')
      t.match(w.json, { code: 'KR_UNAVAILABLE', message: /not ready/ })
      t.equal((await c.get('/status')).json.service.dryRun, false, 'never plan-only because the API is slow')
    })
    await waitFor(async () => (await c!.get('/readyz')).status === 200, {
      timeoutMs: 30_000,
      description: 'ready after the API is back',
    })
    t.equal((await c!.post('/webhooks/jenkins', report('FAILURE'))).json.reason, '1/2 consecutive failures')
    t.equal((await c!.post('/webhooks/jenkins', report('FAILURE'))).json.action, 'recycle-requested')
    t.equal((await settled(c!)).state, 'succeeded')
    t.equal(await rollouts(ns), 1)
  },
)

t.test(
  '7: the API server stopped mid-rollout: not ready while it is gone, and the recycle ends once, adopted or finished',
  async (t) => {
    const ns = await site(t, 'ha-stall', { minReadySeconds: 3 })
    const config = haConfig(ns, '{ cooldown: 0s, timeout: 90s }')
    const a = await startReplica(t, { name: 'replica-a', configPath: config, namespace: ns })
    const b = await startReplica(t, { name: 'replica-b', configPath: config, namespace: ns })
    await leaderOf([a, b])
    await a.post('/webhooks/jenkins', report('FAILURE'))
    const res = await b.post('/webhooks/jenkins', report('FAILURE'))
    const id = res.json.recycle.id
    await waitFor(
      async () =>
        (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })).spec.template.metadata.annotations?.[
          'kubectl.kubernetes.io/restartedAt'
        ],
      { timeoutMs: 10_000, description: 'patched' },
    )
    await apiServerStopped(t, 9000, async () => {
      await new Promise((r) => setTimeout(r, 7000))
      for (const r of [a, b]) {
        const ready = await r.get('/readyz')
        t.equal(ready.status, 503, `${r.name} is not ready while the API server is stopped`)
        t.match(ready.json.reason, /has not answered for/)
      }
    })
    const done = await settled(a)
    t.equal(done.id, id)
    t.equal(done.state, 'succeeded', JSON.stringify(done))
    t.equal(await rollouts(ns), 1, 'one rollout: never started twice')
    t.same(await stateOf(a), await stateOf(b))
  },
)
