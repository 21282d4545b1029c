// Canary-first rollout (recycle.canary) on running pods: the example site,
// its init container checking out the pinned commit from the git server,
// nginx serving it; the real engine, the real prober aimed at the canary
// pod's own IP. For a Deployment and a StatefulSet:
//   - a good new head: the canary passes, the hold ends, every pod ends on it;
//   - a broken new head: canary-failed with the pod's answer; exactly one pod
//     ever ran the bad commit, the others kept their uids and their commit,
//     the template and the hold fields are as before.

import t, { type Test } from 'tap'
import { clusterKubeconfig } from '../fixtures/kube-cluster.ts'
import { realEngine, runOnce, siteFor } from '../fixtures/engine.ts'
import { siteFiles, visitSite } from '../fixtures/example-site.ts'
import { waitFor } from '../fixtures/wait.ts'
import {
  deployCanarySite,
  getWorkload,
  livePods,
  patchSpec,
  podCommit,
  podHistory,
  settled,
  type SiteKind,
} from '../fixtures/canary-site.ts'
import { createProber } from '../../src/triggers/probe.ts'
import { createEngine } from '../../src/recycle/engine.ts'
import { quietLogger } from '../fixtures/engine.ts'
import { systemClock } from '../../src/clock.ts'

t.setTimeout(600_000)

const REPLICAS = 3

function canaryEngine(t: Test) {
  const prober = createProber({ concurrency: 4 })
  t.teardown(() => prober.close())
  const { kube } = realEngine(clusterKubeconfig())
  t.teardown(() => kube.close())
  return createEngine({ kube, clock: systemClock, logger: quietLogger(), holder: 'canary-test', checks: prober })
}

const siteConfig = (kind: SiteKind, ns: string, url: string) =>
  siteFor(
    `{ kind: ${kind}, namespace: ${ns}, name: web }\n    checks:\n      - { name: home, url: "${url}/", bodyContains: site-ok-marker, timeout: 2s }`,
    '{ canary: true, commitEnv: SITE_COMMIT, timeout: 150s, cooldown: 0s, verify: { attempts: 2, interval: 1s } }',
  )

/** The fields a hold changes, as the workload has them. */
const holdFields = (kind: SiteKind, w: any) =>
  kind === 'Deployment'
    ? {
        minReadySeconds: w.spec.minReadySeconds ?? 0,
        progressDeadlineSeconds: w.spec.progressDeadlineSeconds,
        strategy: w.spec.strategy,
      }
    : // An absent partition is 0 (the API server's default): the release writes 0.
      { type: w.spec.updateStrategy.type, partition: w.spec.updateStrategy.rollingUpdate?.partition ?? 0 }

