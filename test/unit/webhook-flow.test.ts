// What a verdict leads to: thresholds, duplicates, recoveries, cooldown and
// the circuit breaker, seen through the HTTP API with a fake executor.

import t from 'tap'
import { SECRETS, testApp } from '../fixtures/app.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'

const auth = { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' }
const op = { authorization: `Bearer ${SECRETS.recycleToken}`, 'content-type': 'application/json' }

async function post(app: Awaited<ReturnType<typeof testApp>>['app'], body: unknown) {
  const res = await app.inject({
    method: 'POST',
    url: '/webhooks/jenkins',
    headers: auth,
    payload: JSON.stringify(body),
  })
  return { status: res.statusCode, json: res.json() as Record<string, any> }
}

t.test('a failure requests one recycle, pinned to the commit Jenkins names', async (t) => {
  const ex = fakeExecutor()
  const h = await testApp({ extra: { executor: ex } })
  t.teardown(() => h.app.close())
  const r = await post(h.app, {
    job: 'shop-integrity',
    build: 1,
    status: 'FAILURE',
    commit: 'ABCDEF1234567',
    checks: [{ name: 'home', ok: false, status: 500 }],
  })
  t.equal(r.status, 202)
  t.equal(r.json.action, 'recycle-requested')
  t.equal(r.json.health, 'failing')
  t.equal(r.json.verdict.summary, 'shop-integrity #1 FAILURE: home failed')
  t.match(r.json.recycle.state, /^(pending|running)$/)
  t.equal(r.json.recycle.dryRun, false)
  await ex.waitRuns(1)
  t.equal(ex.runs.length, 1)
  t.equal(ex.runs[0]!.commit, 'abcdef1234567')
  t.equal(ex.runs[0]!.strategy, 'rollout')

  // The same build again (a retry), and the FINALIZED notification of it: no second recycle.
  const again = await post(h.app, { job: 'shop-integrity', build: 1, status: 'FAILURE' })
  t.equal(again.json.action, 'duplicate')
  const fin = await post(h.app, { name: 'shop-integrity', build: { number: 1, phase: 'FINALIZED', status: 'FAILURE' } })
  t.equal(fin.json.action, 'duplicate')
  // A new failing build while the recycle runs: no second one either.
  const during = await post(h.app, { job: 'shop-integrity', build: 2, status: 'FAILURE' })
  t.equal(during.json.action, 'none')
  t.match(during.json.reason, /already running/)
  ex.finish()
  await h.app.core.recycler.idle()
  const rec = await h.app.inject({ method: 'GET', url: r.json.recycle.url })
  t.equal(rec.json().state, 'succeeded')
  t.equal(rec.json().commit, 'abcdef1234567')
  // Still failing after the recycle: it did not help; no loop.
  const after = await post(h.app, { job: 'shop-integrity', build: 3, status: 'FAILURE' })
  t.equal(after.json.action, 'none')
  t.match(after.json.reason, /recycle-did-not-help/)
  t.equal(ex.runs.length, 1)
  const status = (await h.app.inject({ method: 'GET', url: '/status' })).json()
  t.match(status.sites[0].note, /recycle-did-not-help/)
  // Recovery never restarts, and re-arms the site.
  const ok = await post(h.app, { job: 'shop-integrity', build: 4, status: 'SUCCESS' })
  t.equal(ok.json.action, 'none')
  t.equal(ok.json.reason, 'recovered')
  t.equal(ok.json.health, 'healthy')
  t.equal(ex.runs.length, 1)
})

t.test('thresholds and per-site failing statuses', async (t) => {
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'ok' } })
  const h = await testApp({ extra: { executor: ex } })
  t.teardown(() => h.app.close())
  // blog: threshold 2, only FAILURE counts.
  const u = await post(h.app, { job: 'blog-integrity', build: 1, status: 'UNSTABLE' })
  t.equal(u.json.verdict.ok, true)
  t.equal(u.json.health, 'healthy')
  const f1 = await post(h.app, { job: 'blog-integrity', build: 2, status: 'FAILURE' })
  t.equal(f1.json.action, 'none')
  t.equal(f1.json.reason, '1/2 consecutive failures')
  const f2 = await post(h.app, {
    name: 'blog-integrity',
    build: {
      number: 3,
      phase: 'COMPLETED',
      status: 'FAILURE',
      full_url: 'http://jenkins/job/blog/3/',
      scm: { commit: '0123456789abcdef0123456789abcdef01234567' },
    },
  })
  t.equal(f2.json.action, 'recycle-requested')
  t.equal(f2.json.verdict.ref, 'http://jenkins/job/blog/3/')
  await h.app.core.recycler.idle()
  t.equal(ex.runs[0]!.commit, '0123456789abcdef0123456789abcdef01234567')
})

