// The state store's contract, on the in-process object store that has the
// cluster's semantics (versions, 409 on a stale write, watch events): two
// stores on one object store are two replicas. The ConfigMap version is
// tested on the real control plane (test/integration/ha.test.ts).

import t from 'tap'
import { manualClock } from '../../src/clock.ts'
import { parseConfig } from '../../src/config/load.ts'
import { Errors } from '../../src/errors.ts'
import type { ObjectStore } from '../../src/kube/types.ts'
import { LIMITS, boundSiteState } from '../../src/state/bounds.ts'
import { memoryObjectStore } from '../../src/state/memory.ts'
import { emptySiteState, type SiteState } from '../../src/state/schema.ts'
import { createStore, objectName } from '../../src/state/store.ts'
import { quietLogger } from '../fixtures/engine.ts'

const config = parseConfig('sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n')
const bump = (s: SiteState) => ({
  next: { ...s, consecutiveFailures: s.consecutiveFailures + 1 },
  result: s.consecutiveFailures + 1,
})

/** A sleep that ends after `ms` real milliseconds whatever it is asked, or at once when aborted. */
const soon =
  (ms: number) =>
  (_asked: number, signal: AbortSignal): Promise<void> =>
    new Promise((r) => {
      const i = setTimeout(r, ms)
      signal.addEventListener('abort', () => {
        clearTimeout(i)
        r()
      })
    })

function replica(objects: ObjectStore, extra: Partial<Parameters<typeof createStore>[0]> = {}) {
  const writes: string[] = []
  const store = createStore({
    objects,
    sites: config.sites,
    clock: manualClock(),
    logger: quietLogger(),
    durable: true,
    onWrite: (r) => writes.push(r),
    ...extra,
  })
  store.start()
  return { store, writes }
}

t.test('two replicas count every change once (conflicts are retried on what the other wrote)', async (t) => {
  const objects = memoryObjectStore()
  const a = replica(objects)
  const b = replica(objects)
  t.teardown(async () => {
    await a.store.close()
    await b.store.close()
  })
  await Promise.all([a.store.loaded(), b.store.loaded()])
  const results = await Promise.all([
    ...Array.from({ length: 10 }, () => a.store.update('shop', bump)),
    ...Array.from({ length: 10 }, () => b.store.update('shop', bump)),
  ])
  t.same(
    [...results].sort((x, y) => x - y),
    Array.from({ length: 20 }, (_, i) => i + 1),
    'each change saw a distinct state',
  )
  t.equal(a.store.get('shop').consecutiveFailures, 20)
  await new Promise((r) => setImmediate(r))
  t.equal(b.store.get('shop').consecutiveFailures, 20, 'the other replica sees it through the watch')
  t.ok([...a.writes, ...b.writes].includes('conflict'), 'the replicas did collide, and retried')
  t.equal([...a.writes, ...b.writes].filter((w) => w === 'ok').length, 20, 'one write per change')
})

t.test('a change that returns no next state writes nothing', async (t) => {
  const objects = memoryObjectStore()
  const a = replica(objects)
  t.teardown(() => a.store.close())
  await a.store.loaded()
  t.equal(await a.store.update('shop', () => ({ result: 'same' })), 'same')
  t.equal(objects.writes, 0)
})

t.test('not loaded or not reachable: refused with 503, never applied to a local copy', async (t) => {
  let up = false
  const real = memoryObjectStore()
  const flaky: ObjectStore = {
    list: () => (up ? real.list() : Promise.reject(Errors.kube('list: ECONNREFUSED'))),
    read: (n) => real.read(n),
    write: (n, d, v) => (up ? real.write(n, d, v) : Promise.reject(Errors.kube('write: ECONNREFUSED'))),
    watch: (v, cb, s) => real.watch(v, cb, s),
  }
  const a = replica(flaky, {
    sleep: soon(5),
  })
  t.teardown(() => a.store.close())
  await new Promise((r) => setTimeout(r, 20))
  t.match(a.store.ready(), { ready: false, reason: /state not loaded: list: ECONNREFUSED/ })
  await t.rejects(a.store.update('shop', bump), { code: Errors.unavailable.code, message: /not loaded yet/ })
  up = true
  await a.store.loaded()
  t.equal(a.store.ready().ready, true, 'it kept trying, and is ready once the API answers')
  up = false
  await t.rejects(a.store.update('shop', bump), {
    code: Errors.unavailable.code,
    message: /could not be written \(write: ECONNREFUSED\)/,
  })
  t.equal(a.store.get('shop').consecutiveFailures, 0, 'the refused change is not kept locally')
})

