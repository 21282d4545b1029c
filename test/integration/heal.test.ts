// Heal what is really broken (issue 10), on the real control plane: the
// Deployment, StatefulSet, DaemonSet and disruption controllers act on what
// the engine does. Pods are made NotReady as a failing readiness probe would
// (the kube-recycler.test/ready=false annotation, test/cluster/README.md), or
// crash-looping by writing CrashLoopBackOff and a rising restartCount into
// their status, as a kubelet would (kwok has none to do it).
//
// Every scenario prints `heal-timing <name> <ms>`: recycle start to healed.

import t from 'tap'
import { clusterKubeconfig, freshNamespace, kubectl, kubectlJson, waitFor } from '../fixtures/kube-cluster.ts'
import { realEngine, runOnce, siteFor } from '../fixtures/engine.ts'

const GOOD = '1111111111111111111111111111111111111111'
const BAD = 'baadbaadbaadbaadbaadbaadbaadbaadbaadbaad'
const COMMIT = 'c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff'

type Kind = 'Deployment' | 'StatefulSet' | 'DaemonSet'

function workload(kind: Kind, name: string, opts: { replicas?: number; podAnnotations?: Record<string, string>; progressDeadlineSeconds?: number; minReadySeconds?: number } = {}) {
  const template = {
    metadata: { labels: { app: name }, ...(opts.podAnnotations ? { annotations: opts.podAnnotations } : {}) },
    spec: { containers: [{ name: 'web', image: 'example.com/site:1' }] },
  }
  const spec: Record<string, unknown> = { selector: { matchLabels: { app: name } }, template }
  if (kind !== 'DaemonSet') spec.replicas = opts.replicas ?? 3
  if (kind === 'StatefulSet') spec.serviceName = name
  if (opts.progressDeadlineSeconds) spec.progressDeadlineSeconds = opts.progressDeadlineSeconds
  if (opts.minReadySeconds) spec.minReadySeconds = opts.minReadySeconds
  return JSON.stringify({ apiVersion: 'apps/v1', kind, metadata: { name }, spec })
}

const pdb = (name: string, policy?: 'AlwaysAllow' | 'IfHealthyBudget') => JSON.stringify({
  apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name },
  spec: { minAvailable: 2, selector: { matchLabels: { app: name } }, ...(policy ? { unhealthyPodEvictionPolicy: policy } : {}) },
})