for (const kind of ['Deployment', 'StatefulSet'] as const) {
  t.test(`${kind}: a broken head fails its canary; one pod ever ran it, the others never left`, async (t) => {
    const site = await deployCanarySite(kind, REPLICAS, `canary-fail-${kind.toLowerCase()}`)
    t.teardown(site.cleanup)
    // Fields the hold replaces, set to something other than what it writes.
    if (kind === 'Deployment')
      await patchSpec(kind, site.ns, { strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } })
    await settled(kind, site.ns, REPLICAS)
    const before = await getWorkload(kind, site.ns)
    const originals = new Map((await livePods(site.ns)).map((p) => [p.metadata.uid, p.metadata.name]))
    const bad = await site.repo.push('release 2: broken', siteFiles('2', false))
    const history = podHistory(site.ns)
    t.teardown(history.stop)

    const engine = canaryEngine(t)
    const r = await runOnce(engine, siteConfig(kind, site.ns, site.url), { commit: bad })
    const steps = r.steps.join('\n')
    t.match(r.outcome, { state: 'failed', canary: { passed: false, check: 'home' } }, steps)
    const canary = (r.outcome as any).canary
    t.match(canary.message, /site-ok-marker/, "the pod's answer: the body check that failed")
    t.equal(canary.commit, bad, 'the canary pod ran the broken head')
    t.match(steps, /canary: .*waiting for it to be Ready/)
    t.match(steps, /restored revision \d+ and ended the hold in one request/)
    t.notOk((r.outcome as any).revisionBefore, 'not rolled back a second time: the canary was undone')

    await settled(kind, site.ns, REPLICAS)
    await history.stop()
    const ranBad = history.ran(bad)
    t.equal(
      ranBad.length,
      1,
      `exactly one pod ever ran the broken commit: ${JSON.stringify([...history.seen.values()])}`,
    )
    const after = await livePods(site.ns)
    const kept = after.filter((p) => originals.has(p.metadata.uid))
    t.equal(kept.length, REPLICAS - (kind === 'StatefulSet' ? 1 : 0), 'the held pods kept their uids')
    for (const p of after) t.equal(podCommit(p), site.good, `${p.metadata.name} runs release 1`)
    if (kind === 'StatefulSet') {
      const replaced = after.find((p) => !originals.has(p.metadata.uid))
      t.equal(replaced?.metadata.name, `web-${REPLICAS - 1}`, 'only the highest ordinal was ever updated')
    }

    const w = await getWorkload(kind, site.ns)
    t.equal(w.spec.template.metadata.annotations['kube-recycler.io/commit'], site.good, 'template restored')
    t.notOk(
      (w.spec.template.spec.initContainers[0].env ?? []).some((e: any) => e.name === 'SITE_COMMIT'),
      'no pin of the broken head left in the template',
    )
    t.same(holdFields(kind, w), holdFields(kind, before), 'the hold fields are as they were')
    t.match(JSON.parse(w.metadata.annotations['kube-recycler.io/canary']), { phase: 'undone', recycle: r.record.id })
    const v = await visitSite(site.url, 6)
    t.same([...v.commits], [site.good], 'the Service answers from release 1')
    t.equal(v.healthy, 6)
  })

  t.test(`${kind}: a good head passes its canary; the others follow, every pod ends on it`, async (t) => {
    const site = await deployCanarySite(kind, REPLICAS, `canary-pass-${kind.toLowerCase()}`)
    t.teardown(site.cleanup)
    const before = await getWorkload(kind, site.ns)
    const next = await site.repo.push('release 2', siteFiles('2', true))
    const engine = canaryEngine(t)
    const r = await runOnce(engine, siteConfig(kind, site.ns, site.url), { commit: next })
    const steps = r.steps.join('\n')
    t.match(r.outcome, { state: 'succeeded', canary: { passed: true, commit: next } }, steps)
    t.match(steps, /canary .* is healthy: released the hold/)
    await settled(kind, site.ns, REPLICAS)
    for (const p of await livePods(site.ns)) t.equal(podCommit(p), next, `${p.metadata.name} runs release 2`)
    const w = await getWorkload(kind, site.ns)
    t.same(holdFields(kind, w), holdFields(kind, before), 'the hold fields are as they were')
    const v = await waitFor(
      async () => {
        const v = await visitSite(site.url, 6)
        return v.commits.size === 1 && v.commits.has(next) ? v : undefined
      },
      { timeoutMs: 30_000, description: 'release 2 serves' },
    )
    t.equal(v.healthy, 6)
  })
}

t.test('Deployment: a canary that never becomes Ready (its commit is not on the branch) is undone early', async (t) => {
  const site = await deployCanarySite('Deployment', REPLICAS, 'canary-never-ready')
  t.teardown(site.cleanup)
  const before = await getWorkload('Deployment', site.ns)
  const originals = new Set((await livePods(site.ns)).map((p) => p.metadata.uid))
  const stray = await site.repo.pushTo('experiment', 'not on production', siteFiles('x', true))
  const history = podHistory(site.ns)
  t.teardown(history.stop)
  const started = Date.now()
  const r = await runOnce(canaryEngine(t), siteConfig('Deployment', site.ns, site.url), { commit: stray })
  const took = Date.now() - started
  const steps = r.steps.join('\n')
  t.match(r.outcome, { state: 'failed', canary: { passed: false, commit: stray } }, steps)
  t.match((r.outcome as any).canary.message, /crash-looping|cannot start/, 'the judge of the new pod says why')
  t.ok(took < 120_000, `undone early (${Math.round(took / 1000)} s), not at the 150 s timeout`)
  await settled('Deployment', site.ns, REPLICAS)
  await history.stop()
  t.equal(history.ran(stray).length, 1, 'one pod was ever made for the stray commit')
  t.same(
    new Set((await livePods(site.ns)).map((p) => p.metadata.uid)),
    originals,
    'the held pods are the pods of before',
  )
  const w = await getWorkload('Deployment', site.ns)
  t.same(holdFields('Deployment', w), holdFields('Deployment', before), 'the hold fields are as they were')
  t.equal(w.spec.template.metadata.annotations['kube-recycler.io/commit'], site.good)
})
