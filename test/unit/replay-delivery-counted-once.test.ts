// A delivery is counted once, whatever it says: its key (job, build, site)
// is stored even when the report changes nothing, so a captured signed
// SUCCESS replayed within the signature window is a duplicate (it cannot
// reset the failure count), and a build re-reported with another status
// does not count again. The cron probes have no delivery key: a probe that
// changes nothing still writes nothing.

import t from 'tap'
import { testApp, TEST_CONFIG } from '../fixtures/app.ts'
import { parseConfig } from '../../src/config/load.ts'
import type { Verdict } from '../../src/health/verdict.ts'

type H = Awaited<ReturnType<typeof testApp>>
const deliver = async (h: H, body: unknown) => {
  const raw = JSON.stringify(body)
  const headers = h.signed(raw)
  const r = await h.app.inject({ method: 'POST', url: '/webhooks/jenkins', headers, payload: raw })
  return {
    status: r.statusCode,
    json: r.json() as Record<string, any>,
    replay: () =>
      h.app
        .inject({ method: 'POST', url: '/webhooks/jenkins', headers, payload: raw })
        .then((x) => ({ status: x.statusCode, json: x.json() as Record<string, any> })),
  }
}

t.test('a captured signed SUCCESS replayed within the window is a duplicate and resets nothing', async (t) => {
  const h = await testApp()
  t.after(() => h.app.close())
  // blog: threshold 2, only FAILURE counts.
  t.equal((await deliver(h, { job: 'blog-integrity', build: 1, status: 'SUCCESS' })).json.health, 'healthy')
  h.clock.advance(10_000)
  // A passing report that changes nothing: the one an attacker captures.
  const captured = await deliver(h, { job: 'blog-integrity', build: 2, status: 'SUCCESS' })
  t.equal(captured.json.action, 'none')
  h.clock.advance(10_000)
  const f1 = await deliver(h, { job: 'blog-integrity', build: 3, status: 'FAILURE' })
  t.equal(f1.json.reason, '1/2 consecutive failures')
  h.clock.advance(10_000)
  const replayed = await captured.replay()
  t.equal(replayed.status, 202)
  t.equal(replayed.json.action, 'duplicate', 'the replay is a duplicate')
  t.equal(h.app.core.store.get('blog').consecutiveFailures, 1, 'the failure count stands')
  const f2 = await deliver(h, { job: 'blog-integrity', build: 4, status: 'FAILURE' })
  t.match(
    f2.json.action,
    /^(planned|recycle-requested)$/,
    'the next failure is the second in a row: a recycle (planned: no cluster)',
  )
})

t.test('a build re-reported with another status is counted once', async (t) => {
  const h = await testApp()
  t.after(() => h.app.close())
  await deliver(h, { job: 'blog-integrity', build: 1, status: 'SUCCESS' })
  h.clock.advance(10_000)
  t.equal((await deliver(h, { job: 'blog-integrity', build: 2, status: 'SUCCESS' })).json.action, 'none')
  h.clock.advance(10_000)
  const again = await deliver(h, { job: 'blog-integrity', build: 2, status: 'FAILURE' })
  t.equal(again.json.action, 'duplicate', 'build 2 was delivered already')
  t.match(again.json.reason, /jenkins:blog-integrity#2@blog was already received \(SUCCESS at /)
  t.equal(h.app.core.store.get('blog').consecutiveFailures, 0)
  // And the other way round, in the Notification plugin's format.
  const f = await deliver(h, { name: 'blog-integrity', build: { number: 3, phase: 'COMPLETED', status: 'FAILURE' } })
  t.equal(f.json.reason, '1/2 consecutive failures')
  const s = await deliver(h, { name: 'blog-integrity', build: { number: 3, phase: 'FINALIZED', status: 'SUCCESS' } })
  t.equal(s.json.action, 'duplicate')
  t.equal(h.app.core.store.get('blog').consecutiveFailures, 1)
})

t.test('a probe verdict that changes nothing writes nothing (no delivery key)', async (t) => {
  const h = await testApp()
  t.after(() => h.app.close())
  const site = parseConfig(TEST_CONFIG).sites.find((s) => s.name === 'blog')!
  const probe = (at: number): Verdict => ({
    site: 'blog',
    ok: true,
    source: 'probe',
    at: new Date(at).toISOString(),
    checks: [],
    summary: 'all checks passed',
  })
  const writes = async () => (await h.app.core.metrics.stateWrites.get()).values.reduce((n, v) => n + v.value, 0)
  await h.app.core.intake.submit(site, probe(h.clock.now()))
  const before = await writes()
  h.clock.advance(5_000)
  await h.app.core.intake.submit(site, probe(h.clock.now()))
  t.equal(await writes(), before, 'the second passing probe is not written')
})
