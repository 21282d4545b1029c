// The recycle engine against the real control plane: the real Deployment,
// StatefulSet, DaemonSet and disruption controllers act on what it does.

import t from 'tap'
import { clusterKubeconfig, freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployment, quietLogger, realEngine, runOnce, siteFor } from '../fixtures/engine.ts'
import { createKube } from '../../src/kube/client.ts'
import { createEngine } from '../../src/recycle/engine.ts'
import { systemClock } from '../../src/clock.ts'
import { LAST_RECYCLE_ANNOTATION } from '../../src/recycle/lock.ts'

const COMMIT = '0123456789abcdef0123456789abcdef01234567'

async function ready(ns: string, kind: string, name: string, n: number) {
  await waitFor(
    async () => {
      const o = await kubectlJson(['get', kind, name], { namespace: ns })
      const s = o.status ?? {}
      return kind === 'daemonset' ? s.numberReady === n && s.desiredNumberScheduled === n : s.readyReplicas === n
    },
    { timeoutMs: 60_000, description: `${kind}/${name} ${n} ready` },
  )
}

async function pods(ns: string, app: string) {
  return (await kubectlJson(['get', 'pods', '-l', `app=${app}`], { namespace: ns })).items as any[]
}
const isReady = (p: any) => (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')

async function events(ns: string, name: string) {
  return (
    (await kubectlJson(['get', 'events', '--field-selector', `involvedObject.name=${name}`], { namespace: ns }))
      .items as any[]
  ).map((e) => `${e.type}/${e.reason}: ${e.message}`)
}

t.test('rollout of a 3-replica Deployment onto a commit', async (t) => {
  const ns = await freshNamespace('rollout-deploy')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 3) })
  await ready(ns.name, 'deployment', 'web', 3)
  const before = (await pods(ns.name, 'web')).map((p) => p.metadata.uid)
  const { engine } = realEngine(clusterKubeconfig())
  const site = siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 60s }')
  const r = await runOnce(engine, site, { commit: COMMIT })
  t.equal(r.outcome.state, 'succeeded', JSON.stringify(r.outcome))
  t.match(r.steps.join('\n'), /patched the pod template/)
  t.match(r.steps.join('\n'), /successfully rolled out/)
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
  t.equal(d.spec.template.metadata.annotations['kube-recycler.io/commit'], COMMIT)
  t.match(
    d.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'],
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
    'millisecond precision',
  )
  t.same(d.spec.template.spec.containers[0].env, [{ name: 'SITE_COMMIT', value: COMMIT }])
  const last = JSON.parse(d.metadata.annotations[LAST_RECYCLE_ANNOTATION])
  t.match(last, { id: r.record.id, commit: COMMIT, outcome: 'succeeded', strategy: 'rollout', holder: 'test-replica' })
  const rs = (await kubectlJson(['get', 'replicasets', '-l', 'app=web'], { namespace: ns.name })).items as any[]
  t.equal(rs.length, 2, 'one new ReplicaSet')
  const fresh = rs.find((x) => x.metadata.annotations['deployment.kubernetes.io/revision'] === '2')
  t.equal(fresh.spec.template.metadata.annotations['kube-recycler.io/commit'], COMMIT)
  t.equal(fresh.status.readyReplicas, 3)
  const now = await pods(ns.name, 'web')
  const live = now.filter((p) => !p.metadata.deletionTimestamp)
  t.equal(live.length, 3)
  t.ok(live.every(isReady), 'all pods Ready')
  t.ok(
    live.every((p) => p.metadata.annotations['kube-recycler.io/commit'] === COMMIT),
    'all pods on the commit',
  )
  t.ok(
    live.every((p) => !before.includes(p.metadata.uid)),
    'no old pod left',
  )
  t.match(
    (await events(ns.name, 'web')).join('\n'),
    /Normal\/Recycled: kube-recycler rc-.* \(rollout onto 0123456789ab\)/,
  )
})