t.test('a write the API server does not answer is aborted at its deadline, not only given up on', async (t) => {
  const real = memoryObjectStore()
  const signals: AbortSignal[] = []
  // As the Kubernetes side does: the request ends when its signal aborts.
  const hung: ObjectStore = {
    ...real,
    list: () => real.list(),
    read: (n) => real.read(n),
    watch: (v, cb, s) => real.watch(v, cb, s),
    write: (_n, _d, _v, signal) =>
      new Promise((_, reject) => {
        if (signal) signals.push(signal)
        signal?.addEventListener('abort', () => reject(Errors.kube('write ConfigMap: no answer in time (aborted)')), {
          once: true,
        })
      }),
  }
  const a = replica(hung, { callTimeoutMs: 50 })
  t.teardown(() => a.store.close())
  await a.store.loaded()
  await t.rejects(a.store.update('shop', bump), {
    code: Errors.unavailable.code,
    message: /could not be written \(write ConfigMap: no answer in time \(aborted\)\)/,
  })
  t.equal(signals.length, 1, 'the write was given a signal')
  t.ok(signals[0]!.aborted, 'which aborted: the request itself ends')
})

t.test('a stored state that is not ours is refused (the site starts afresh), never half-read', async (t) => {
  const objects = memoryObjectStore()
  await objects.write(objectName('shop'), JSON.stringify({ v: 1, site: 'shop', health: 'bogus' }), undefined)
  const logs: string[] = []
  const a = createStore({
    objects,
    sites: config.sites,
    clock: manualClock(),
    logger: quietLogger(logs),
    durable: true,
  })
  a.start()
  t.teardown(() => a.close())
  await a.loaded()
  t.same(a.get('shop'), emptySiteState('shop'))
  t.ok(
    logs.some((l) => l.includes('"level":"error"') && l.includes('not valid')),
    'said loudly',
  )
  t.equal(await a.update('shop', bump), 1, 'and the next write replaces it (with the precondition)')
})

t.test('bounds: a flood of records keeps the state within its bytes, unfinished records never dropped', async (t) => {
  const now = Date.parse('2026-12-01T12:00:00Z')
  const big = 'x'.repeat(LIMITS.text)
  const rec = (i: number, state: 'succeeded' | 'running', ageMin: number) => ({
    id: `rc-${i}`,
    site: 'shop',
    target: 't',
    strategy: 'rollout' as const,
    trigger: { source: 'jenkins' as const, reason: big },
    dryRun: false,
    state,
    steps: Array.from({ length: 40 }, () => ({ at: new Date(now).toISOString(), message: big })),
    createdAt: new Date(now - ageMin * 60_000).toISOString(),
  })
  const s: SiteState = {
    ...emptySiteState('shop'),
    recycles: [rec(0, 'running', 600), ...Array.from({ length: 500 }, (_, i) => rec(i + 1, 'succeeded', 500 - i))],
  }
  const out = boundSiteState(s, { now, windowMs: 6 * 3600_000 })
  t.ok(Buffer.byteLength(JSON.stringify(out)) <= LIMITS.siteBytes, `fits ${LIMITS.siteBytes} bytes`)
  t.equal(out.recycles[0]!.id, 'rc-0', 'the running one stays, however old')
  t.equal(out.recycles.at(-1)!.id, 'rc-500', 'the newest stay')
  // Tight: the last record dropped would not have fitted (the sizes are counted exactly).
  const firstKept = Number(out.recycles[1]!.id.slice(3))
  const withOneMore = { ...out, recycles: [out.recycles[0]!, s.recycles[firstKept - 1]!, ...out.recycles.slice(1)] }
  t.ok(
    Buffer.byteLength(JSON.stringify(withOneMore)) > LIMITS.siteBytes,
    `rc-${firstKept - 1} was dropped because it did not fit`,
  )
  t.equal(
    boundSiteState(out, { now, windowMs: 6 * 3600_000 }).recycles.length,
    out.recycles.length,
    'bounding again drops nothing more',
  )
})

t.test(
  'a recent answer to another request stands for the ping; without one the store pings, and is not ready when that fails',
  async (t) => {
    const objects = memoryObjectStore()
    let pings = 0
    let ago: number | undefined = 5
    let apiUp = true
    const clock = manualClock()
    const a = replica(objects, {
      clock,
      pingEveryMs: 1000,
      ping: () => {
        pings++
        return apiUp ? Promise.resolve('v1.34') : Promise.reject(Errors.kube('GET /version: ECONNREFUSED'))
      },
      answeredAgoMs: () => ago,
      // The loop's waits pass at once; the clock moves by hand.
      sleep: soon(2),
    })
    t.teardown(() => a.store.close())
    await a.store.loaded()
    const turns = () => new Promise((r) => setTimeout(r, 30))
    await turns()
    t.equal(pings, 0, 'the Lease (or any request) answered 5 ms ago: no ping')
    clock.advance(10_000)
    await turns()
    t.equal(a.store.ready().ready, true, 'and the store stays ready on those answers')
    ago = 1500
    await turns()
    t.ok(pings > 0, 'the last answer is older than the ping period: it pings')
    const before = pings
    ago = undefined
    await turns()
    t.ok(pings > before, 'no answer yet: it pings')
    apiUp = false
    ago = 60_000
    clock.advance(10_000)
    await turns()
    t.match(a.store.ready(), { ready: false, reason: /has not answered for 10 s \(GET \/version: ECONNREFUSED\)/ })
  },
)
