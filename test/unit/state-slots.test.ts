// State writes wait for a slot in the store, not in the HTTP client's
// queue: the slots' order and bounds (pure), and the store over an object
// store whose writes share a few connections, as the API server's writes
// share kube/dispatcher.ts's HTTP/1.1 pool (a request waiting there has its
// deadline running).

import t from 'tap'
import { manualClock } from '../../src/clock.ts'
import { parseConfig } from '../../src/config/load.ts'
import { Errors } from '../../src/errors.ts'
import type { ObjectStore } from '../../src/kube/types.ts'
import { memoryObjectStore } from '../../src/state/memory.ts'
import type { SiteState } from '../../src/state/schema.ts'
import { createSlots } from '../../src/state/slots.ts'
import { createStore } from '../../src/state/store.ts'
import { quietLogger } from '../fixtures/engine.ts'

const never = new AbortController().signal

t.test('slots: a few at once, the first lane before the routine one, a waiter that gives up leaves', async (t) => {
  const slots = createSlots(2)
  const order: string[] = []
  const a = await slots.acquire('routine', never)
  const b = await slots.acquire('routine', never)
  const give = new AbortController()
  const waits = [
    slots.acquire('routine', never).then((r) => (order.push('r1'), r)),
    slots.acquire('routine', give.signal).then(
      (r) => (order.push('gave-up?'), r),
      (e: Error) => (order.push(`r2 ${e.message}`), () => {}),
    ),
    slots.acquire('routine', never).then((r) => (order.push('r3'), r)),
    slots.acquire('first', never).then((r) => (order.push('f1'), r)),
  ]
  t.equal(slots.waiting, 4)
  give.abort(new Error('gave up'))
  await new Promise((r) => setImmediate(r))
  t.same(order, ['r2 gave up'], 'the waiter that gave up left at once')
  t.equal(slots.waiting, 3)
  a()
  a() // a second release of one slot frees nothing more
  await new Promise((r) => setImmediate(r))
  t.same(order, ['r2 gave up', 'f1'], 'the first lane goes first')
  b()
  await new Promise((r) => setImmediate(r))
  t.same(order, ['r2 gave up', 'f1', 'r1'], 'then the routine lane, in order')
  const [r1, , , f1] = waits
  ;(await f1!)()
  ;(await r1!)()
  ;(await waits[2]!)()
  t.same(order, ['r2 gave up', 'f1', 'r1', 'r3'])
  t.equal(slots.waiting, 0)
  const aborted = new AbortController()
  aborted.abort(new Error('already'))
  await t.rejects(slots.acquire('first', aborted.signal), /already/)
})

const SITES = 12
const config = parseConfig(
  `sites:\n${Array.from({ length: SITES }, (_, i) => `  - name: s${i}\n    target: { namespace: shop, name: web }\n`).join('')}`,
)
const bump = (s: SiteState) => ({ next: { ...s, consecutiveFailures: s.consecutiveFailures + 1 }, result: true })

/** Writes over `connections` connections, each answered after `ms`; a write waiting for one is aborted by its signal, as in undici's queue. */
function pooled(connections: number, ms: number): ObjectStore & { sent: string[] } {
  const inner = memoryObjectStore()
  let busy = 0
  const queue: (() => void)[] = []
  const sent: string[] = []
  return {
    sent,
    list: (s) => inner.list(s),
    read: (n, s) => inner.read(n, s),
    watch: (v, on, s) => inner.watch(v, on, s),
    async write(name, data, version, signal) {
      if (busy >= connections)
        await new Promise<void>((resolve, reject) => {
          const go = () => {
            signal?.removeEventListener('abort', stop)
            resolve()
          }
          const stop = () => {
            queue.splice(queue.indexOf(go), 1)
            reject(signal!.reason as Error)
          }
          queue.push(go)
          signal?.addEventListener('abort', stop, { once: true })
        })
      busy++
      sent.push(name)
      try {
        await new Promise((r) => setTimeout(r, ms))
        signal?.throwIfAborted()
        return await inner.write(name, data, version)
      } finally {
        busy--
        queue.shift()?.()
      }
    },
  }
}

function store(objects: ObjectStore, extra: Partial<Parameters<typeof createStore>[0]> = {}) {
  const s = createStore({
    objects,
    sites: config.sites,
    clock: manualClock(),
    logger: quietLogger(),
    durable: true,
    callTimeoutMs: 250,
    writeSlots: 2,
    ...extra,
  })
  s.start()
  return s
}

t.test('a burst of writes past the connections: each waits for a slot, none times out in the queue', async (t) => {
  const objects = pooled(2, 100)
  const s = store(objects)
  t.teardown(() => s.close())
  await s.loaded()
  // 12 writes of 100 ms over 2 connections: 600 ms, past the 250 ms deadline
  // of every write from the fifth on, had they all been sent at once.
  const results = await Promise.allSettled(
    Array.from({ length: SITES }, (_, i) => s.update(`s${i}`, bump, { routine: true })),
  )
  const failed = results.filter((r) => r.status === 'rejected')
  t.equal(failed.length, 0, `every write recorded (${failed.map((f) => String(f.reason)).join('; ')})`)
  t.equal(objects.sent.length, SITES, 'each sent once')
})

t.test('a report is written before the routine verdicts that were waiting', async (t) => {
  const objects = pooled(2, 50)
  const s = store(objects, { callTimeoutMs: 5000 })
  t.teardown(() => s.close())
  await s.loaded()
  const all = Array.from({ length: SITES - 1 }, (_, i) => s.update(`s${i}`, bump, { routine: true }))
  all.push(s.update(`s${SITES - 1}`, bump))
  await Promise.all(all)
  const at = objects.sent.indexOf(`kube-recycler-site-s${SITES - 1}`)
  t.ok(at <= 2, `sent as soon as a slot was free: ${at + 1}th of ${SITES}`)
})

t.test('a write that waits too long for a slot fails, unsent, and says why', async (t) => {
  const objects = pooled(1, 400)
  const s = store(objects, { writeSlots: 1, callTimeoutMs: 5000, writeQueueMs: 100 })
  t.teardown(() => s.close())
  await s.loaded()
  const first = s.update('s0', bump)
  await t.rejects(s.update('s1', bump, { routine: true }), {
    code: Errors.unavailable.code,
    message: /could not be written \(no write slot free within 100 ms; 0 other writes waiting\)/,
  })
  await first
  t.same(objects.sent, ['kube-recycler-site-s0'], 'the one that gave up was never sent')
})
