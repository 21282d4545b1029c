// POST /webhooks/alertmanager through the HTTP API with a fake executor:
// bad inputs as a table (each row a fresh app: exact status, code, and the
// message naming the problem), then how alerts map to sites and verdicts.
// The real Alertmanager drives the same route in test/integration/alertmanager.test.ts.

import t from 'tap'
import { SECRETS, testApp } from '../fixtures/app.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'

const CONFIG = `
service:
  rateLimit: { max: 1000, window: 1m }
  failedAuthLimit: { max: 1000, window: 1m }
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    failureThreshold: 3
    successThreshold: 2
    alertmanager:
      matchers: ['alertname=~"SiteDown|SiteSlow"', 'site="shop"']
  - name: blog
    target: { kind: Deployment, namespace: blog, name: web }
    alertmanager:
      matchers: ['alertname="SiteDown"', 'site="blog"']
    recycle: { mode: approve }
`

const bearer = { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' }
const basic = (user: string, pw: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`,
  'content-type': 'application/json',
})
const STARTS = '2026-12-06T09:00:00.123456789Z'

function alert(
  labels: Record<string, string>,
  opts: { status?: 'firing' | 'resolved'; fingerprint?: string; startsAt?: string } = {},
) {
  return {
    status: opts.status ?? 'firing',
    labels,
    annotations: { summary: 'the home page answers 503' },
    startsAt: opts.startsAt ?? STARTS,
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus:9090/graph?g0.expr=up',
    fingerprint: opts.fingerprint ?? 'a1b2c3d4e5f60718',
  }
}
const notification = (alerts: unknown[], extra: Record<string, unknown> = {}) => ({
  version: '4',
  groupKey: '{}:{alertname="SiteDown"}',
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'kube-recycler',
  groupLabels: {},
  commonLabels: {},
  commonAnnotations: {},
  externalURL: 'http://alertmanager:9093',
  alerts,
  ...extra,
})
const good = JSON.stringify(notification([alert({ alertname: 'SiteDown', site: 'shop' })]))

interface Row {
  name: string
  body: string
  headers?: Record<string, string>
  status: number
  code?: string
  message?: RegExp
}
const rows: Row[] = [
  {
    name: 'no credentials',
    body: good,
    headers: { 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /missing credentials/,
  },
  {
    name: 'wrong bearer token',
    body: good,
    headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /token is not valid/,
  },
  {
    name: 'basic with the wrong password',
    body: good,
    headers: basic('alertmanager', 'nope'),
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /token is not valid/,
  },
  {
    name: 'unauthenticated malformed JSON is 401, not 400',
    body: '{nope',
    headers: { 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
  },
  {
    name: 'text/plain',
    body: good,
    headers: { ...bearer, 'content-type': 'text/plain' },
    status: 415,
    code: 'KR_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'oversized body',
    body: JSON.stringify(notification([alert({ alertname: 'SiteDown', site: 'shop', x: 'y'.repeat(300 * 1024) })])),
    headers: bearer,
    status: 413,
    code: 'KR_BODY_TOO_LARGE',
  },
  {
    name: 'malformed JSON',
    body: good.slice(0, 30),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_JSON',
    message: /not valid JSON/,
  },
  {
    name: 'a JSON array',
    body: '[]',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body: must be a JSON object/,
  },
  {
    name: 'version 3',
    body: JSON.stringify(notification([], { version: '3' })),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.version/,
  },
  {
    name: 'no alerts field',
    body: JSON.stringify({ version: '4' }),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.alerts: is required/,
  },
  {
    name: 'alert without fingerprint',
    body: JSON.stringify(notification([{ ...alert({ alertname: 'X' }), fingerprint: undefined }])),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.alerts\[0\]\.fingerprint: is required/,
  },
  {
    name: 'fingerprint not hex',
    body: JSON.stringify(notification([alert({ alertname: 'X' }, { fingerprint: '../../etc' })])),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.alerts\[0\]\.fingerprint/,
  },
  {
    name: 'unknown alert status',
    body: JSON.stringify(notification([{ ...alert({ alertname: 'X' }), status: 'pending' }])),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.alerts\[0\]\.status: must be one of/,
  },
  {
    name: 'a label value that is not a string',
    body: JSON.stringify(notification([{ ...alert({ alertname: 'X' }), labels: { alertname: 5 } }])),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.alerts\[0\]\.labels\.alertname: must be a string/,
  },
  {
    name: 'alert without startsAt',
    body: JSON.stringify(notification([{ ...alert({ alertname: 'X' }), startsAt: undefined }])),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.alerts\[0\]\.startsAt: is required/,
  },
]

for (const row of rows) {
  t.test(`bad input: ${row.name}`, async (t) => {
    const h = await testApp({ config: CONFIG, extra: { executor: fakeExecutor() } })
    t.teardown(() => h.app.close())
    const res = await h.app.inject({
      method: 'POST',
      url: '/webhooks/alertmanager',
      headers: row.headers ?? bearer,
      payload: row.body,
    })
    t.equal(res.statusCode, row.status, res.body)
    if (row.code) t.equal(res.json().code, row.code)
    if (row.message) t.match(res.json().message, row.message)
  })
}

async function post(
  app: Awaited<ReturnType<typeof testApp>>['app'],
  body: unknown,
  headers: Record<string, string> = bearer,
) {
  const res = await app.inject({
    method: 'POST',
    url: '/webhooks/alertmanager',
    headers,
    payload: JSON.stringify(body),
  })
  return { status: res.statusCode, json: res.json() as { alerts: Record<string, any>[] } & Record<string, any> }
}

t.test(
  'a firing alert recycles at once, whatever failureThreshold; its repeats, regroupings and retries count once',
  async (t) => {
    const ex = fakeExecutor()
    const h = await testApp({ config: CONFIG, extra: { executor: ex } })
    t.teardown(() => h.app.close())
    const fire = alert({ alertname: 'SiteDown', site: 'shop', instance: 'a' })
    const r = await post(h.app, notification([fire]), basic('alertmanager', SECRETS.webhookToken))
    t.equal(r.status, 202)
    t.equal(r.json.alerts.length, 1)
    const a = r.json.alerts[0]!
    t.match(a, {
      fingerprint: 'a1b2c3d4e5f60718',
      alertname: 'SiteDown',
      status: 'firing',
      site: 'shop',
      action: 'recycle-requested',
      health: 'failing',
    })
    t.match(a.reason, /firing alert .*meets failureThreshold at once/)
    await ex.waitRuns(1)
    // The same alert repeated (repeat_interval), in a bigger group with a new alert of another site, and its startsAt written differently by another Alertmanager.
    const other = alert({ alertname: 'Unrelated', team: 'db' }, { fingerprint: 'ffff000011112222' })
    const again = await post(h.app, notification([{ ...fire, startsAt: '2026-12-06T09:00:00.123Z' }, other]))
    t.equal(again.status, 202)
    t.match(again.json.alerts, [
      { site: 'shop', action: 'duplicate' },
      { site: null, action: 'ignored', fingerprint: 'ffff000011112222' },
    ])
    t.match(again.json.alerts[1]!.reason, /no site's alertmanager.matchers match \{alertname="Unrelated", team="db"\}/)
    t.equal(ex.runs.length, 1)
    const status = (await h.app.inject({ method: 'GET', url: '/status' })).json()
    t.equal(status.sites[0].lastVerdict.source, 'alertmanager')
    t.equal(status.sites[0].lastVerdict.ref, 'http://prometheus:9090/graph?g0.expr=up')
    t.match(status.sites[0].lastVerdict.summary, /alert firing: SiteDown: the home page answers 503/)
    // The page says where the verdict came from, and links the rule's graph.
    const page = (await h.app.inject({ method: 'GET', url: '/status', headers: { accept: 'text/html' } })).body
    t.match(page, /alertmanager · /)
    t.match(page, /<a class="build" href="http:\/\/prometheus:9090\/graph\?g0\.expr=up">graph<\/a>/)
    ex.finish()
    await h.app.core.recycler.idle()

    // A new firing of the same alert (a new startsAt) is a new delivery: after the recycle, it did not help.
    const later = await post(
      h.app,
      notification([
        alert({ alertname: 'SiteDown', site: 'shop', instance: 'a' }, { startsAt: '2026-12-06T10:00:00Z' }),
      ]),
    )
    t.equal(later.json.alerts[0]!.action, 'none')
    t.match(later.json.alerts[0]!.reason, /recycle-did-not-help/)
    t.equal(ex.runs.length, 1)
  },
)

t.test(
  'resolved: the site recovers at once (successThreshold too), but not while another alert of the notification still fires for it',
  async (t) => {
    const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'done' } })
    const h = await testApp({ config: CONFIG, extra: { executor: ex } })
    t.teardown(() => h.app.close())
    const down = alert({ alertname: 'SiteDown', site: 'shop' }, { fingerprint: '01' })
    const slow = alert({ alertname: 'SiteSlow', site: 'shop' }, { fingerprint: '02' })
    await post(h.app, notification([down, slow]))
    const half = await post(h.app, notification([{ ...down, status: 'resolved' }, slow]))
    t.match(half.json.alerts, [
      { fingerprint: '01', site: 'shop', action: 'ignored' },
      { fingerprint: '02', action: 'duplicate' },
    ])
    t.match(half.json.alerts[0]!.reason, /resolved, but SiteSlow is still firing for site shop/)
    const all = await post(
      h.app,
      notification(
        [
          { ...down, status: 'resolved' },
          { ...slow, status: 'resolved' },
        ],
        { status: 'resolved' },
      ),
    )
    t.match(all.json.alerts, [
      { action: 'none', health: 'healthy' },
      { action: 'none', health: 'healthy' },
    ])
    t.equal(all.json.alerts[0]!.reason, 'recovered')
    // A resolved notification repeated: duplicates.
    const rep = await post(h.app, notification([{ ...down, status: 'resolved' }]))
    t.equal(rep.json.alerts[0]!.action, 'duplicate')
  },
)

t.test(
  'one alert for two sites, and an alert for no site: answered 202 with the reason, nothing recorded',
  async (t) => {
    const config = CONFIG.replace(
      `matchers: ['alertname="SiteDown"', 'site="blog"']`,
      `matchers: ['alertname="SiteDown"', 'site=~"blog|shop"']`,
    )
    const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'done' } })
    const h = await testApp({ config, extra: { executor: ex } })
    t.teardown(() => h.app.close())
    const both = await post(h.app, notification([alert({ alertname: 'SiteDown', site: 'shop' })]))
    t.match(both.json.alerts, [
      { site: 'shop', action: 'recycle-requested' },
      { site: 'blog', action: 'awaiting-approval' },
    ])
    const none = await post(h.app, notification([alert({ alertname: 'DiskFull' }, { fingerprint: '03' })]))
    t.equal(none.status, 202)
    t.match(none.json.alerts, [{ site: null, action: 'ignored', status: 'firing' }])
    const empty = await post(h.app, notification([]))
    t.same(empty.json, { alerts: [] })
  },
)

t.test('the route is in the OpenAPI document, with the bearer and Basic schemes', async (t) => {
  const h = await testApp({ config: CONFIG })
  t.teardown(() => h.app.close())
  const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json()
  const op = doc.paths['/webhooks/alertmanager'].post
  t.equal(op.operationId, 'receiveAlertmanagerNotification')
  t.ok(op.responses['202'])
  t.ok(op.responses['503'])
  t.match(JSON.stringify(op.security), /webhookBearer/)
  t.match(JSON.stringify(op.security), /webhookBasic/)
})