t.test('a SITE build parameter names the site (one of whose jobs sent it)', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const r = await post(h.app, {
    name: 'shop-nightly',
    build: { number: 5, phase: 'COMPLETED', status: 'FAILURE', parameters: { SITE: 'shop' } },
  })
  t.equal(r.status, 202)
  t.equal(r.json.site, 'shop')
  t.equal(r.json.action, 'planned', 'no cluster: said as planned, never as requested')
  t.equal(r.json.recycle.state, 'planned', 'no cluster: planned only')
  t.equal(r.json.recycle.dryRun, true)
})

t.test('cooldown and circuit breaker', async (t) => {
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'ok' } })
  const h = await testApp({ extra: { executor: ex } })
  t.teardown(() => h.app.close())
  const manual = async () =>
    (
      await h.app.inject({ method: 'POST', url: '/recycle', headers: op, payload: { site: 'shop', reason: 'test' } })
    ).json()
  const first = await manual()
  t.match(first.state, /^(pending|running)$/)
  await h.app.core.recycler.idle()
  h.clock.advance(60_000)
  const second = await manual()
  t.equal(second.state, 'skipped')
  t.match(second.reason, /cooldown: the last recycle started 60 s ago \(cooldown 600 s\)/)
  // Past the cooldown, automatic failures: 3 per 6 h at most, then the circuit opens.
  let build = 100
  const fail = async () => {
    const r = await post(h.app, { job: 'shop-integrity', build: build++, status: 'FAILURE' })
    await h.app.core.recycler.idle()
    await post(h.app, { job: 'shop-integrity', build: build++, status: 'SUCCESS' })
    return r
  }
  h.clock.advance(11 * 60_000)
  t.equal((await fail()).json.action, 'recycle-requested')
  h.clock.advance(11 * 60_000)
  t.equal((await fail()).json.action, 'recycle-requested')
  h.clock.advance(11 * 60_000)
  const third = await fail()
  t.equal(third.json.action, 'none')
  t.match(third.json.reason, /circuit open: 3 recycles within 360 min/)
  t.equal(ex.runs.length, 3)
  const status = (await h.app.inject({ method: 'GET', url: '/status' })).json()
  t.equal(status.sites[0].circuitOpen, true)
  const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /kube_recycler_circuit_open\{site="shop"\} 1/)
  t.match(metrics, /kube_recycler_recycles_total\{site="shop",strategy="rollout",outcome="skipped"\} 2/)
  // The circuit stays open: the same refusal again is one record, counted, not a new one per report.
  h.clock.advance(60_000)
  const before = (await h.app.inject({ method: 'GET', url: '/status' })).json().recent.length
  t.match((await fail()).json.reason, /circuit open/)
  const after = (await h.app.inject({ method: 'GET', url: '/status' })).json()
  t.equal(after.recent.length, before, 'no new record')
  t.equal(after.recent[0].repeats, 2)
  t.match((await h.app.inject({ method: 'GET', url: '/status?format=html' })).body, /skipped ×2/)
})

t.test('POST /recycle and GET /recycles/:id, dry-run', async (t) => {
  const ex = fakeExecutor()
  const h = await testApp({ extra: { executor: ex } })
  t.teardown(() => h.app.close())
  const res = await h.app.inject({
    method: 'POST',
    url: '/recycle',
    headers: op,
    payload: { site: 'pool', reason: 'check the plan', dryRun: true },
  })
  t.equal(res.statusCode, 202)
  const body = res.json()
  t.match(body, { site: 'pool', state: 'planned', strategy: 'evict', dryRun: true, url: `/recycles/${body.id}` })
  await h.app.core.recycler.idle()
  t.equal(ex.runs.length, 0, 'a dry-run never runs')
  const rec = (await h.app.inject({ method: 'GET', url: body.url })).json()
  t.same(rec.plan, { workload: 'pool', strategy: 'evict', pods: ['pod-a', 'pod-b'], why: 'evict of pool' })
  t.equal(rec.trigger.source, 'operator')
})