async function pods(ns: string, app: string) {
  return ((await kubectlJson(['get', 'pods', '-l', `app=${app}`], { namespace: ns })).items as any[]).filter((p) => !p.metadata.deletionTimestamp)
}
const isReady = (p: any) => (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')

async function readyCount(ns: string, app: string, n: number, total = n) {
  await waitFor(async () => {
    const live = await pods(ns, app)
    return live.length === total && live.filter(isReady).length === n
  }, { timeoutMs: 60_000, description: `${app}: ${n}/${total} Ready` })
}

/** Makes the pod NotReady the way a failing readiness probe does. */
const notReady = (ns: string, pod: string) => kubectl(['annotate', '--overwrite', 'pod', pod, 'kube-recycler.test/ready=false'], { namespace: ns })

/** Writes a crash loop into the pod's status, as a kubelet would: waiting CrashLoopBackOff, restartCount `restarts`. */
async function crashLoop(ns: string, pod: string, restarts: number) {
  const status = {
    status: {
      containerStatuses: [{
        name: 'web', image: 'example.com/site:1', imageID: '', ready: false, started: false, restartCount: restarts,
        state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${10 * restarts}s restarting failed container=web` } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() } },
      }],
    },
  }
  await kubectl(['patch', 'pod', pod, '--subresource=status', '--type=strategic', '-p', JSON.stringify(status)], { namespace: ns })
}

async function pdbSees(ns: string, name: string, healthy: number) {
  await waitFor(async () => (await kubectlJson(['get', 'pdb', name], { namespace: ns })).status?.currentHealthy === healthy, { timeoutMs: 30_000, description: `PDB sees ${healthy} healthy` })
}

/**
 * Runs `fn` on every live pod of `app` that matches `pick`, once per pod, in
 * the background until stop() (a kubelet playing a broken commit's pods).
 */
function podBreaker(ns: string, app: string, pick: (p: any) => boolean, fn: (pod: string) => Promise<unknown>) {
  let on = true
  const done = new Set<string>()
  const loop = (async () => {
    while (on) {
      try {
        for (const p of await pods(ns, app)) {
          if (!done.has(p.metadata.uid) && pick(p)) {
            done.add(p.metadata.uid)
            await fn(p.metadata.name).catch(() => done.delete(p.metadata.uid))
          }
        }
      } catch {
        // the namespace may be going away
      }
      await new Promise((r) => setTimeout(r, 150))
    }
  })()
  return { broken: done, stop: async () => { on = false; await loop } }
}

const timings: string[] = []
t.teardown(() => { if (timings.length) console.log(timings.join('\n')) })
function timed(name: string, ms: number) {
  timings.push(`heal-timing ${name} ${ms}`)
}

for (const strategy of ['evict', 'delete'] as const) {
  t.test(`${strategy}: 2 of 3 pods NotReady under a PDB minAvailable 2 heal to 3/3 Ready`, async (t) => {
    const ns = await freshNamespace(`heal-${strategy}`)
    t.teardown(ns.cleanup)
    await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: workload('Deployment', 'web') })
    await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: pdb('web') })
    await readyCount(ns.name, 'web', 3)
    const original = (await pods(ns.name, 'web')).map((p) => p.metadata.name).sort()
    await notReady(ns.name, original[0]!)
    await notReady(ns.name, original[2]!)
    await readyCount(ns.name, 'web', 1, 3)
    await pdbSees(ns.name, 'web', 1)
    const { engine } = realEngine(clusterKubeconfig())
    const started = Date.now()
    const r = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, `{ strategy: ${strategy}, maxUnavailable: 1, timeout: 90s }`))
    const took = Date.now() - started
    const steps = r.steps.join('\n')
    t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${steps}`)
    await readyCount(ns.name, 'web', 3)
    timed(`${strategy}-deployment-2-of-3-notready`, took)
    const now = (await pods(ns.name, 'web')).map((p) => p.metadata.uid)
    t.equal(now.length, 3)
    t.match(steps, new RegExp(`first the 2 unhealthy at once.*${original[0]} \\(not Ready\\), ${original[2]} \\(not Ready\\)`), 'the NotReady pods go first')
    const firstRemoval = r.steps.find((s) => /^(evicted|deleted|a PodDisruptionBudget refuses)/.test(s)) ?? ''
    t.match(firstRemoval, new RegExp(`${original[0]}`), 'the first pod removed is a NotReady one')
    if (strategy === 'evict') {
      t.match(steps, new RegExp(`a PodDisruptionBudget refuses to evict ${original[0]} \\(not Ready\\).*deleted it instead.*cannot lower availability \\(recycle.unhealthyPods: delete\\)`), 'the refused NotReady pod is deleted, and the steps say why')
      t.match(steps, new RegExp(`evicted: ${original[1]}`), 'the healthy pod goes through the Eviction API')
    }
    t.ok(took < 45_000, `healed in ${took} ms`)
  })
}

t.test('evict with unhealthyPodEvictionPolicy AlwaysAllow evicts the NotReady pods through the API', async (t) => {
  const ns = await freshNamespace('heal-always-allow')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: workload('Deployment', 'web') })
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: pdb('web', 'AlwaysAllow') })
  await readyCount(ns.name, 'web', 3)
  const original = (await pods(ns.name, 'web')).map((p) => p.metadata.name).sort()
  await notReady(ns.name, original[0]!)
  await notReady(ns.name, original[1]!)
  await readyCount(ns.name, 'web', 1, 3)
  await pdbSees(ns.name, 'web', 1)
  const { engine } = realEngine(clusterKubeconfig())
  const started = Date.now()
  const r = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ strategy: evict, unhealthyPods: evict, timeout: 90s }'))
  const took = Date.now() - started
  t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${r.steps.join('\n')}`)
  await readyCount(ns.name, 'web', 3)
  timed('evict-deployment-always-allow', took)
  t.match(r.steps.join('\n'), new RegExp(`evicted: ${original[0]}\nevicted: ${original[1]}`))
  t.notMatch(r.steps.join('\n'), /deleted it instead/)
})

t.test('evict: crash-looping pods (CrashLoopBackOff, restartCount rising) go first and heal', async (t) => {
  const ns = await freshNamespace('heal-crashloop')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: workload('Deployment', 'web') })
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: pdb('web') })
  await readyCount(ns.name, 'web', 3)
  const original = (await pods(ns.name, 'web')).map((p) => p.metadata.name).sort()
  for (const p of [original[1]!, original[2]!]) {
    await notReady(ns.name, p)
  }
  await readyCount(ns.name, 'web', 1, 3)
  for (const restarts of [3, 5]) {
    for (const p of [original[1]!, original[2]!]) await crashLoop(ns.name, p, restarts)
  }
  const looping = (await pods(ns.name, 'web')).filter((p) => p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff')
  t.same(looping.map((p) => [p.metadata.name, p.status.containerStatuses[0].restartCount]).sort(), [[original[1], 5], [original[2], 5]], 'the status says CrashLoopBackOff, 5 restarts')
  const { engine } = realEngine(clusterKubeconfig())
  const started = Date.now()
  const r = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ strategy: evict, timeout: 90s }'))
  const took = Date.now() - started
  t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${r.steps.join('\n')}`)
  await readyCount(ns.name, 'web', 3)
  timed('evict-deployment-2-of-3-crashloop', took)
  t.match(r.steps.join('\n'), new RegExp(`${original[1]} \\(crash-looping, 5 restarts\\), ${original[2]} \\(crash-looping, 5 restarts\\)`))
  t.notMatch(r.steps.join('\n'), /cannot start/, 'an old crash-looping pod is not a replacement that cannot start')
})