t.test('rollout of a StatefulSet and a DaemonSet', async (t) => {
  const ns = await freshNamespace('rollout-sts-ds')
  t.teardown(ns.cleanup)
  const sts = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db' },
    spec: {
      replicas: 3,
      serviceName: 'db',
      selector: { matchLabels: { app: 'db' } },
      template: {
        metadata: { labels: { app: 'db' } },
        spec: { containers: [{ name: 'db', image: 'example.com/db:1' }] },
      },
    },
  }
  const ds = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: {
        metadata: { labels: { app: 'agent' } },
        spec: { containers: [{ name: 'agent', image: 'example.com/agent:1' }] },
      },
    },
  }
  await kubectl(['apply', '-f', '-'], {
    namespace: ns.name,
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [sts, ds] }),
  })
  await ready(ns.name, 'statefulset', 'db', 3)
  await ready(ns.name, 'daemonset', 'agent', 3)
  const { engine } = realEngine(clusterKubeconfig())
  for (const [kind, name] of [
    ['StatefulSet', 'db'],
    ['DaemonSet', 'agent'],
  ] as const) {
    const before = (await pods(ns.name, name)).map((p) => p.metadata.uid)
    const r = await runOnce(
      engine,
      siteFor(`{ kind: ${kind}, namespace: ${ns.name}, name: ${name} }`, '{ timeout: 90s }'),
      { commit: COMMIT },
    )
    t.equal(r.outcome.state, 'succeeded', `${kind}: ${JSON.stringify(r.outcome)} ${r.steps.join(' | ')}`)
    const live = (await pods(ns.name, name)).filter((p) => !p.metadata.deletionTimestamp)
    t.equal(live.length, 3, `${kind}: 3 pods`)
    t.ok(live.every(isReady), `${kind}: all Ready`)
    t.ok(
      live.every((p) => p.metadata.annotations?.['kube-recycler.io/commit'] === COMMIT),
      `${kind}: all on the commit`,
    )
    t.ok(
      live.every((p) => !before.includes(p.metadata.uid)),
      `${kind}: all replaced`,
    )
  }
  t.equal(new Set((await pods(ns.name, 'agent')).map((p) => p.spec.nodeName)).size, 3, 'one DaemonSet pod per node')
})

