// The read limit covers every route that does not say otherwise, /docs and
// its files included; a HEAD request counts in its GET's budget (Fastify
// makes a HEAD route per GET, and each had a budget of its own); and a
// full table of clients makes room in O(1) amortised, not with a scan of
// every entry for each new client.

import t from 'tap'
import { createWindows } from '../../src/server/plugins/rate-limit.ts'
import { testApp, TEST_CONFIG } from '../fixtures/app.ts'

const SITES = TEST_CONFIG.slice(TEST_CONFIG.indexOf('sites:'))
const CONFIG = `service: { readRateLimit: { max: 3, window: 1m } }\n${SITES}`

for (const url of ['/docs/json', '/docs/yaml', '/docs', '/docs/static/index.html']) {
  t.test(`GET ${url} has the read limit`, async (t) => {
    const h = await testApp({ config: CONFIG })
    t.after(() => h.app.close())
    const codes: number[] = []
    for (let i = 0; i < 4; i++) codes.push((await h.app.inject({ method: 'GET', url })).statusCode)
    t.ok(
      codes.slice(0, 3).every((c) => c < 400),
      `the first three are served (${codes.join(', ')})`,
    )
    t.equal(codes[3], 429, 'the fourth is refused')
  })
}

for (const url of ['/status', '/metrics', '/recycles/rc-none', '/docs/json']) {
  t.test(`HEAD ${url} counts in GET's budget`, async (t) => {
    const h = await testApp({ config: CONFIG })
    t.after(() => h.app.close())
    const codes: number[] = []
    for (const method of ['GET', 'HEAD', 'GET', 'HEAD', 'GET'] as const)
      codes.push((await h.app.inject({ method, url })).statusCode)
    t.notOk(codes.slice(0, 3).includes(429), `three served (${codes.join(', ')})`)
    t.same(codes.slice(3), [429, 429], 'then HEAD and GET alike are refused')
  })
}

t.test('a full table makes room for a new client in O(1) amortised', async (t) => {
  // Counts every step of every Map iterator while the book works.
  let steps = 0
  const proto = Map.prototype as unknown as Record<string | symbol, (...a: unknown[]) => Iterator<unknown>>
  const names: (string | symbol)[] = ['entries', 'keys', 'values', Symbol.iterator]
  const saved = names.map((n) => proto[n]!)
  names.forEach((n, i) => {
    proto[n] = function (this: Map<unknown, unknown>, ...a: unknown[]) {
      const it = saved[i]!.apply(this, a)
      const next = it.next.bind(it)
      it.next = () => {
        steps++
        return next()
      }
      return it
    }
  })
  t.after(() =>
    names.forEach((n, i) => {
      proto[n] = saved[i]!
    }),
  )
  const max = 2000
  const w = createWindows(60_000, max)
  for (let i = 0; i < max; i++) w.count(`a${i}`, 0)
  steps = 0
  // A scan: as many new clients again, all windows live (the oldest must go each time).
  for (let i = 0; i < max; i++) w.count(`b${i}`, 1000)
  const perClient = steps / max
  names.forEach((n, i) => {
    proto[n] = saved[i]!
  })
  t.ok(perClient <= 4, `Map iterator steps per new client: ${perClient}`)
  t.equal(w.size, max, 'the table stays at its bound')
  t.equal(w.peek('a0', 1000), undefined, 'the oldest went')
  t.equal(w.peek(`b${max - 1}`, 1000)?.count, 1, 'the newest is there')
  // Ended windows go before live ones.
  const e = createWindows(1000, 3)
  e.count('old', 0)
  e.count('live1', 900)
  e.count('live2', 900)
  e.count('new', 1500)
  t.equal(e.peek('live1', 1500)?.count, 1, 'a live window stays while an ended one can go')
  t.equal(e.size, 3)
})
