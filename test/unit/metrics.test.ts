// /metrics as operators alert on it: build info, request durations by route
// pattern (never the raw URL), refused authentication by route and reason,
// Node.js default metrics under their stock names, and the state gauges read
// at scrape time (last Jenkins report, stale, drift, leader).

import t from 'tap'
import { readFileSync } from 'node:fs'
import { SECRETS, testApp } from '../fixtures/app.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'
import { startSite } from '../fixtures/sites.ts'
import { parseConfig } from '../../src/config/load.ts'
import { createLogger } from '../../src/logger.ts'
import { createProber } from '../../src/triggers/probe.ts'

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version

const CONFIG = `
service:
  rateLimit: { max: 1000, window: 1m }
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    jenkins: { jobs: [shop-integrity], expectEvery: 90m }
    git: { repo: https://git.example.com/shop.git }
  - name: blog
    target: { kind: Deployment, namespace: blog, name: web }
    jenkins: { jobs: [blog-integrity] }
`

/** The value of one series, or undefined when it is not exported. */
function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const sp = line.lastIndexOf(' ')
    if (line.slice(0, sp) === `${name}${labels}`) return Number(line.slice(sp + 1))
  }
  return undefined
}

async function scrape(app: Awaited<ReturnType<typeof testApp>>['app']): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  return res.body
}

t.test('build info names the package version and the Node.js version', async (t) => {
  const h = await testApp({ config: CONFIG })
  t.teardown(() => h.app.close())
  const text = await scrape(h.app)
  t.equal(
    sample(text, 'kube_recycler_build_info', `{version="${VERSION}",nodejs_version="${process.versions.node}"}`),
    1,
  )
})

t.test('request durations carry the route pattern, never the raw URL', async (t) => {
  const h = await testApp({ config: CONFIG })
  t.teardown(() => h.app.close())
  t.equal((await h.app.inject({ method: 'GET', url: '/recycles/does-not-exist-4711' })).statusCode, 404)
  t.equal((await h.app.inject({ method: 'GET', url: '/no/such/path/0815' })).statusCode, 404)
  t.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  const text = await scrape(h.app)
  t.equal(
    sample(
      text,
      'kube_recycler_http_request_duration_seconds_count',
      '{method="GET",route="/recycles/:id",status_code="404"}',
    ),
    1,
  )
  t.equal(
    sample(
      text,
      'kube_recycler_http_request_duration_seconds_count',
      '{method="GET",route="unmatched",status_code="404"}',
    ),
    1,
  )
  t.equal(
    sample(
      text,
      'kube_recycler_http_request_duration_seconds_count',
      '{method="GET",route="/healthz",status_code="200"}',
    ),
    1,
  )
  t.notMatch(text, /does-not-exist-4711|0815/, 'no raw URL reaches a label')
})

t.test('refused authentication is counted by route pattern and reason', async (t) => {
  const h = await testApp({ config: CONFIG })
  t.teardown(() => h.app.close())
  const body = JSON.stringify({ job: 'shop-integrity', build: 1, status: 'SUCCESS' })
  const post = (url: string, headers: Record<string, string>) =>
    h.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: body })
  t.equal((await post('/webhooks/jenkins', {})).statusCode, 401)
  t.equal((await post('/webhooks/jenkins', { authorization: 'Bearer wrong' })).statusCode, 401)
  t.equal((await post('/webhooks/jenkins', { authorization: 'Digest x' })).statusCode, 401)
  const signed = h.signed(body)
  t.equal(
    (await post('/webhooks/jenkins', { ...signed, 'x-recycler-signature': 'sha256=' + '0'.repeat(64) })).statusCode,
    401,
  )
  t.equal((await post('/webhooks/jenkins', h.signed(body, Math.floor(h.clock.now() / 1000) - 3600))).statusCode, 401)
  t.equal((await post('/webhooks/jenkins', h.signed(body))).statusCode, 202, 'a good signature is not counted')
  t.equal((await post('/recycle', {})).statusCode, 401)
  t.equal((await post('/recycle', { authorization: `Bearer ${SECRETS.webhookToken}` })).statusCode, 401)
  const text = await scrape(h.app)
  const failures = (route: string, reason: string) =>
    sample(text, 'kube_recycler_auth_failures_total', `{route="${route}",reason="${reason}"}`)
  t.equal(failures('/webhooks/jenkins', 'missing'), 1)
  t.equal(failures('/webhooks/jenkins', 'bad-token'), 1)
  t.equal(failures('/webhooks/jenkins', 'malformed'), 1)
  t.equal(failures('/webhooks/jenkins', 'bad-signature'), 1)
  t.equal(failures('/webhooks/jenkins', 'stale-signature'), 1)
  t.equal(failures('/recycle', 'missing'), 1)
  t.equal(failures('/recycle', 'bad-token'), 1)
  const total = text
    .split('\n')
    .filter((l) => l.startsWith('kube_recycler_auth_failures_total{'))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0)
  t.equal(total, 7, 'exactly the seven refusals')
})

t.test('an operator route without a configured token counts not-configured', async (t) => {
  const h = await testApp({ config: CONFIG, secrets: { webhookSecret: SECRETS.webhookSecret } })
  t.teardown(() => h.app.close())
  t.equal(
    (await h.app.inject({ method: 'POST', url: '/recycle', headers: { authorization: 'Bearer x' }, payload: {} }))
      .statusCode,
    401,
  )
  t.equal(
    sample(await scrape(h.app), 'kube_recycler_auth_failures_total', '{route="/recycle",reason="not-configured"}'),
    1,
  )
})