t.test('GET /status: JSON by default, HTML for a browser', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  await post(h.app, { job: 'shop-integrity', build: 1, status: 'FAILURE' })
  const json = await h.app.inject({ method: 'GET', url: '/status' })
  t.equal(json.headers['content-type'], 'application/json; charset=utf-8')
  const s = json.json()
  t.match(s.service, { version: '0.1.0', dryRun: true, cluster: 'none' })
  t.same(
    s.sites.map((x: any) => [x.name, x.health]),
    [
      ['shop', 'failing'],
      ['blog', 'unknown'],
      ['pool', 'unknown'],
    ],
  )
  t.equal(s.sites[0].lastVerdict.summary, 'shop-integrity #1 FAILURE')
  t.equal(s.sites[0].lastRecycle.state, 'planned')
  t.equal(s.recent.length, 1)
  const html = await h.app.inject({
    method: 'GET',
    url: '/status',
    headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
  })
  t.match(html.headers['content-type'], /text\/html/)
  t.match(html.body, /<title>kube-recycler status<\/title>/)
  t.match(html.body, /data-site="shop" data-health="failing"/)
  t.match(html.body, /Dry-run: recycles are planned and recorded/)
  const curl = await h.app.inject({ method: 'GET', url: '/status', headers: { accept: '*/*' } })
  t.match(curl.headers['content-type'], /application\/json/)
})

t.test('status page escapes what it shows', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  await h.app.inject({
    method: 'POST',
    url: '/recycle',
    headers: op,
    payload: { site: 'shop', reason: '<script>alert(1)</script>' },
  })
  const html = (await h.app.inject({ method: 'GET', url: '/status?format=html' })).body
  t.notMatch(html, /<script>alert/)
  t.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
})

t.test('rate limit answers 429 with a reason', async (t) => {
  const h = await testApp({
    config:
      'service: { rateLimit: { max: 2, window: 1m } }\nsites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    jenkins: { jobs: [j] }',
  })
  t.teardown(() => h.app.close())
  const codes = []
  for (let i = 0; i < 3; i++) codes.push((await post(h.app, { job: 'j', build: i, status: 'SUCCESS' })).status)
  t.same(codes, [202, 202, 429])
  const r = await post(h.app, { job: 'j', build: 9, status: 'SUCCESS' })
  t.equal(r.json.code, 'KR_RATE_LIMITED')
  t.match(r.json.message, /at most 2 per 60 s/)
  t.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'service probes are not limited')
})

t.test('/healthz, /readyz, /docs/json', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  t.same((await h.app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' })
  t.same((await h.app.inject({ method: 'GET', url: '/readyz' })).json(), {
    status: 'ready',
    reason: 'no cluster: dry-run, state in this process only',
  })
  const docs = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json()
  t.ok(docs.paths['/webhooks/jenkins'].post)
  t.ok(docs.paths['/recycle'].post)
  t.ok(docs.paths['/status'].get)
  const h2 = await testApp({ extra: { readiness: () => ({ ready: false, reason: 'cluster unreachable' }) } })
  t.teardown(() => h2.app.close())
  const r = await h2.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(r.statusCode, 503)
  t.same(r.json(), { status: 'not-ready', reason: 'cluster unreachable' })
})

t.test("a Jenkins commit is the job's, not the site's: not pinned unless jenkins.commitIsSite", async (t) => {
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'ok' } })
  const h = await testApp({
    config:
      'sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    jenkins: { jobs: [j] }\n    failureThreshold: 1\n',
    extra: { executor: ex },
  })
  t.teardown(() => h.app.close())
  const r = await post(h.app, { job: 'j', build: 1, status: 'FAILURE', commit: 'abcdef1234567' })
  t.equal(r.json.action, 'recycle-requested')
  await h.app.core.recycler.idle()
  t.equal(ex.runs[0]!.commit, undefined, 'recycled unpinned')
  t.match(
    h.app.core.recycler
      .get(r.json.recycle.id)!
      .steps.map((s) => s.message)
      .join('\n'),
    /not pinning abcdef123456: a Jenkins payload's commit is the job's repository/,
  )
})

