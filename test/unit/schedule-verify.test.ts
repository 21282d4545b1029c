// The own-probe half: scheduled ticks feed the health machine, a recycle is
// verified by probing again (recovered / recycle-did-not-help), ticks never
// run after close. Real HTTP sites and the real prober; a small fake executor
// stands in for the cluster here (the cluster version is test/e2e/heal.test.ts).

import t from 'tap'
import { createProber } from '../../src/triggers/probe.ts'
import { startSite } from '../fixtures/sites.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'
import { SECRETS, testApp } from '../fixtures/app.ts'

const config = (url: string, schedule = '0 0 1 1 *', threshold = 2) => `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    schedule: "${schedule}"
    failureThreshold: ${threshold}
    checks:
      - { name: home, url: "${url}/", bodyContains: site-ok-marker, timeout: 2s }
      - { name: health, url: "${url}/health.json", json: { path: $.status, equals: ok }, timeout: 2s }
    recycle: { cooldown: 0s, verify: { delay: 0s, attempts: 2, interval: 0s } }
`

const fast = async () => {}

t.test('failureThreshold ticks → one recycle → verified recovered', async (t) => {
  const site = await startSite()
  t.teardown(() => site.close())
  const ex = fakeExecutor()
  const h = await testApp({
    config: config(site.origin),
    extra: { executor: ex, prober: createProber({ concurrency: 4 }), sleep: fast },
  })
  t.teardown(() => h.app.close())
  const sched = h.app.core.scheduler!
  t.equal((await sched.tick('shop'))!.ok, true)
  t.equal(h.app.core.store.get('shop').health, 'healthy')
  site.set('broken')
  const v1 = await sched.tick('shop')
  t.equal(v1!.ok, false)
  t.match(v1!.summary, /2\/2 checks failed: home \(expected status 200-299, got 500/)
  t.equal(ex.runs.length, 0, 'one failing tick is below the threshold')
  await sched.tick('shop')
  await ex.waitRuns(1)
  t.equal(ex.runs.length, 1, 'the second failing tick requests the recycle')
  t.equal(ex.runs[0]!.record.trigger.source, 'probe')
  await sched.tick('shop')
  t.equal(ex.runs.length, 1, 'no second recycle while it runs')
  site.set('healthy')
  ex.finish({ state: 'succeeded', message: 'rolled out' })
  await h.app.core.recycler.idle()
  const rec = h.app.core.store.get('shop').recycles.at(-1)!
  t.equal(rec.state, 'succeeded')
  t.equal(rec.verification, 'recovered')
  t.equal(h.app.core.store.get('shop').health, 'healthy')
  const status = (await h.app.inject({ method: 'GET', url: '/status' })).json()
  t.equal(status.sites[0].health, 'healthy')
  t.equal(status.sites[0].lastRecycle.verification, 'recovered')
  t.equal(status.sites[0].lastVerdict.ok, true, 'the last verdict (the verification) is shown')
  t.equal(status.sites[0].lastVerdict.source, 'probe')
})

t.test('still failing after the recycle → recycle-did-not-help, no second automatic recycle', async (t) => {
  const site = await startSite()
  t.teardown(() => site.close())
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'rolled out' } })
  const h = await testApp({
    config: config(site.origin, '0 0 1 1 *', 1),
    extra: { executor: ex, prober: createProber({ concurrency: 4 }), sleep: fast },
  })
  t.teardown(() => h.app.close())
  const sched = h.app.core.scheduler!
  site.set('wrong-body')
  await sched.tick('shop')
  await h.app.core.recycler.idle()
  const rec = h.app.core.store.get('shop').recycles.at(-1)!
  t.equal(rec.verification, 'recycle-did-not-help')
  t.match(
    rec.steps.map((s) => s.message).join('\n'),
    /verification 1\/2: still failing[\s\S]*verification 2\/2: still failing[\s\S]*recycle-did-not-help: shop still fails after recycle/,
  )
  t.ok(
    h.logs.some((l) => l.includes('"level":"error"') && l.includes('recycle-did-not-help')),
    'a loud log line',
  )
  for (let i = 0; i < 3; i++) await sched.tick('shop')
  await h.app.core.recycler.idle()
  t.equal(ex.runs.length, 1, 'no second automatic recycle')
  const status = (await h.app.inject({ method: 'GET', url: '/status' })).json()
  t.match(status.sites[0].note, /recycle-did-not-help/)
  // An operator may still recycle; a recovery re-arms the automatic path.
  site.set('healthy')
  await sched.tick('shop')
  t.equal(h.app.core.store.get('shop').health, 'healthy')
})