for (const kind of ['StatefulSet', 'DaemonSet'] as const) {
  t.test(`evict: a ${kind} with 2 of 3 pods NotReady heals`, async (t) => {
    const name = kind === 'StatefulSet' ? 'db' : 'agent'
    const ns = await freshNamespace(`heal-${kind.toLowerCase()}`)
    t.teardown(ns.cleanup)
    await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: workload(kind, name) })
    await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: pdb(name) })
    await readyCount(ns.name, name, 3)
    const original = (await pods(ns.name, name)).map((p) => p.metadata.name).sort()
    const originalUids = (await pods(ns.name, name)).map((p) => p.metadata.uid)
    await notReady(ns.name, original[1]!)
    await notReady(ns.name, original[2]!)
    await readyCount(ns.name, name, 1, 3)
    await pdbSees(ns.name, name, 1)
    const { engine } = realEngine(clusterKubeconfig())
    const started = Date.now()
    const r = await runOnce(engine, siteFor(`{ kind: ${kind}, namespace: ${ns.name}, name: ${name} }`, '{ strategy: evict, timeout: 120s }'))
    const took = Date.now() - started
    t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${r.steps.join('\n')}`)
    await readyCount(ns.name, name, 3)
    timed(`evict-${kind.toLowerCase()}-2-of-3-notready`, took)
    const now = await pods(ns.name, name)
    t.ok(now.every((p) => !originalUids.includes(p.metadata.uid)), 'every pod replaced')
    if (kind === 'DaemonSet') t.equal(new Set(now.map((p) => p.spec.nodeName)).size, 3, 'one pod per node')
  })
}

t.test('rollout onto a commit whose pods never become Ready: failed early, rolled back, healthy again', async (t) => {
  const ns = await freshNamespace('heal-rollback')
  t.teardown(ns.cleanup)
  // minReadySeconds: the breaker below needs a moment to make a new pod NotReady; until then it is not available.
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: workload('Deployment', 'web', { progressDeadlineSeconds: 10, minReadySeconds: 3, podAnnotations: { 'kube-recycler.io/commit': GOOD } }) })
  await readyCount(ns.name, 'web', 3)
  await waitFor(async () => (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).status?.availableReplicas === 3, { description: '3 available' })
  const goodPods = (await pods(ns.name, 'web')).map((p) => p.metadata.uid)
  // The BAD commit's pods fail their readiness probe.
  const breaker = podBreaker(ns.name, 'web', (p) => p.metadata.annotations?.['kube-recycler.io/commit'] === BAD, (pod) => notReady(ns.name, pod))
  t.teardown(breaker.stop)
  const { engine } = realEngine(clusterKubeconfig())
  const started = Date.now()
  const r = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 120s }'), { commit: BAD })
  const took = Date.now() - started
  await breaker.stop()
  const steps = r.steps.join('\n')
  t.match(r.outcome, { state: 'failed', rolledBack: true, revisionBefore: 1 }, steps)
  const cause = (r.outcome as { cause?: string }).cause
  t.ok(cause === 'progress-deadline' || cause === 'not-ready', `failed early by the Deployment's own limit (${cause})`)
  t.ok(breaker.broken.size >= 1, 'the BAD commit did get a pod')
  t.match(steps, /rolling back: .*restoring revision 1 of Deployment/)
  t.match(steps, /restored the pod template of revision 1 \(commit 111111111111\)/)
  t.ok(took < 60_000, `failed and rolled back in ${took} ms (timeout 120 s)`)
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
  t.equal(d.spec.template.metadata.annotations['kube-recycler.io/commit'], GOOD, 'the template pins the healthy commit again')
  t.notOk((d.spec.template.spec.containers[0].env ?? []).some((e: any) => e.value === BAD), 'no env var says BAD')
  await readyCount(ns.name, 'web', 3)
  const live = await pods(ns.name, 'web')
  t.ok(live.every((p) => p.metadata.annotations['kube-recycler.io/commit'] === GOOD), 'every pod on the healthy template')
  t.ok(live.every((p) => goodPods.includes(p.metadata.uid)), 'the healthy pods were never taken down')
  timed('rollout-notready-rolled-back', took)
  const ev = ((await kubectlJson(['get', 'events', '--field-selector', 'involvedObject.name=web'], { namespace: ns.name })).items as any[]).map((e) => `${e.reason}: ${e.message}`)
  t.match(ev.join('\n'), /RecycleRolledBack: kube-recycler rc-.*rolled back to revision 1/)
})