t.test('a failure whose cause is outside the pods is not a restart: recorded, said, merged', async (t) => {
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'ok' } })
  const h = await testApp({
    config:
      'sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    jenkins: { jobs: [j] }\n    failureThreshold: 1\n',
    extra: { executor: ex },
  })
  t.teardown(() => h.app.close())
  const expired = [
    { name: 'home', ok: false, cause: 'tls-expired' },
    { name: 'api', ok: false, cause: 'dns-not-found' },
  ]
  const r = await post(h.app, { job: 'j', build: 1, status: 'FAILURE', checks: expired })
  t.equal(r.json.action, 'none')
  t.match(
    r.json.reason,
    /^cannot help: the cause is outside the pods, a restart cannot help \(home: the TLS certificate has expired; api: the DNS name does not resolve/,
  )
  t.equal(r.json.recycle.state, 'skipped')
  t.equal(
    (await post(h.app, { job: 'j', build: 2, status: 'FAILURE', checks: expired })).json.recycle.repeats,
    2,
    'the same refusal again is one record',
  )
  await h.app.core.recycler.idle()
  t.equal(ex.runs.length, 0, 'nothing restarted')
  t.ok(
    h.logs.some((l) => l.includes('"level":"error"') && l.includes('not restarting shop: cannot help')),
    'a loud log line',
  )
  // One check failing for a reason a restart may fix: the recycle goes ahead.
  const mixed = await post(h.app, {
    job: 'j',
    build: 3,
    status: 'FAILURE',
    checks: [expired[0], { name: 'api', ok: false, status: 500, cause: 'status' }],
  })
  t.equal(mixed.json.action, 'recycle-requested')
  // An operator decides for themselves.
  await h.app.core.recycler.idle()
})

t.test(
  "a rollout that failed and was rolled back is recorded rolled-back, counted, and ends the episode's automatic recycles",
  async (t) => {
    const ex = fakeExecutor({ auto: { state: 'failed', reason: 'new pods never Ready', rolledBack: true } })
    const h = await testApp({ extra: { executor: ex } })
    t.teardown(() => h.app.close())
    const r = await post(h.app, { job: 'shop-integrity', build: 1, status: 'FAILURE' })
    await h.app.core.recycler.idle()
    const rec = h.app.core.recycler.get(r.json.recycle.id)!
    t.equal(rec.state, 'rolled-back')
    t.match(rec.steps.at(-1)!.message, /^rolled-back: new pods never Ready/)
    t.match(
      (await h.app.inject({ method: 'GET', url: '/metrics' })).body,
      /kube_recycler_recycles_total\{site="shop",strategy="rollout",outcome="rolled-back"\} 1/,
    )
    t.equal(h.app.core.store.get('shop').starts.length, 1, 'it counts toward the circuit breaker')
    const again = await post(h.app, { job: 'shop-integrity', build: 2, status: 'FAILURE' })
    t.match(again.json.reason, /recycle-did-not-help/, 'still failing after a rollback: no loop')
  },
)

t.test('the outcome is one step, not said twice when the strategy just said it', async (t) => {
  const words = 'deployment "web" successfully rolled out'
  const base = fakeExecutor()
  const ex = {
    ...base,
    run: async (ctx: Parameters<typeof base.run>[0]) => {
      base.runs.push(ctx)
      ctx.step(words)
      return { state: 'succeeded' as const, message: words }
    },
  }
  const h = await testApp({ extra: { executor: ex } })
  t.teardown(() => h.app.close())
  const r = await post(h.app, { job: 'shop-integrity', build: 1, status: 'FAILURE' })
  await h.app.core.recycler.idle()
  const steps = h.app.core.recycler.get(r.json.recycle.id)!.steps.map((s) => s.message)
  t.equal(steps.filter((m) => m === words).length, 1, steps.join(' | '))
})

t.test(
  'dry-run: a flood of failing reports plans one recycle for the failure, counted, not one per report',
  async (t) => {
    const h = await testApp()
    t.teardown(() => h.app.close())
    const answers = []
    for (let build = 1; build <= 4; build++)
      answers.push(await post(h.app, { job: 'shop-integrity', build, status: 'FAILURE' }))
    t.same(
      answers.map((a) => a.json.action),
      ['planned', 'planned', 'planned', 'planned'],
      'each report is answered as planned',
    )
    t.equal(new Set(answers.map((a) => a.json.recycle.id)).size, 1, 'all of them the same plan')
    const rec = (await h.app.inject({ method: 'GET', url: answers[0]!.json.recycle.url })).json()
    t.match(rec, { state: 'planned', dryRun: true, repeats: 4 })
    t.equal(
      h.app.core.store.get('shop').recycles.filter((r) => r.state === 'planned').length,
      1,
      'one record in the state',
    )
    // Recovered, then failing again: a new failure, a new plan.
    await post(h.app, { job: 'shop-integrity', build: 5, status: 'SUCCESS' })
    const again = await post(h.app, { job: 'shop-integrity', build: 6, status: 'FAILURE' })
    t.equal(again.json.action, 'planned')
    t.not(again.json.recycle.id, answers[0]!.json.recycle.id, 'a new episode plans anew')
  },
)
