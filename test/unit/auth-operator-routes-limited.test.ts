// The operator routes (pause, resume, reset, approve, reject) take the
// operator token, so wrong tokens there are failed authentications like
// anywhere else: counted per client, and a blocked client is refused there
// too. Auth and its limit apply to every route registered in the
// authenticated scope, so a route cannot forget them.

import t from 'tap'
import { SECRETS, testApp, TEST_CONFIG } from '../fixtures/app.ts'

// The default failure limit: 10 per 5 minutes.
const CONFIG = TEST_CONFIG.replace(/^ {2}failedAuthLimit:.*\n/m, '')
const ROUTES: { url: string; body?: unknown }[] = [
  { url: '/pause', body: { reason: 'x' } },
  { url: '/resume' },
  { url: '/sites/shop/pause', body: { reason: 'x' } },
  { url: '/sites/shop/resume' },
  { url: '/sites/shop/reset' },
  { url: '/recycles/rc-x/approve' },
  { url: '/recycles/rc-x/reject' },
]

const wrong = (url: string, body: unknown, i: number) => ({
  method: 'POST' as const,
  url,
  headers: {
    authorization: `Bearer wrong-token-${i}`,
    ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
  },
  ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
})

for (const route of ROUTES) {
  t.test(`${route.url}: wrong tokens are counted and limited`, async (t) => {
    const h = await testApp({ config: CONFIG })
    t.after(() => h.app.close())
    const codes: number[] = []
    for (let i = 0; i < 11; i++) codes.push((await h.app.inject(wrong(route.url, route.body, i))).statusCode)
    t.same(codes, [...Array(10).fill(401), 429], 'ten 401s, then 429')
    const other = await h.app.inject({
      method: 'POST',
      url: '/recycle',
      headers: { authorization: 'Bearer also-wrong', 'content-type': 'application/json' },
      payload: { site: 'shop', reason: 'x' },
    })
    t.equal(other.statusCode, 429, 'the failures on this route count on POST /recycle too: one count per client')
  })

  t.test(`${route.url}: a client blocked on POST /recycle is refused here`, async (t) => {
    const h = await testApp({ config: CONFIG })
    t.after(() => h.app.close())
    for (let i = 0; i < 10; i++) {
      const r = await h.app.inject({
        method: 'POST',
        url: '/recycle',
        headers: { authorization: `Bearer nope-${i}`, 'content-type': 'application/json' },
        payload: { site: 'shop', reason: 'x' },
      })
      t.equal(r.statusCode, 401)
    }
    const r = await h.app.inject(wrong(route.url, route.body, 99))
    t.equal(r.statusCode, 429, r.body)
    t.equal(r.json().code, 'KR_RATE_LIMITED')
    t.ok(Number(r.headers['retry-after']) > 0, 'Retry-After')
  })
}

t.test(
  "GET /status with statusAuth is in the operators' scope: counted, limited, and served with the token",
  async (t) => {
    const h = await testApp({ config: CONFIG.replace('service:\n', 'service:\n  statusAuth: true\n') })
    t.after(() => h.app.close())
    const codes: number[] = []
    for (let i = 0; i < 11; i++)
      codes.push(
        (await h.app.inject({ method: 'GET', url: '/status', headers: { authorization: `Bearer wrong-${i}` } }))
          .statusCode,
      )
    t.same(codes, [...Array(10).fill(401), 429])
    const ok = await h.app.inject({
      method: 'GET',
      url: '/status',
      headers: { authorization: `Bearer ${SECRETS.recycleToken}` },
    })
    t.equal(ok.statusCode, 200, 'the operator token is served from the blocked address')
    t.equal(
      (await h.app.inject({ method: 'GET', url: '/recycles/rc-x' })).statusCode,
      404,
      'GET /recycles/:id stays open',
    )
  },
)
