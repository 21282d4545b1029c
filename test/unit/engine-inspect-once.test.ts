// engine.inspect(): sites that name the same workload ask for its facts
// together (at start, before its watch has spoken); while one read is in
// flight they share it, so 5,000 sites on one Deployment cost one request.
// A small typed stand-in for the one Kube call inspect() makes.

import t from 'tap'
import { createEngine } from '../../src/recycle/engine.ts'
import { systemClock } from '../../src/clock.ts'
import type { Kube, WorkloadRef, WorkloadState } from '../../src/kube/types.ts'
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
