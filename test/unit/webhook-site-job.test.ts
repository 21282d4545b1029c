// A payload that names its site (own format `site`, or the Notification
// plugin's SITE parameter) must come from one of that site's jobs (issue 11,
// point 6); a Notification-plugin STARTED with "status": null is a phase
// that gives no verdict, not a bad request (point 9).

import t from 'tap'
import { SECRETS, testApp } from '../fixtures/app.ts'

const auth = { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' }

const rows: Array<{
  name: string
  body: unknown
  status: number
  code?: string
  message?: RegExp
  site?: string
  action?: string
}> = [
  {
    name: "own format: site named, job not the site's",
    body: { site: 'shop', job: 'blog-integrity', build: 1, status: 'FAILURE' },
    status: 403,
    code: 'KR_JOB_NOT_FOR_SITE',
    message: /^job "blog-integrity" does not report for site "shop"/,
  },
  {
    name: 'own format: site named, unknown job',
    body: { site: 'shop', job: 'anything', build: 2, status: 'FAILURE' },
    status: 403,
    code: 'KR_JOB_NOT_FOR_SITE',
    message: /job "anything"/,
  },
  {
    name: 'own format: a site without jobs accepts none by name',
    body: { site: 'pool', job: 'shop-integrity', build: 3, status: 'FAILURE' },
    status: 403,
    code: 'KR_JOB_NOT_FOR_SITE',
    message: /site "pool"/,
  },
  {
    name: "notification: SITE parameter, job not the site's",
    body: {
      name: 'generic',
      build: { number: 4, phase: 'COMPLETED', status: 'FAILURE', parameters: { SITE: 'blog' } },
    },
    status: 403,
    code: 'KR_JOB_NOT_FOR_SITE',
    message: /job "generic" does not report for site "blog"/,
  },
  {
    name: 'own format: site named and the job is its own',
    body: { site: 'shop', job: 'shop-nightly', build: 5, status: 'SUCCESS' },
    status: 202,
    site: 'shop',
    action: 'none',
  },
  {
    name: "notification: SITE parameter and the job is the site's",
    body: {
      name: 'blog-integrity',
      build: { number: 6, phase: 'COMPLETED', status: 'SUCCESS', parameters: { SITE: 'blog' } },
    },
    status: 202,
    site: 'blog',
    action: 'none',
  },
  {
    name: 'notification STARTED with "status": null is ignored',
    body: {
      name: 'shop-integrity',
      url: 'job/shop/',
      build: { number: 7, phase: 'STARTED', status: null, full_url: 'http://j/job/shop/7/' },
    },
    status: 202,
    site: 'shop',
    action: 'ignored',
  },
  {
    name: 'notification QUEUED with "status": null is ignored',
    body: { name: 'shop-integrity', build: { number: 8, phase: 'QUEUED', status: null } },
    status: 202,
    site: 'shop',
    action: 'ignored',
  },
  {
    name: 'notification COMPLETED with "status": null gives no verdict',
    body: { name: 'shop-integrity', build: { number: 9, phase: 'COMPLETED', status: null } },
    status: 202,
    site: 'shop',
    action: 'ignored',
  },
]

for (const row of rows) {
  t.test(row.name, async (t) => {
    const h = await testApp()
    t.teardown(() => h.app.close())
    const r = await h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      headers: auth,
      payload: JSON.stringify(row.body),
    })
    t.equal(r.statusCode, row.status, r.body)
    const json = r.json()
    if (row.code) {
      t.same(Object.keys(json).sort(), ['code', 'message'])
      t.equal(json.code, row.code)
      t.match(json.message, row.message!)
    }
    if (row.site) t.equal(json.site, row.site)
    if (row.action) t.equal(json.action, row.action)
    const status = (await h.app.inject({ method: 'GET', url: '/status' })).json() as {
      sites: Array<{ name: string; consecutiveFailures: number }>
    }
    t.same(
      status.sites.map((s) => s.consecutiveFailures),
      [0, 0, 0],
      'no failure was counted for any site',
    )
  })
}

t.test('one job that checks several sites: each POST names its site, and only those sites take it', async (t) => {
  const h = await testApp({
    config: `
service: { rateLimit: { max: 1000, window: 1m }, failedAuthLimit: { max: 1000, window: 1m } }
sites:
  - name: a
    target: { kind: Deployment, namespace: a, name: web }
    jenkins: { jobs: [integrity] }
  - name: b
    target: { kind: Deployment, namespace: b, name: web }
    jenkins: { jobs: [integrity, b-only] }
  - name: c
    target: { kind: Deployment, namespace: c, name: web }
    jenkins: { jobs: [c-only] }
`,
  })
  t.teardown(() => h.app.close())
  const post = async (body: unknown) => {
    const r = await h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      headers: auth,
      payload: JSON.stringify(body),
    })
    return { status: r.statusCode, json: r.json() }
  }
  t.match(await post({ job: 'integrity', build: 1, status: 'SUCCESS' }), {
    status: 400,
    json: {
      code: 'KR_INVALID_FIELD',
      message: 'body.site: is required: job "integrity" reports for several sites (a, b)',
    },
  })
  t.match(await post({ site: 'a', job: 'integrity', build: 1, status: 'SUCCESS' }), {
    status: 202,
    json: { site: 'a' },
  })
  t.match(
    await post({ site: 'b', job: 'integrity', build: 1, status: 'SUCCESS' }),
    { status: 202, json: { site: 'b', action: 'none' } },
    'the same build for the other site is not a duplicate',
  )
  t.match(await post({ site: 'c', job: 'integrity', build: 1, status: 'FAILURE' }), {
    status: 403,
    json: { code: 'KR_JOB_NOT_FOR_SITE' },
  })
  t.match(
    await post({ job: 'b-only', build: 2, status: 'SUCCESS' }),
    { status: 202, json: { site: 'b' } },
    'a job of one site still needs no site field',
  )
})
