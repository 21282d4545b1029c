// A claim that loses the race must not run. Two runners (two identities, two
// stores on one object store with the cluster's semantics: versions, 409 on a
// stale write, watch events) see the same pending record. The first one's
// claim is held until the other has claimed it and started running it, so
// the first one's write meets a 409, reads what the winner wrote and applies
// its claim again: the loser must not act on the workload (its recording
// executor sees no run), and must not write its outcome over the winner's.

import { Writable } from 'node:stream'
import t from 'tap'
import { manualClock } from '../../src/clock.ts'
import { parseConfig } from '../../src/config/load.ts'
import type { ObjectStore } from '../../src/kube/types.ts'
import { createLogger } from '../../src/logger.ts'
import { applyRequest, newRecycleId } from '../../src/recycle/requests.ts'
import { createRunner, type Runner } from '../../src/recycle/runner.ts'
import { memoryObjectStore } from '../../src/state/memory.ts'
import { createStore, type StateStore } from '../../src/state/store.ts'
import { createMetrics } from '../../src/status/metrics.ts'
import { fakeExecutor, type FakeExecutor } from '../fixtures/fake-executor.ts'

const config = parseConfig('sites:\n  - name: shop\n    target: { kind: Deployment, namespace: shop, name: web }\n')
const site = config.sites[0]!
const logger = () =>
  createLogger({
    level: 'silent',
    destination: new Writable({
      write(_c, _e, cb) {
        cb()
      },
    }) as never,
  })

t.test(
  'issue 22 point 2: a replica whose claim meets a 409 (the other claimed) does not run it, nor overwrite the winner',
  async (t) => {
    const clock = manualClock(Date.now())
    const objects = memoryObjectStore()
    let beforeFirstWrite: (() => Promise<void>) | undefined
    // The loser's object store: its next write waits until the winner has claimed.
    const loserObjects: ObjectStore = {
      ...objects,
      async write(name, data, version) {
        const hold = beforeFirstWrite
        beforeFirstWrite = undefined
        if (hold) await hold()
        return objects.write(name, data, version)
      },
    }
    const replica = (
      objs: ObjectStore,
      identity: string,
      executor: FakeExecutor,
    ): { store: StateStore; runner: Runner } => {
      const store = createStore({ objects: objs, sites: config.sites, clock, logger: logger(), durable: true })
      const runner = createRunner({
        config,
        store,
        executor,
        clock,
        logger: logger(),
        metrics: createMetrics(),
        identity,
        isLeader: () => true,
      })
      store.start()
      return { store, runner }
    }
    const loserRuns = fakeExecutor()
    const winnerRuns = fakeExecutor()
    const loser = replica(loserObjects, 'replica-a', loserRuns)
    const winner = replica(objects, 'replica-b', winnerRuns)
    t.teardown(async () => {
      await loser.runner.close()
      await winner.runner.close()
      await loser.store.close()
      await winner.store.close()
    })
    await Promise.all([loser.store.loaded(), winner.store.loaded()])

    const id = newRecycleId(clock.now())
    await winner.store.update('shop', (s) => ({
      next: applyRequest(
        { ...s, health: 'failing' },
        site,
        { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
        { now: clock.now(), id, dryRun: false },
      ).next,
      result: undefined,
    }))
    for (let i = 0; i < 100 && loser.store.get('shop').recycles.length === 0; i++)
      await new Promise((r) => setImmediate(r))
    t.equal(loser.store.get('shop').recycles[0]?.state, 'pending', 'both replicas see the pending record')

    beforeFirstWrite = async () => {
      winner.runner.kick('shop')
      await winnerRuns.waitRuns(1)
    }
    loser.runner.kick('shop')
    await winnerRuns.waitRuns(1)
    // Until the loser has settled, or has started a run of its own (the code before the fix).
    for (const until = Date.now() + 2000; loser.runner.busy() && loserRuns.runs.length === 0 && Date.now() < until;)
      await new Promise((r) => setTimeout(r, 5))
    t.equal(loserRuns.runs.length, 0, 'the loser never acted on the workload')

    winnerRuns.finish({ state: 'succeeded', message: 'rolled out by the winner' })
    await winner.runner.idle()
    // On the code before the fix the loser runs too: let it end, and see whether its outcome lands.
    if (loserRuns.pending() > 0) {
      loserRuns.finish({ state: 'failed', reason: 'the loser ran a recycle it did not hold' })
      // Until the loser has settled, or has started a run of its own (the code before the fix).
      for (const until = Date.now() + 2000; loser.runner.busy() && loserRuns.runs.length === 0 && Date.now() < until;)
        await new Promise((r) => setTimeout(r, 5))
    }
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
    const r = winner.store.get('shop').recycles.find((x) => x.id === id)!
    t.match(r, { state: 'succeeded', holder: 'replica-b' }, "the winner's outcome stands")
    t.notOk(
      r.steps.some((s) => s.message.includes('replica-a')),
      'no step of the loser in the record',
    )
    t.same(loser.store.get('shop').recycles.find((x) => x.id === id)?.state, 'succeeded', 'the loser sees the same')
  },
)
