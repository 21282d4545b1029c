// A request whose credentials verify is served even from an address that
// is blocked for failed authentications: behind a NAT or an ingress (with
// trustProxy false every client is the ingress), anyone could otherwise
// lock Jenkins and the operators out with ten wrong tokens. Only failures
// are limited: a blocked client's further failures get 429.

import t from 'tap'
import type { InjectOptions } from 'fastify'
import { SECRETS, testApp, TEST_CONFIG } from '../fixtures/app.ts'

const CONFIG = TEST_CONFIG.replace(/^ {2}failedAuthLimit:.*\n/m, '')
const json = { 'content-type': 'application/json' }

const CASES: {
  name: string
  request: (h: Awaited<ReturnType<typeof testApp>>, build: number) => InjectOptions
  status: number
}[] = [
  {
    name: 'the webhook token',
    request: (_h, build) => ({
      method: 'POST',
      url: '/webhooks/jenkins',
      headers: { ...json, authorization: `Bearer ${SECRETS.webhookToken}` },
      payload: JSON.stringify({ job: 'shop-integrity', build, status: 'SUCCESS' }),
    }),
    status: 202,
  },
  {
    name: 'Basic with the webhook token',
    request: (_h, build) => ({
      method: 'POST',
      url: '/webhooks/jenkins',
      headers: { ...json, authorization: `Basic ${Buffer.from(`jenkins:${SECRETS.webhookToken}`).toString('base64')}` },
      payload: JSON.stringify({ job: 'shop-integrity', build, status: 'SUCCESS' }),
    }),
    status: 202,
  },
  {
    name: 'a signed delivery',
    request: (h, build) => {
      const body = JSON.stringify({ job: 'shop-integrity', build, status: 'SUCCESS' })
      return { method: 'POST', url: '/webhooks/jenkins', headers: h.signed(body), payload: body }
    },
    status: 202,
  },
  {
    name: 'the operator token on POST /recycle',
    request: () => ({
      method: 'POST',
      url: '/recycle',
      headers: { ...json, authorization: `Bearer ${SECRETS.recycleToken}` },
      payload: { site: 'shop', reason: 'x', dryRun: true },
    }),
    status: 202,
  },
  {
    name: 'the operator token on a pause',
    request: () => ({
      method: 'POST',
      url: '/sites/blog/pause',
      headers: { ...json, authorization: `Bearer ${SECRETS.recycleToken}` },
      payload: { reason: 'x' },
    }),
    status: 200,
  },
]

for (const c of CASES) {
  t.test(`12 wrong tokens from one address, then ${c.name} from it: served`, async (t) => {
    const h = await testApp({ config: CONFIG })
    t.after(() => h.app.close())
    const codes: number[] = []
    for (let i = 0; i < 12; i++) {
      const r = await h.app.inject({
        method: 'POST',
        url: '/webhooks/jenkins',
        headers: { ...json, authorization: `Bearer wrong-${i}` },
        payload: '{}',
      })
      codes.push(r.statusCode)
    }
    t.same(codes, [...Array(10).fill(401), 429, 429], 'the address is blocked for failures')
    const good = await h.app.inject(c.request(h, 1))
    t.equal(good.statusCode, c.status, `valid credentials are served: ${good.body}`)
    const again = await h.app.inject(c.request(h, 2))
    t.equal(again.statusCode, c.status, 'and again')
    const bad = await h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      headers: { ...json, authorization: 'Bearer still-wrong' },
      payload: '{}',
    })
    t.equal(bad.statusCode, 429, 'a further failure is still 429')
    t.equal(bad.json().code, 'KR_RATE_LIMITED')
  })
}