t.test('the counters the alerts take increase() of exist at 0 from the start', async (t) => {
  const h = await testApp({ config: CONFIG })
  t.teardown(() => h.app.close())
  const text = await scrape(h.app)
  for (const site of ['shop', 'blog']) {
    for (const outcome of ['failed', 'did-not-help', 'rolled-back', 'canary-failed']) {
      t.equal(
        sample(text, 'kube_recycler_recycles_total', `{site="${site}",strategy="rollout",outcome="${outcome}"}`),
        0,
        `${site} ${outcome}`,
      )
    }
  }
  t.equal(sample(text, 'kube_recycler_auth_failures_total', '{route="/webhooks/jenkins",reason="bad-signature"}'), 0)
  t.equal(sample(text, 'kube_recycler_webhooks_total', '{result="rejected"}'), 0)
  t.equal(sample(text, 'kube_recycler_state_writes_total', '{result="error"}'), 0)
})

t.test('default Node.js metrics keep their stock names', async (t) => {
  const h = await testApp({ config: CONFIG, extra: { defaultMetrics: true } })
  t.teardown(() => h.app.close())
  const text = await scrape(h.app)
  t.match(text, /^process_cpu_user_seconds_total /m)
  t.match(text, /^nodejs_heap_size_used_bytes /m)
  t.notMatch(text, /kube_recycler_(process|nodejs)_/, 'no project prefix on the default metrics')
  t.notMatch(text, /^nodejs_active_(handles|requests|resources)_total/m, 'no gauge named like a counter')
})

t.test('the Jenkins report gauges follow the reports and expectEvery', async (t) => {
  const h = await testApp({ config: CONFIG })
  t.teardown(() => h.app.close())
  let text = await scrape(h.app)
  t.equal(
    sample(text, 'kube_recycler_last_report_timestamp_seconds', '{site="shop"}'),
    undefined,
    'no report yet: no timestamp',
  )
  t.equal(sample(text, 'kube_recycler_report_stale', '{site="shop"}'), 0, 'within expectEvery of the start')
  t.equal(sample(text, 'kube_recycler_report_stale', '{site="blog"}'), undefined, 'no expectEvery: no stale series')

  h.clock.advance(91 * 60_000)
  text = await scrape(h.app)
  t.equal(sample(text, 'kube_recycler_report_stale', '{site="shop"}'), 1, 'silent past expectEvery')

  const body = JSON.stringify({ job: 'shop-integrity', build: 7, status: 'SUCCESS' })
  const res = await h.app.inject({ method: 'POST', url: '/webhooks/jenkins', headers: h.signed(body), payload: body })
  t.equal(res.statusCode, 202)
  text = await scrape(h.app)
  t.equal(sample(text, 'kube_recycler_report_stale', '{site="shop"}'), 0, 'a report clears it')
  t.equal(sample(text, 'kube_recycler_last_report_timestamp_seconds', '{site="shop"}'), h.clock.now() / 1000)
  t.equal(sample(text, 'kube_recycler_last_report_timestamp_seconds', '{site="blog"}'), undefined)
})

t.test('leader is 1 when the replica does not elect, else what the Lease says', async (t) => {
  const alone = await testApp({ config: CONFIG })
  t.teardown(() => alone.app.close())
  t.equal(sample(await scrape(alone.app), 'kube_recycler_leader'), 1)

  let leading = false
  const h = await testApp({ config: CONFIG, extra: { isLeader: () => leading } })
  t.teardown(() => h.app.close())
  t.equal(sample(await scrape(h.app), 'kube_recycler_leader'), 0)
  leading = true
  t.equal(sample(await scrape(h.app), 'kube_recycler_leader'), 1)
})

t.test('drift is exported only when both commits are known', async (t) => {
  let running = 'aaaaaaa'
  const executor = { ...fakeExecutor(), inspect: async () => ({ runningCommit: running }) }
  const h = await testApp({ config: CONFIG, extra: { executor, commits: { headCommit: async () => 'bbbbbbb' } } })
  t.teardown(() => h.app.close())
  const shop = h.app.core.facts
  const config = parseConfig(CONFIG)
  await shop.refresh(config.sites[0]!)
  await shop.refresh(config.sites[1]!)
  let text = await scrape(h.app)
  t.equal(sample(text, 'kube_recycler_commit_drift', '{site="shop"}'), 1)
  t.equal(sample(text, 'kube_recycler_commit_drift', '{site="blog"}'), undefined, 'no git: no head, no drift series')
  running = 'bbbbbbb'
  await shop.refresh(config.sites[0]!)
  text = await scrape(h.app)
  t.equal(sample(text, 'kube_recycler_commit_drift', '{site="shop"}'), 0)
})

t.test('probe latency is observed per site and check', async (t) => {
  const site = await startSite()
  t.teardown(() => site.close())
  const config = `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    checks:
      - { name: home, url: "${site.url('/')}" }
`
  const prober = createProber({ concurrency: 2, logger: createLogger({ level: 'silent' }) })
  const h = await testApp({ config, extra: { prober } })
  t.teardown(() => h.app.close())
  const v = await h.app.core.scheduler!.tick('shop')
  t.equal(v?.ok, true)
  const text = await scrape(h.app)
  t.equal(sample(text, 'kube_recycler_probe_duration_seconds_count', '{site="shop",check="home"}'), 1)
  t.ok(sample(text, 'kube_recycler_probe_duration_seconds_sum', '{site="shop",check="home"}')! > 0)
})
