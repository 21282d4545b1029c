// Heal what is really broken (issue 10), on the real control plane: the
// Deployment, StatefulSet, DaemonSet and disruption controllers act on what
// the engine does with NotReady and crash-looping pods (test/fixtures/heal.ts
// says how they are made). Every scenario prints `heal-timing <name> <ms>`:
// recycle start to healed.

import t from 'tap'
import { clusterKubeconfig, freshNamespace, kubectl } from '../fixtures/kube-cluster.ts'
import { realEngine, runOnce, siteFor } from '../fixtures/engine.ts'
import {
  COMMIT,
  GOOD,
  crashLoop,
  notReady,
  pdb,
  pdbSees,
  pods,
  readyCount,
  timings,
  workload,
} from '../fixtures/heal.ts'

const timed = timings(t)

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
    const r = await runOnce(
      engine,
      siteFor(
        `{ kind: Deployment, namespace: ${ns.name}, name: web }`,
        `{ strategy: ${strategy}, maxUnavailable: 1, timeout: 90s }`,
      ),
    )
    const took = Date.now() - started
    const steps = r.steps.join('\n')
    t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${steps}`)
    await readyCount(ns.name, 'web', 3)
    timed(`${strategy}-deployment-2-of-3-notready`, took)
    const now = (await pods(ns.name, 'web')).map((p) => p.metadata.uid)
    t.equal(now.length, 3)
    t.match(
      steps,
      new RegExp(`first the 2 unhealthy at once.*${original[0]} \\(not Ready\\), ${original[2]} \\(not Ready\\)`),
      'the NotReady pods go first',
    )
    const firstRemoval = r.steps.find((s) => /^(evicted|deleted|a PodDisruptionBudget refuses)/.test(s)) ?? ''
    t.match(firstRemoval, new RegExp(`${original[0]}`), 'the first pod removed is a NotReady one')
    if (strategy === 'evict') {
      t.match(
        steps,
        new RegExp(
          `a PodDisruptionBudget refuses to evict ${original[0]} \\(not Ready\\).*deleted it instead.*cannot lower availability \\(recycle.unhealthyPods: delete\\)`,
        ),
        'the refused NotReady pod is deleted, and the steps say why',
      )
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
  const r = await runOnce(
    engine,
    siteFor(
      `{ kind: Deployment, namespace: ${ns.name}, name: web }`,
      '{ strategy: evict, unhealthyPods: evict, timeout: 90s }',
    ),
  )
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
  const looping = (await pods(ns.name, 'web')).filter(
    (p) => p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff',
  )
  t.same(
    looping.map((p) => [p.metadata.name, p.status.containerStatuses[0].restartCount]).sort(),
    [
      [original[1], 5],
      [original[2], 5],
    ],
    'the status says CrashLoopBackOff, 5 restarts',
  )
  const { engine } = realEngine(clusterKubeconfig())
  const started = Date.now()
  const r = await runOnce(
    engine,
    siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ strategy: evict, timeout: 90s }'),
  )
  const took = Date.now() - started
  t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${r.steps.join('\n')}`)
  await readyCount(ns.name, 'web', 3)
  timed('evict-deployment-2-of-3-crashloop', took)
  t.match(
    r.steps.join('\n'),
    new RegExp(`${original[1]} \\(crash-looping, 5 restarts\\), ${original[2]} \\(crash-looping, 5 restarts\\)`),
  )
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
    const r = await runOnce(
      engine,
      siteFor(`{ kind: ${kind}, namespace: ${ns.name}, name: ${name} }`, '{ strategy: evict, timeout: 120s }'),
    )
    const took = Date.now() - started
    t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${r.steps.join('\n')}`)
    await readyCount(ns.name, name, 3)
    timed(`evict-${kind.toLowerCase()}-2-of-3-notready`, took)
    const now = await pods(ns.name, name)
    t.ok(
      now.every((p) => !originalUids.includes(p.metadata.uid)),
      'every pod replaced',
    )
    if (kind === 'DaemonSet') t.equal(new Set(now.map((p) => p.spec.nodeName)).size, 3, 'one pod per node')
  })
}

t.test('evict with a new commit: the pinning rollout is the recycle', async (t) => {
  const ns = await freshNamespace('heal-evict-pin')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], {
    namespace: ns.name,
    input: workload('Deployment', 'web', { podAnnotations: { 'kube-recycler.io/commit': GOOD } }),
  })
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: pdb('web') })
  await readyCount(ns.name, 'web', 3)
  const { engine } = realEngine(clusterKubeconfig())
  const r = await runOnce(
    engine,
    siteFor(`{ kind: Deployment, namespace: ${ns.name}, name: web }`, '{ strategy: evict, timeout: 90s }'),
    { commit: COMMIT },
  )
  t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${r.steps.join('\n')}`)
  t.match(
    r.steps.join('\n'),
    /evict: the commit to run, c0ffeec0ffee, is not the one the pod template pins \(111111111111\).*that rollout is this recycle/,
  )
  t.notMatch(r.steps.join('\n'), /^evicted: /m, 'nothing evicted on top')
  await readyCount(ns.name, 'web', 3)
  t.ok(
    (await pods(ns.name, 'web')).every((p) => p.metadata.annotations['kube-recycler.io/commit'] === COMMIT),
    'every pod on the production head',
  )
  // The same commit again: the template already pins it, so evict evicts.
  const again = await runOnce(
    engine,
    siteFor(
      `{ kind: Deployment, namespace: ${ns.name}, name: web }`,
      '{ strategy: evict, cooldown: 0s, timeout: 90s }',
    ),
    { commit: COMMIT },
  )
  t.equal(again.outcome.state, 'succeeded', again.steps.join('\n'))
  t.equal(again.steps.filter((s) => s.startsWith('evicted: ')).length, 3)
})

