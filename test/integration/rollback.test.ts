// A rollout that cannot finish fails early and is rolled back (issue 10),
// on the real control plane: a "kubelet" in the test (podBreaker) makes the
// pods of the BAD commit NotReady or crash-looping; the engine must fail the
// rollout by the workload's own limits, restore the revision before it, and
// leave every pod on the healthy template. Prints `heal-timing <name> <ms>`.

import t from 'tap'
import { clusterKubeconfig, freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { realEngine, runOnce, siteFor } from '../fixtures/engine.ts'
import { BAD, GOOD, crashLoop, notReady, podBreaker, pods, readyCount, timings, workload } from '../fixtures/heal.ts'

const timed = timings(t)

t.test('rollout onto a commit whose pods never become Ready: failed early, rolled back, healthy again', async (t) => {
  const ns = await freshNamespace('heal-rollback')
  t.teardown(ns.cleanup)
  // minReadySeconds: the breaker below needs a moment to make a new pod NotReady; until then it is not available.
  await kubectl(['apply', '-f', '-'], {
    namespace: ns.name,
    input: workload('Deployment', 'web', {
      progressDeadlineSeconds: 10,
      minReadySeconds: 3,
      podAnnotations: { 'kube-recycler.io/commit': GOOD },
    }),
  })
  await readyCount(ns.name, 'web', 3)
  await waitFor(
    async () =>
      (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).status?.availableReplicas === 3,
    { description: '3 available' },
  )
  const goodPods = (await pods(ns.name, 'web')).map((p) => p.metadata.uid)
  // The BAD commit's pods fail their readiness probe.
  const breaker = podBreaker(
    ns.name,
    'web',
    (p) => p.metadata.annotations?.['kube-recycler.io/commit'] === BAD,
    (pod) => notReady(ns.name, pod),
  )
  t.teardown(breaker.stop)
  const { engine } = realEngine(clusterKubeconfig())
  const started = Date.now()
  const r = await runOnce(
    engine,
    siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 120s }'),
    { commit: BAD },
  )
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
  t.equal(
    d.spec.template.metadata.annotations['kube-recycler.io/commit'],
    GOOD,
    'the template pins the healthy commit again',
  )
  t.notOk(
    (d.spec.template.spec.containers[0].env ?? []).some((e: any) => e.value === BAD),
    'no env var says BAD',
  )
  await readyCount(ns.name, 'web', 3)
  const live = await pods(ns.name, 'web')
  t.ok(
    live.every((p) => p.metadata.annotations['kube-recycler.io/commit'] === GOOD),
    'every pod on the healthy template',
  )
  t.ok(
    live.every((p) => goodPods.includes(p.metadata.uid)),
    'the healthy pods were never taken down',
  )
  timed('rollout-notready-rolled-back', took)
  const ev = (
    (await kubectlJson(['get', 'events', '--field-selector', 'involvedObject.name=web'], { namespace: ns.name }))
      .items as any[]
  ).map((e) => `${e.reason}: ${e.message}`)
  t.match(ev.join('\n'), /RecycleRolledBack: kube-recycler rc-.*rolled back to revision 1/)
})

t.test(
  'rollout onto a commit whose pods crash-loop: failed early by polling (no event needed), rolled back',
  async (t) => {
    const ns = await freshNamespace('heal-rollback-crash')
    t.teardown(ns.cleanup)
    // progressDeadlineSeconds 600: only the crash loop can fail it early.
    await kubectl(['apply', '-f', '-'], {
      namespace: ns.name,
      input: workload('Deployment', 'web', { minReadySeconds: 3, podAnnotations: { 'kube-recycler.io/commit': GOOD } }),
    })
    await readyCount(ns.name, 'web', 3)
    await waitFor(
      async () =>
        (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).status?.availableReplicas === 3,
      { description: '3 available' },
    )
    const breaker = podBreaker(
      ns.name,
      'web',
      (p) => p.metadata.annotations?.['kube-recycler.io/commit'] === BAD,
      async (pod) => {
        await notReady(ns.name, pod)
        await new Promise((r) => setTimeout(r, 300))
        for (const n of [1, 2, 3]) await crashLoop(ns.name, pod, n)
      },
    )
    t.teardown(breaker.stop)
    const { engine } = realEngine(clusterKubeconfig())
    const started = Date.now()
    const r = await runOnce(
      engine,
      siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ timeout: 120s }'),
      { commit: BAD },
    )
    const took = Date.now() - started
    await breaker.stop()
    t.match(
      r.outcome,
      {
        state: 'failed',
        cause: 'crash-loop',
        rolledBack: true,
        // The judge fails the rollout at the first CrashLoopBackOff it polls: after the
        // breaker's first, second or third status write, whichever the 2 s poll meets.
        reason: /new pods are crash-looping: web-\S+ \(CrashLoopBackOff, [123] restarts\)/,
      },
      r.steps.join('\n'),
    )
    t.ok(took < 40_000, `failed and rolled back in ${took} ms`)
    await readyCount(ns.name, 'web', 3)
    t.ok((await pods(ns.name, 'web')).every((p) => p.metadata.annotations['kube-recycler.io/commit'] === GOOD))
    timed('rollout-crashloop-rolled-back', took)
  },
)