t.test('rollout onto a commit whose pods crash-loop: failed early by polling (no event needed), rolled back', async (t) => {
  const ns = await freshNamespace('heal-rollback-crash')
  t.teardown(ns.cleanup)
  // progressDeadlineSeconds 600: only the crash loop can fail it early.
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: workload('Deployment', 'web', { minReadySeconds: 3, podAnnotations: { 'kube-recycler.io/commit': GOOD } }) })
  await readyCount(ns.name, 'web', 3)
  await waitFor(async () => (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).status?.availableReplicas === 3, { description: '3 available' })
  const breaker = podBreaker(ns.name, 'web', (p) => p.metadata.annotations?.['kube-recycler.io/commit'] === BAD, async (pod) => {
    await notReady(ns.name, pod)
    await new Promise((r) => setTimeout(r, 300))
    for (const n of [1, 2, 3]) await crashLoop(ns.name, pod, n)
  })
  t.teardown(breaker.stop)
  const { engine } = realEngine(clusterKubeconfig())
  const started = Date.now()
  const r = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 120s }'), { commit: BAD })
  const took = Date.now() - started
  await breaker.stop()
  t.match(r.outcome, { state: 'failed', cause: 'crash-loop', rolledBack: true, reason: /new pods are crash-looping: web-\S+ \(CrashLoopBackOff, 3 restarts\)/ }, r.steps.join('\n'))
  t.ok(took < 40_000, `failed and rolled back in ${took} ms`)
  await readyCount(ns.name, 'web', 3)
  t.ok((await pods(ns.name, 'web')).every((p) => p.metadata.annotations['kube-recycler.io/commit'] === GOOD))
  timed('rollout-crashloop-rolled-back', took)
})

