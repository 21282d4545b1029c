// The per-route request limit (src/server/plugins/rate-limit.ts): the pure
// book and client keys, then the app: a refused request's answer and
// headers, per route and per client, and the route's own authentication
// answering first.

import t from 'tap'
import { SECRETS, testApp } from '../fixtures/app.ts'
import { clientKey, createRequestBook } from '../../src/server/plugins/rate-limit.ts'

t.test('the book: fixed windows per key, bounded keys', async (t) => {
  const book = createRequestBook({ max: 2, windowMs: 1000 })
  t.same(
    [book.take('a', 0).left, book.take('a', 10).left, book.take('a', 20).left],
    [1, 0, -1],
    'the third request in the window is over',
  )
  t.equal(book.take('b', 30).left, 1, 'another key has its own window')
  t.same(book.take('a', 1000), { left: 1, resetAt: 2000 }, 'a new window when the last one ended')
  const small = createRequestBook({ max: 1, windowMs: 1000 }, 3)
  for (let i = 0; i < 10; i++) small.take(`k${i}`, i)
  t.equal(small.size, 3, 'never more keys than the bound')
  t.equal(small.take('k9', 20).left, -1, 'the newest key kept its count')
})

t.test('client keys: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', async (t) => {
  t.equal(clientKey('203.0.113.7'), '203.0.113.7')
  t.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7')
  t.equal(clientKey('::FFFF:203.0.113.7'), '203.0.113.7')
  t.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(clientKey('2001:0db8:0001:0002:ffff::1'), '2001:db8:1:2::/64', "one host's many addresses are one client")
  t.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(clientKey('::1'), '0:0:0:0::/64')
  t.equal(clientKey('64:ff9b::198.51.100.1'), '64:ff9b:0:0::/64', 'an embedded IPv4 tail is past the /64')
  t.not(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'), 'another /64 is another client')
})

const CONFIG = `
service: { rateLimit: { max: 2, window: 1m } }
sites:
  - name: shop
    target: { namespace: shop, name: web }
    jenkins: { jobs: [j] }
`

t.test('a route over its limit answers 429 with Retry-After; other routes and clients keep theirs', async (t) => {
  const h = await testApp({ config: CONFIG })
  t.teardown(() => h.app.close())
  const post = (build: number, ip = '198.51.100.1', token = SECRETS.webhookToken) =>
    h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      remoteAddress: ip,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ job: 'j', build, status: 'SUCCESS' }),
    })
  const first = await post(1)
  t.equal(first.statusCode, 202)
  t.notOk(first.headers['x-ratelimit-limit'], 'an accepted request gets no extra header')
  // A wrong token is refused by the route's own authentication first: not counted here.
  t.equal((await post(2, '198.51.100.1', 'wrong')).statusCode, 401)
  t.equal((await post(3)).statusCode, 202)
  const over = await post(4)
  t.equal(over.statusCode, 429)
  t.same(Object.keys(over.json()).sort(), ['code', 'message'])
  t.equal(over.json().code, 'KR_RATE_LIMITED')
  t.match(over.json().message, /^too many requests: at most 2 per 60 s; retry after \d+ s$/)
  const retry = Number(over.headers['retry-after'])
  t.ok(retry >= 1 && retry <= 60, `Retry-After ${retry} s`)
  t.equal(over.headers['x-ratelimit-limit'], '2')
  t.equal(over.headers['x-ratelimit-remaining'], '0')
  t.equal((await post(5, '198.51.100.2')).statusCode, 202, 'another client has its own budget')
  t.equal(
    (
      await h.app.inject({
        method: 'POST',
        url: '/recycle',
        remoteAddress: '198.51.100.1',
        headers: { authorization: `Bearer ${SECRETS.recycleToken}`, 'content-type': 'application/json' },
        payload: '{"site":"nope","reason":"test"}',
      })
    ).statusCode,
    404,
    'another route has its own budget',
  )
  t.equal(
    (await h.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '198.51.100.1' })).statusCode,
    200,
    "the service's probes are not limited",
  )
})