t.test('cron ticks run on schedule, never overlap, and none runs after close', async (t) => {
  const site = await startSite({ mode: 'slow', delayMs: 1500 })
  t.teardown(() => site.close())
  const h = await testApp({
    config: config(site.origin, '* * * * * *', 100),
    extra: { prober: createProber({ concurrency: 4 }), schedule: true },
  })
  await new Promise((r) => setTimeout(r, 3500))
  const ticks = h.app.core.scheduler!.ticks
  t.ok(ticks >= 1 && ticks <= 3, `each 1.5 s tick blocks the next (ticks: ${ticks})`)
  t.ok(site.maxInFlight <= 2, `one tick at a time: at most its 2 checks in flight (${site.maxInFlight})`)
  await h.app.close()
  const requests = site.requests
  const after = h.app.core.scheduler!.ticks
  await new Promise((r) => setTimeout(r, 2500))
  t.equal(h.app.core.scheduler!.ticks, after, 'no tick after close')
  t.equal(site.requests, requests, 'no request after close')
})

t.test('only the leader probes', async (t) => {
  const site = await startSite()
  t.teardown(() => site.close())
  let leader = false
  const h = await testApp({
    config: config(site.origin),
    extra: { prober: createProber({ concurrency: 4 }), isLeader: () => leader },
  })
  t.teardown(() => h.app.close())
  t.equal(await h.app.core.scheduler!.tick('shop'), undefined)
  t.equal(site.requests, 0)
  leader = true
  t.ok(await h.app.core.scheduler!.tick('shop'))
  t.equal(site.requests, 2)
})

t.test(
  'did not help on a newly pinned commit → the revision before is restored once and verified again (rolled-back)',
  async (t) => {
    const site = await startSite()
    t.teardown(() => site.close())
    const rollBacks: { toRevision: number; because: string }[] = []
    const ex = {
      ...fakeExecutor({
        auto: { state: 'succeeded', message: 'rolled out', revisionBefore: 4, commitBefore: 'aaaaaaa0000' },
      }),
      async rollBack(_site: unknown, o: { toRevision: number; because: string; step(m: string): void }) {
        rollBacks.push({ toRevision: o.toRevision, because: o.because })
        o.step('restored the pod template of revision 4')
        site.set('healthy')
        return { state: 'succeeded' as const, message: 'rolled back to revision 4: done' }
      },
    }
    const h = await testApp({
      config: config(site.origin, '0 0 1 1 *', 1),
      extra: { executor: ex, prober: createProber({ concurrency: 4 }), sleep: fast },
    })
    t.teardown(() => h.app.close())
    site.set('broken')
    const op = { authorization: `Bearer ${SECRETS.recycleToken}`, 'content-type': 'application/json' }
    const res = await h.app.inject({
      method: 'POST',
      url: '/recycle',
      headers: op,
      payload: { site: 'shop', reason: 'new release', commit: 'bbbbbbb1111' },
    })
    await h.app.core.recycler.idle()
    const rec = h.app.core.recycler.get(res.json().id)!
    t.same(
      rollBacks.map((r) => r.toRevision),
      [4],
      'one rollback, to the revision before',
    )
    t.match(rollBacks[0]!.because, /still failing on bbbbbbb1111 after the rollout/)
    t.equal(rec.state, 'rolled-back')
    t.equal(rec.verification, 'recovered', 'verified again after the rollback')
    t.match(
      rec.steps.map((s) => s.message).join('\n'),
      /rolled-back: rolled back to revision 4: done \(back on aaaaaaa0000\); verifying again[\s\S]*recovered/,
    )
    t.match((await h.app.inject({ method: 'GET', url: '/metrics' })).body, /outcome="rolled-back"\} 1/)
    // The same pin as before: the revision before runs the same code; no rollback.
    site.set('broken')
    h.clock.advance(3600_000)
    const same = await h.app.inject({
      method: 'POST',
      url: '/recycle',
      headers: op,
      payload: { site: 'shop', reason: 'again', commit: 'aaaaaaa0000' },
    })
    await h.app.core.recycler.idle()
    t.equal(rollBacks.length, 1, 'no rollback when the pin did not change')
    t.equal(h.app.core.recycler.get(same.json().id)!.verification, 'recycle-did-not-help')
  },
)