t.test(
  'evict with unhealthyPods: evict under IfHealthyBudget keeps asking, fails at the deadline, deletes nothing',
  async (t) => {
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
    const r = await runOnce(
      engine,
      siteFor(
        `{ kind: Deployment, namespace: ${ns.name}, name: web }`,
        '{ strategy: evict, unhealthyPods: evict, timeout: 4s }',
      ),
    )
    t.match(r.outcome, {
      state: 'failed',
      cause: 'deadline',
      reason: new RegExp(
        `deadline passed while evicting ${original[0]} \\(0/3 replaced\\): a PodDisruptionBudget kept refusing`,
      ),
    })
    t.match(r.steps.join('\n'), /not Ready; recycle.unhealthyPods: evict keeps asking/)
    t.match(r.steps.join('\n'), /no template to roll back/)
    t.same((await pods(ns.name, 'web')).map((p) => p.metadata.name).sort(), original, 'no pod was deleted')
  },
)

t.test(
  'evict with a new commit on an OnDelete StatefulSet: pinned without rolling, then evicted onto it',
  async (t) => {
    const ns = await freshNamespace('heal-ondelete-pin')
    t.teardown(ns.cleanup)
    const sts = JSON.parse(workload('StatefulSet', 'db', { podAnnotations: { 'kube-recycler.io/commit': GOOD } }))
    sts.spec.updateStrategy = { type: 'OnDelete' }
    await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: JSON.stringify(sts) })
    await readyCount(ns.name, 'db', 3)
    const { engine } = realEngine(clusterKubeconfig())
    const started = Date.now()
    const r = await runOnce(
      engine,
      siteFor(`{ kind: StatefulSet, namespace: ${ns.name}, name: db }`, '{ strategy: evict, timeout: 90s }'),
      { commit: COMMIT },
    )
    const took = Date.now() - started
    t.equal(r.outcome.state, 'succeeded', `${JSON.stringify(r.outcome)}\n${r.steps.join('\n')}`)
    t.match(r.steps.join('\n'), /pinned it in the template \(updateStrategy OnDelete: nothing rolls\)/)
    t.equal(r.steps.filter((s) => s.startsWith('evicted: ')).length, 3)
    await readyCount(ns.name, 'db', 3)
    t.ok(
      (await pods(ns.name, 'db')).every((p) => p.metadata.annotations['kube-recycler.io/commit'] === COMMIT),
      'every pod on the production head',
    )
    timed('evict-statefulset-ondelete-pinned', took)
  },
)
