// engine.inspect(): sites that name the same workload ask for its facts
// together (at start, before its watch has spoken); while one read is in
// flight they share it, so 5,000 sites on one Deployment cost one request.
// A small typed stand-in for the one Kube call inspect() makes.

import t from 'tap'
import { createEngine } from '../../src/recycle/engine.ts'
import { systemClock } from '../../src/clock.ts'
import {
  refKey,
  type Kube,
  type WorkloadCache,
  type WorkloadFacts,
  type WorkloadRef,
  type WorkloadState,
} from '../../src/kube/types.ts'
import { quietLogger, siteFor } from '../fixtures/engine.ts'

function countingKube(): { kube: Kube; reads: () => number; release: () => void } {
  let reads = 0
  let release!: () => void
  let gate = new Promise<void>((r) => (release = r))
  const kube = {
    async getWorkload(ref: WorkloadRef): Promise<WorkloadState> {
      reads++
      await gate
      return {
        ref,
        annotations: {},
        templateAnnotations: { 'kube-recycler.io/commit': 'c'.repeat(40) },
      } as unknown as WorkloadState
    },
  } as unknown as Kube
  return {
    kube,
    reads: () => reads,
    release: () => {
      release()
      gate = new Promise<void>((r) => (release = r))
    },
  }
}

t.test('concurrent inspects of one workload share one read; a later one reads again', async (t) => {
  const k = countingKube()
  const engine = createEngine({ kube: k.kube, clock: systemClock, logger: quietLogger(), holder: 'test' })
  const site = siteFor('{ kind: Deployment, namespace: shop, name: web }')
  const other = siteFor('{ kind: Deployment, namespace: shop, name: api }')
  const together = Promise.all([...Array.from({ length: 100 }, () => engine.inspect(site)), engine.inspect(other)])
  await new Promise((r) => setImmediate(r))
  t.equal(k.reads(), 2, '101 inspects in flight, two workloads: two reads')
  k.release()
  const facts = await together
  t.ok(
    facts.every((f) => f.runningCommit === 'c'.repeat(40)),
    'every site got the facts',
  )
  const later = engine.inspect(site)
  await new Promise((r) => setImmediate(r))
  t.equal(k.reads(), 3, 'a read after the shared one ended is a new read (nothing kept)')
  k.release()
  await later
})

// A small typed stand-in for the workload cache: its watch answers when the test says.
function pendingCache(ref: WorkloadRef): { cache: WorkloadCache; answer: (facts?: WorkloadFacts) => void } {
  let facts: WorkloadFacts | undefined
  let answer!: () => void
  const first = new Promise<void>((r) => (answer = r))
  const cache: WorkloadCache = {
    get: (r) => (refKey(r) === refKey(ref) ? facts : undefined),
    watches: (r) => refKey(r) === refKey(ref),
    settled: (r) => (refKey(r) === refKey(ref) ? first : Promise.resolve()),
    onChange: () => () => undefined,
    size: 0,
    close: async () => undefined,
  }
  return {
    cache,
    answer: (f) => {
      facts = f
      answer()
    },
  }
}

t.test("at start, inspects wait for the workload watch's first answer instead of reading", async (t) => {
  const site = siteFor('{ kind: Deployment, namespace: shop, name: web }')
  const ref: WorkloadRef = { kind: 'Deployment', namespace: 'shop', name: 'web' }
  // 50 sites ask for the workload's facts before its watch has answered.
  async function fiftyAsk() {
    const k = countingKube()
    const c = pendingCache(ref)
    const engine = createEngine({
      kube: k.kube,
      clock: systemClock,
      logger: quietLogger(),
      holder: 'test',
      cache: c.cache,
    })
    const asked = Promise.all(Array.from({ length: 50 }, () => engine.inspect(site)))
    await new Promise((r) => setImmediate(r))
    return { k, c, asked }
  }

  await t.test('the watch sees the workload: no read at all', async (t) => {
    const { k, c, asked } = await fiftyAsk()
    t.equal(k.reads(), 0, '50 inspects before the watch answered: no read')
    c.answer({ annotations: {}, templateAnnotations: { 'kube-recycler.io/commit': 'd'.repeat(40) } })
    const facts = await asked
    t.ok(
      facts.every((f) => f.runningCommit === 'd'.repeat(40)),
      "every site got the watch's facts",
    )
    t.equal(k.reads(), 0, 'and still no read')
  })

  await t.test('the watch cannot see it (forbidden, absent): one shared read, as without a cache', async (t) => {
    const { k, c, asked } = await fiftyAsk()
    t.equal(k.reads(), 0, 'nothing read while the watch may still answer')
    c.answer(undefined)
    await new Promise((r) => setImmediate(r))
    t.equal(k.reads(), 1, 'then one read for all 50')
    k.release()
    const facts = await asked
    t.ok(
      facts.every((f) => f.runningCommit === 'c'.repeat(40)),
      'every site got the read facts',
    )
  })
})