t.test(
  'StatefulSet: a rollout onto a commit whose pods never become Ready is rolled back through its ControllerRevision',
  async (t) => {
    const ns = await freshNamespace('heal-sts-rollback')
    t.teardown(ns.cleanup)
    await kubectl(['apply', '-f', '-'], {
      namespace: ns.name,
      input: workload('StatefulSet', 'db', { minReadySeconds: 3, podAnnotations: { 'kube-recycler.io/commit': GOOD } }),
    })
    await readyCount(ns.name, 'db', 3)
    const breaker = podBreaker(
      ns.name,
      'db',
      (p) => p.metadata.annotations?.['kube-recycler.io/commit'] === BAD,
      (pod) => notReady(ns.name, pod),
    )
    t.teardown(breaker.stop)
    const { engine } = realEngine(clusterKubeconfig())
    const started = Date.now()
    const r = await runOnce(
      engine,
      siteFor(`{ kind: StatefulSet, namespace: ${ns.name}, name: db }`, '{ timeout: 120s }'),
      { commit: BAD },
    )
    const took = Date.now() - started
    await breaker.stop()
    const steps = r.steps.join('\n')
    t.match(
      r.outcome,
      { state: 'failed', cause: 'not-ready', rolledBack: true, reason: /never became Ready within 33s/ },
      steps,
    )
    t.match(steps, /restored the pod template of revision 1 \(commit 111111111111\)/)
    t.match(steps, /deleted db-2: not Ready on the failed revision/)
    await readyCount(ns.name, 'db', 3)
    const s = await kubectlJson(['get', 'statefulset', 'db'], { namespace: ns.name })
    t.equal(s.spec.template.metadata.annotations['kube-recycler.io/commit'], GOOD)
    t.ok(
      (await pods(ns.name, 'db')).every((p) => p.metadata.annotations['kube-recycler.io/commit'] === GOOD),
      'every pod on the healthy revision',
    )
    timed('statefulset-rollout-notready-rolled-back', took)
  },
)

t.test(
  'DaemonSet: a rollout onto a commit whose pods never become Ready is rolled back through its ControllerRevision',
  async (t) => {
    const ns = await freshNamespace('heal-ds-rollback')
    t.teardown(ns.cleanup)
    await kubectl(['apply', '-f', '-'], {
      namespace: ns.name,
      input: workload('DaemonSet', 'agent', {
        minReadySeconds: 3,
        podAnnotations: { 'kube-recycler.io/commit': GOOD },
      }),
    })
    await readyCount(ns.name, 'agent', 3)
    await waitFor(
      async () =>
        (await kubectlJson(['get', 'daemonset', 'agent'], { namespace: ns.name })).status?.numberAvailable === 3,
      { description: '3 available' },
    )
    const breaker = podBreaker(
      ns.name,
      'agent',
      (p) => p.metadata.annotations?.['kube-recycler.io/commit'] === BAD,
      (pod) => notReady(ns.name, pod),
    )
    t.teardown(breaker.stop)
    const { engine } = realEngine(clusterKubeconfig())
    const started = Date.now()
    const r = await runOnce(
      engine,
      siteFor(`{ kind: DaemonSet, namespace: ${ns.name}, name: agent }`, '{ timeout: 120s }'),
      { commit: BAD },
    )
    const took = Date.now() - started
    await breaker.stop()
    const steps = r.steps.join('\n')
    t.match(
      r.outcome,
      {
        state: 'failed',
        cause: 'not-ready',
        rolledBack: true,
        revisionBefore: 1,
        reason: /never became Ready within 33s/,
      },
      steps,
    )
    t.match(steps, /restored the pod template of revision 1 \(commit 111111111111\)/)
    await readyCount(ns.name, 'agent', 3)
    const d = await kubectlJson(['get', 'daemonset', 'agent'], { namespace: ns.name })
    t.equal(d.spec.template.metadata.annotations['kube-recycler.io/commit'], GOOD)
    const live = await pods(ns.name, 'agent')
    t.ok(
      live.every((p) => p.metadata.annotations['kube-recycler.io/commit'] === GOOD),
      'every pod on the healthy revision',
    )
    t.equal(new Set(live.map((p) => p.spec.nodeName)).size, 3, 'one pod per node')
    timed('daemonset-rollout-notready-rolled-back', took)
  },
)