t.test('evict honours a PodDisruptionBudget (minAvailable 2 of 3)', async (t) => {
  const ns = await freshNamespace('evict-pdb')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 3) })
  // The PDB starts at minAvailable 3 (no disruption allowed), so the first
  // evictions are answered 429 for certain; once the engine has said it is
  // waiting, the budget is relaxed to minAvailable 2.
  const pdb = (min: number) =>
    JSON.stringify({
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'web' },
      spec: { minAvailable: min, selector: { matchLabels: { app: 'web' } } },
    })
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: pdb(3) })
  await ready(ns.name, 'deployment', 'web', 3)
  await waitFor(
    async () => (await kubectlJson(['get', 'pdb', 'web'], { namespace: ns.name })).status?.currentHealthy === 3,
    { description: 'PDB sees 3 healthy' },
  )
  const before = (await pods(ns.name, 'web')).map((p) => p.metadata.uid)
  // Watch from the side: never fewer than 2 Ready pods.
  let minReady = 3
  let watching = true
  const watcher = (async () => {
    while (watching) {
      const live = (await pods(ns.name, 'web')).filter((p) => !p.metadata.deletionTimestamp && isReady(p)).length
      minReady = Math.min(minReady, live)
      await new Promise((r) => setTimeout(r, 100))
    }
  })()
  const { engine } = realEngine(clusterKubeconfig())
  // maxUnavailable 3 asks for all at once: only the PDB holds the line.
  let relaxed: Promise<unknown> | undefined
  const r = await runOnce(
    engine,
    siteFor(
      `{ kind: Deployment, namespace: ${ns.name}, name: web }`,
      '{ strategy: evict, maxUnavailable: 3, timeout: 90s }',
    ),
    {
      onStep: (m) => {
        if (!relaxed && m.includes('a PodDisruptionBudget blocks'))
          relaxed = kubectl(['apply', '-f', '-'], { namespace: ns.name, input: pdb(2) })
      },
    },
  )
  await relaxed
  watching = false
  await watcher
  t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)} ${r.steps.join(' | ')}`)
  t.match(r.steps.join('\n'), /a PodDisruptionBudget blocks evicting/, 'the PDB said 429 and we waited')
  t.ok(minReady >= 2, `never more than one pod down (min ready ${minReady})`)
  const live = (await pods(ns.name, 'web')).filter((p) => !p.metadata.deletionTimestamp)
  t.ok(
    live.every((p) => !before.includes(p.metadata.uid)),
    'all pods replaced',
  )
  t.equal(live.filter(isReady).length, 3)
})

t.test('delete: all pods replaced, one at a time', async (t) => {
  const ns = await freshNamespace('delete')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 3) })
  await ready(ns.name, 'deployment', 'web', 3)
  const before = (await pods(ns.name, 'web')).map((p) => p.metadata.uid)
  const { engine } = realEngine(clusterKubeconfig())
  const r = await runOnce(
    engine,
    siteFor(
      `{ kind: Deployment, namespace: ${ns.name}, name: web }`,
      '{ strategy: delete, maxUnavailable: 1, timeout: 90s }',
    ),
  )
  t.equal(r.outcome.state, 'succeeded', JSON.stringify(r.outcome))
  const deletes = r.steps.filter((s) => s.startsWith('deleted: '))
  const batches = r.steps.filter((s) => /^batch \d+: replacements Ready/.test(s))
  t.equal(deletes.length, 3)
  t.equal(batches.length, 3, 'three batches of one, each waited for')
  // Each delete is followed by its batch's wait before the next delete.
  const order = r.steps.filter((s) => s.startsWith('deleted: ') || s.startsWith('batch ')).map((s) => s.split(':')[0])
  t.same(order, ['deleted', 'batch 1', 'deleted', 'batch 2', 'deleted', 'batch 3'])
  const live = (await pods(ns.name, 'web')).filter((p) => !p.metadata.deletionTimestamp)
  t.ok(live.every((p) => !before.includes(p.metadata.uid)))
})

t.test('two engines at the same moment: exactly one rollout', async (t) => {
  const ns = await freshNamespace('race')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 2) })
  await ready(ns.name, 'deployment', 'web', 2)
  const a = realEngine(clusterKubeconfig(), 'replica-a')
  const b = realEngine(clusterKubeconfig(), 'replica-b')
  const site = siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 60s }')
  const [ra, rb] = await Promise.all([
    runOnce(a.engine, site, { commit: COMMIT }),
    runOnce(b.engine, site, { commit: COMMIT }),
  ])
  const states = [ra.outcome.state, rb.outcome.state].sort()
  t.same(states, ['skipped', 'succeeded'], `${JSON.stringify(ra.outcome)} / ${JSON.stringify(rb.outcome)}`)
  const skipped = ra.outcome.state === 'skipped' ? ra : rb
  t.match(
    (skipped.outcome as { reason: string }).reason,
    /another recycle \(rc-.*\) has been running|cooldown: the last recycle/,
    'the loser says why',
  )
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
  // (generation also moves with annotation writes on a Deployment; the revision counts rollouts)
  t.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '2', 'one rollout: revision 2')
  t.equal((await kubectlJson(['get', 'replicasets', '-l', 'app=web'], { namespace: ns.name })).items.length, 2)
})

t.test('cooldown: a second recycle inside it is skipped with the reason, and recorded', async (t) => {
  const ns = await freshNamespace('cooldown')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 1) })
  await ready(ns.name, 'deployment', 'web', 1)
  const { engine } = realEngine(clusterKubeconfig())
  const site = siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ cooldown: 10m, timeout: 60s }')
  t.equal((await runOnce(engine, site)).outcome.state, 'succeeded')
  const second = await runOnce(engine, site)
  t.equal(second.outcome.state, 'skipped')
  t.match(
    (second.outcome as { reason: string }).reason,
    /^cooldown: the last recycle \(rc-[^,]+, succeeded\) started \d+ s ago \(cooldown 600 s\)/,
  )
  t.match((await events(ns.name, 'web')).join('\n'), /Normal\/RecycleSkipped: .*cooldown/)
  // The same trigger key twice: a duplicate, whoever sees it.
  const other = siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ cooldown: 0s, timeout: 60s }')
  const k1 = await runOnce(engine, other, { key: 'jenkins:job#41' })
  t.equal(k1.outcome.state, 'succeeded')
  const k2 = await runOnce(engine, other, { key: 'jenkins:job#41' })
  t.equal(k2.outcome.state, 'skipped')
  t.match((k2.outcome as { reason: string }).reason, /duplicate: jenkins:job#41 already caused recycle/)
})

t.test('dry-run (plan) changes nothing', async (t) => {
  const ns = await freshNamespace('dryrun')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 2) })
  await ready(ns.name, 'deployment', 'web', 2)
  const rv = async () => {
    const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
    const p = await pods(ns.name, 'web')
    return [d.metadata.resourceVersion, ...p.map((x) => `${x.metadata.name}@${x.metadata.resourceVersion}`).sort()]
  }
  const before = await rv()
  const { engine } = realEngine(clusterKubeconfig())
  for (const strategy of ['rollout', 'evict', 'delete'] as const) {
    const plan = await engine.plan(siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`), strategy)
    t.equal(plan.workload, `Deployment/${ns.name}/web`)
    t.equal(plan.pods.length, 2)
    t.match(plan.why, strategy === 'rollout' ? /patch the pod template/ : new RegExp(`${strategy} 2 pods, 1 at a time`))
    t.notMatch(plan.why, /first replace only|canary first/, 'no ladder, no canary: the strategy alone')
  }
  // What dry-run and notify say must be what would run: the ladder's first rung and the canary.
  const site = siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ canary: true }')
  const laddered = { ...site, recycle: { ...site.recycle, ladder: ['replace-pods' as const, 'rollout' as const] } }
  t.match(
    (await engine.plan(laddered, 'rollout')).why,
    /^first replace only the pods failing their per-pod checks \(if some pass\); if that cannot heal: patch the pod template .* \(canary first: one new pod, probed on its IP, before the others\)/,
  )
  t.same(await rv(), before, 'resourceVersions unchanged')
})