t.test('evict with a new commit: the pinning rollout is the recycle', async (t) => {
  const ns = await freshNamespace('heal-evict-pin')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: workload('Deployment', 'web', { podAnnotations: { 'kube-recycler.io/commit': GOOD } }) })
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: pdb('web') })
  await readyCount(ns.name, 'web', 3)
  const { engine } = realEngine(clusterKubeconfig())
  const r = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ strategy: evict, timeout: 90s }'), { commit: COMMIT })
  t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${r.steps.join('\n')}`)
  t.match(r.steps.join('\n'), /evict: the commit to run, c0ffeec0ffee, is not the one the pod template pins \(111111111111\).*that rollout is this recycle/)
  t.notMatch(r.steps.join('\n'), /^evicted: /m, 'nothing evicted on top')
  await readyCount(ns.name, 'web', 3)
  t.ok((await pods(ns.name, 'web')).every((p) => p.metadata.annotations['kube-recycler.io/commit'] === COMMIT), 'every pod on the production head')
  // The same commit again: the template already pins it, so evict evicts.
  const again = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ strategy: evict, cooldown: 0s, timeout: 90s }'), { commit: COMMIT })
  t.equal(again.outcome.state, 'succeeded', again.steps.join('\n'))
  t.equal(again.steps.filter((s) => s.startsWith('evicted: ')).length, 3)
})

t.test('StatefulSet: a rollout onto a commit whose pods never become Ready is rolled back through its ControllerRevision', async (t) => {
  const ns = await freshNamespace('heal-sts-rollback')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: workload('StatefulSet', 'db', { minReadySeconds: 3, podAnnotations: { 'kube-recycler.io/commit': GOOD } }) })
  await readyCount(ns.name, 'db', 3)
  const breaker = podBreaker(ns.name, 'db', (p) => p.metadata.annotations?.['kube-recycler.io/commit'] === BAD, (pod) => notReady(ns.name, pod))
  t.teardown(breaker.stop)
  const { engine } = realEngine(clusterKubeconfig())
  const started = Date.now()
  const r = await runOnce(engine, siteFor(`{ kind: StatefulSet, namespace: ${ns.name}, name: db }`, '{ timeout: 120s }'), { commit: BAD })
  const took = Date.now() - started
  await breaker.stop()
  const steps = r.steps.join('\n')
  t.match(r.outcome, { state: 'failed', cause: 'not-ready', rolledBack: true, reason: /never became Ready within 33s/ }, steps)
  t.match(steps, /restored the pod template of revision 1 \(commit 111111111111\)/)
  t.match(steps, /deleted db-2: not Ready on the failed revision/)
  await readyCount(ns.name, 'db', 3)
  const s = await kubectlJson(['get', 'statefulset', 'db'], { namespace: ns.name })
  t.equal(s.spec.template.metadata.annotations['kube-recycler.io/commit'], GOOD)
  t.ok((await pods(ns.name, 'db')).every((p) => p.metadata.annotations['kube-recycler.io/commit'] === GOOD), 'every pod on the healthy revision')
  timed('statefulset-rollout-notready-rolled-back', took)
})

t.test('evict with unhealthyPods: evict under IfHealthyBudget keeps asking, fails at the deadline, deletes nothing', async (t) => {
  const ns = await freshNamespace('heal-evict-only')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: workload('Deployment', 'web') })
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: pdb('web') })
  await readyCount(ns.name, 'web', 3)
  const original = (await pods(ns.name, 'web')).map((p) => p.metadata.name).sort()
  await notReady(ns.name, original[0]!)
  await notReady(ns.name, original[1]!)
  await readyCount(ns.name, 'web', 1, 3)
  await pdbSees(ns.name, 'web', 1)
  const { engine } = realEngine(clusterKubeconfig())
  const r = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ strategy: evict, unhealthyPods: evict, timeout: 4s }'))
  t.match(r.outcome, { state: 'failed', cause: 'deadline', reason: new RegExp(`deadline passed while evicting ${original[0]} \\(0/3 replaced\\): a PodDisruptionBudget kept refusing`) })
  t.match(r.steps.join('\n'), /not Ready; recycle.unhealthyPods: evict keeps asking/)
  t.match(r.steps.join('\n'), /no template to roll back/)
  t.same((await pods(ns.name, 'web')).map((p) => p.metadata.name).sort(), original, 'no pod was deleted')
})

t.test('evict with a new commit on an OnDelete StatefulSet: pinned without rolling, then evicted onto it', async (t) => {
  const ns = await freshNamespace('heal-ondelete-pin')
  t.teardown(ns.cleanup)
  const sts = JSON.parse(workload('StatefulSet', 'db', { podAnnotations: { 'kube-recycler.io/commit': GOOD } }))
  sts.spec.updateStrategy = { type: 'OnDelete' }
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: JSON.stringify(sts) })
  await readyCount(ns.name, 'db', 3)
  const { engine } = realEngine(clusterKubeconfig())
  const started = Date.now()
  const r = await runOnce(engine, siteFor(`{ kind: StatefulSet, namespace: ${ns.name}, name: db }`, '{ strategy: evict, timeout: 90s }'), { commit: COMMIT })
  const took = Date.now() - started
  t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${r.steps.join('\n')}`)
  t.match(r.steps.join('\n'), /pinned it in the template \(updateStrategy OnDelete: nothing rolls\)/)
  t.equal(r.steps.filter((s) => s.startsWith('evicted: ')).length, 3)
  await readyCount(ns.name, 'db', 3)
  t.ok((await pods(ns.name, 'db')).every((p) => p.metadata.annotations['kube-recycler.io/commit'] === COMMIT), 'every pod on the production head')
  timed('evict-statefulset-ondelete-pinned', took)
})
