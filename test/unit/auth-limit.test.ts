// Failed logins are limited per client by the authenticated scopes, and a
// 401 never says which methods are configured.

import t from 'tap'
import { SECRETS, testApp as fixtureApp, TEST_CONFIG } from '../fixtures/app.ts'

// The shared fixture lifts the failure limit for table tests; here it is the default (10 per 5 min).
const CONFIG = TEST_CONFIG.replace(/^ {2}failedAuthLimit:.*\n/m, '')
const testApp = (opts: Parameters<typeof fixtureApp>[0] = {}) => fixtureApp({ config: CONFIG, ...opts })
import { createFailureBook } from '../../src/server/plugins/auth-limit.ts'

const good = JSON.stringify({ job: 'shop-integrity', build: 7, status: 'SUCCESS' })
const json = { 'content-type': 'application/json' }

t.test('wrong webhook tokens: 401 up to the limit, then 429 with Retry-After for every further failure', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const codes: number[] = []
  for (let i = 0; i < 30; i++) {
    const r = await h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      headers: { ...json, authorization: `Bearer wrong-${i}` },
      payload: good,
    })
    codes.push(r.statusCode)
  }
  t.same(codes.slice(0, 10), Array(10).fill(401), 'the first 10 failures are 401')
  t.same(codes.slice(10), Array(20).fill(429), 'every later failure is 429')
  const blocked = await h.app.inject({
    method: 'POST',
    url: '/webhooks/jenkins',
    headers: { ...json, authorization: 'Bearer wrong-again' },
    payload: good,
  })
  t.equal(blocked.statusCode, 429)
  t.same(Object.keys(blocked.json()).sort(), ['code', 'message'])
  t.equal(blocked.json().code, 'KR_RATE_LIMITED')
  t.match(blocked.json().message, /too many failed authentications .*retry after \d+ s/)
  const retry = Number(blocked.headers['retry-after'])
  t.ok(retry > 0 && retry <= 300, `Retry-After is the rest of the window (${retry} s)`)
  // (A blocked client's valid credentials are served: auth-valid-credentials-served-when-blocked.test.ts.)

  const other = await h.app.inject({
    method: 'POST',
    url: '/webhooks/jenkins',
    remoteAddress: '10.1.2.3',
    headers: { ...json, authorization: `Bearer ${SECRETS.webhookToken}` },
    payload: good,
  })
  t.equal(other.statusCode, 202, 'another client is not affected')
  t.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'unauthenticated routes stay open')
})

t.test('bad signatures and wrong operator tokens count too; the window ends', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const codes: number[] = []
  for (let i = 0; i < 6; i++) {
    const r = await h.app.inject({
      method: 'POST',
      url: '/recycle',
      headers: { ...json, authorization: `Bearer nope-${i}` },
      payload: { site: 'shop', reason: 'x' },
    })
    codes.push(r.statusCode)
  }
  for (let i = 0; i < 6; i++) {
    const r = await h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      headers: { ...h.signed(good), 'x-recycler-signature': 'sha256=' + '0'.repeat(64) },
      payload: good,
    })
    codes.push(r.statusCode)
  }
  t.same(codes, [...Array(10).fill(401), 429, 429], 'operator and webhook failures share one count per client')
  // The limiter's clock is the app's: past the window the client may try again.
  h.clock.advance(5 * 60_000 + 1)
  const r = await h.app.inject({
    method: 'POST',
    url: '/recycle',
    headers: { ...json, authorization: `Bearer ${SECRETS.recycleToken}` },
    payload: { site: 'shop', reason: 'after the window', dryRun: true },
  })
  t.equal(r.statusCode, 202, r.body)
})

t.test('good requests are not counted as failures', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  for (let i = 0; i < 40; i++) {
    const r = await h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      headers: { ...json, authorization: `Bearer ${SECRETS.webhookToken}` },
      payload: JSON.stringify({ job: 'shop-integrity', build: 100 + i, status: 'SUCCESS' }),
    })
    t.equal(r.statusCode, 202)
  }
})

t.test('the failure book holds a bounded number of clients', async (t) => {
  const book = createFailureBook({ max: 2, windowMs: 1000 }, 100)
  for (let i = 0; i < 1000; i++) book.fail(`10.0.${i >> 8}.${i & 255}`, 0)
  t.equal(book.size, 100)
  book.fail('a', 0)
  book.fail('a', 0)
  t.equal(book.blockedFor('a', 10), 990)
  t.equal(book.blockedFor('a', 1000), 0, 'the window ends')
})

t.test('401 answers do not say which authentication methods are configured', async (t) => {
  const tries = (h: Awaited<ReturnType<typeof testApp>>) => [
    { headers: { ...json, authorization: 'Bearer x' } },
    { headers: { ...json, authorization: `Basic ${Buffer.from('jenkins:x').toString('base64')}` } },
    { headers: { ...h.signed(good), 'x-recycler-signature': 'sha256=' + '0'.repeat(64) } },
    { headers: json },
  ]
  const answers = async (secrets: object): Promise<string[]> => {
    const h = await testApp({ secrets })
    t.teardown(() => h.app.close())
    const out: string[] = []
    for (const { headers } of tries(h)) {
      const r = await h.app.inject({ method: 'POST', url: '/webhooks/jenkins', headers, payload: good })
      t.equal(r.statusCode, 401)
      t.notMatch(r.body, /configured|KUBE_RECYCLER/i, `no hint of the configuration: ${r.body}`)
      out.push(r.body)
    }
    const op = await h.app.inject({
      method: 'POST',
      url: '/recycle',
      headers: { ...json, authorization: 'Bearer x' },
      payload: { site: 'shop', reason: 'x' },
    })
    t.notMatch(op.body, /configured|KUBE_RECYCLER/i)
    out.push(op.body)
    return out
  }
  const all = await answers(SECRETS)
  t.same(await answers({}), all, 'nothing configured: the same answers as with every method configured')
  t.same(await answers({ webhookSecret: SECRETS.webhookSecret }), all, 'only HMAC: the same answers')
  t.same(await answers({ webhookToken: SECRETS.webhookToken }), all, 'only a token: the same answers')
})