t.test('a paused Deployment is refused with a reason', async (t) => {
  const ns = await freshNamespace('paused')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 1) })
  await kubectl(['rollout', 'pause', 'deployment/web'], { namespace: ns.name })
  const { engine } = realEngine(clusterKubeconfig())
  const r = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`))
  t.equal(r.outcome.state, 'skipped')
  t.match((r.outcome as { reason: string }).reason, /is paused: resume it/)
})

t.test('a rollout that cannot finish is reported failed within its deadline, with an Event', async (t) => {
  const ns = await freshNamespace('never-ready')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 2, { neverReady: true }) })
  await waitFor(async () => (await pods(ns.name, 'web')).filter((p) => p.status?.phase === 'Running').length === 2, {
    description: 'pods running',
  })
  t.equal((await pods(ns.name, 'web')).filter(isReady).length, 0, 'the pods run but are not Ready')
  const { engine } = realEngine(clusterKubeconfig())
  const started = Date.now()
  const r = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 6s }'))
  const took = Date.now() - started
  t.equal(r.outcome.state, 'failed')
  t.match(
    (r.outcome as { reason: string }).reason,
    /the rollout did not finish before its deadline: Waiting for deployment "web" rollout to finish.*; not ready: web-/,
  )
  t.ok(took >= 6000 && took < 15_000, `reported at the deadline (${took} ms)`)
  t.match((await events(ns.name, 'web')).join('\n'), /Warning\/RecycleFailed: kube-recycler rc-.*deadline/)
  const last = JSON.parse(
    (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).metadata.annotations[
      LAST_RECYCLE_ANNOTATION
    ],
  )
  t.equal(last.outcome, 'failed', 'the lock is released with the outcome')
})

t.test(
  'a rollout in flight when its replica stops is adopted by another: watched to its end, not started again',
  async (t) => {
    const ns = await freshNamespace('resume')
    t.teardown(ns.cleanup)
    await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 2) })
    await ready(ns.name, 'deployment', 'web', 2)
    const site = siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 60s }')
    const first = realEngine(clusterKubeconfig(), 'pod-x')
    const stop = new AbortController()
    const r1 = await runOnce(first.engine, site, {
      commit: COMMIT,
      signal: stop.signal,
      onStep: (m) => {
        if (m.startsWith('patched the pod template')) stop.abort()
      },
    })
    t.equal(r1.outcome.state, 'failed')
    const lockNow = JSON.parse(
      (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).metadata.annotations[
        LAST_RECYCLE_ANNOTATION
      ],
    )
    t.match(lockNow, { id: r1.record.id, outcome: 'running', holder: 'pod-x' }, 'the lock is left running on shutdown')
    const inflight = {
      id: r1.record.id,
      at: r1.record.createdAt,
      strategy: 'rollout' as const,
      reason: 'integration test',
      trigger: 'operator',
      commit: COMMIT,
    }
    // A recycle the service recorded but that never took the workload's lock never acted: adopting it does nothing.
    const other = realEngine(clusterKubeconfig(), 'pod-y')
    const never = await other.engine.resume(
      { record: r1.record, site, strategy: 'rollout', step: () => undefined, signal: new AbortController().signal },
      { ...inflight, id: 'rc-never-took-the-lock' },
    )
    t.equal(never.state, 'skipped')
    t.match((never as { reason: string }).reason, /never acted: the workload's lock is recycle rc-/)
    const steps: string[] = []
    const outcome = await other.engine.resume(
      {
        record: r1.record,
        site,
        strategy: 'rollout',
        commit: COMMIT,
        step: (m) => steps.push(m),
        signal: new AbortController().signal,
      },
      inflight,
    )
    t.equal(outcome.state, 'succeeded', JSON.stringify(outcome))
    t.match(steps[0], /watching the rollout started at .* to its end/)
    const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
    t.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '2', 'not started again: still one rollout')
    t.equal(JSON.parse(d.metadata.annotations[LAST_RECYCLE_ANNOTATION]).outcome, 'succeeded')
  },
)

t.test('a container that reads the commit through the downward API keeps its valueFrom', async (t) => {
  const ns = await freshNamespace('valuefrom')
  t.teardown(ns.cleanup)
  const d = JSON.parse(deployment('web', 1))
  d.spec.template.spec.containers[0].env = [
    { name: 'SITE_COMMIT', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['kube-recycler.io/commit']" } } },
  ]
  d.spec.template.spec.containers.push({ name: 'sidecar', image: 'example.com/sidecar:1' })
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: JSON.stringify(d) })
  await ready(ns.name, 'deployment', 'web', 1)
  const { engine } = realEngine(clusterKubeconfig())
  const r = await runOnce(
    engine,
    siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 60s }'),
    { commit: COMMIT },
  )
  t.equal(r.outcome.state, 'succeeded', JSON.stringify(r.outcome))
  const after = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
  const [web, sidecar] = after.spec.template.spec.containers
  t.same(web.env, [
    {
      name: 'SITE_COMMIT',
      valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['kube-recycler.io/commit']" } },
    },
  ])
  t.same(sidecar.env, [{ name: 'SITE_COMMIT', value: COMMIT }])
})

t.test('the outcome is written in one request and never over a lock that moved on', async (t) => {
  const ns = await freshNamespace('outcome-cas')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 2) })
  await ready(ns.name, 'deployment', 'web', 2)
  const logger = quietLogger()
  const kube = createKube({ kubeconfig: clusterKubeconfig(), logger, env: {} })
  t.teardown(() => kube.close())
  const calls: string[] = []
  let moveLock = false
  const other = JSON.stringify({
    id: 'rc-someone-else',
    at: new Date().toISOString(),
    reason: 'x',
    trigger: 'operator',
    strategy: 'rollout',
    outcome: 'running',
    holder: 'other',
  })
  // Counts the calls the engine makes; in the second run, another holder
  // takes the lock just before our outcome is written.
  const counted = new Proxy(kube, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (typeof v !== 'function') return v
      return async (...args: unknown[]) => {
        calls.push(String(prop))
        if (prop === 'replaceAnnotationIf' && moveLock)
          await kubectl(['annotate', '--overwrite', 'deployment', 'web', `${LAST_RECYCLE_ANNOTATION}=${other}`], {
            namespace: ns.name,
          })
        return (v as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  const engine = createEngine({ kube: counted, clock: systemClock, logger, holder: 'test-replica' })
  const site = siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 60s, cooldown: 0s }')

  const first = await runOnce(engine, site, { commit: COMMIT })
  t.equal(first.outcome.state, 'succeeded', JSON.stringify(first.outcome))
  // One read (the lock check); the revision, the container names and the
  // watch's start come with it or with the patch's answer; polls read pods only.
  // (A rollout slower than ROLLOUT_READ_EVERY polls also reads the workload while watching: not counted here.)
  const made = calls.filter((c) => c !== 'listPods')
  t.same(
    [...made.slice(0, 4), ...made.slice(-2)],
    ['getWorkload', 'currentRevision', 'restartWorkload', 'watchWorkload', 'replaceAnnotationIf', 'recordEvent'],
    `calls: ${calls.join(', ')}`,
  )
  t.same(
    made.slice(4, -2).filter((c) => c !== 'getWorkload'),
    [],
    'nothing else',
  )
  const d1 = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
  t.match(JSON.parse(d1.metadata.annotations[LAST_RECYCLE_ANNOTATION]), { id: first.record.id, outcome: 'succeeded' })

  moveLock = true
  const second = await runOnce(engine, site, { commit: COMMIT })
  t.equal(second.outcome.state, 'succeeded', JSON.stringify(second.outcome))
  const d2 = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
  t.equal(
    d2.metadata.annotations[LAST_RECYCLE_ANNOTATION],
    other,
    'the other holder keeps its lock: our outcome was not written over it',
  )
})
