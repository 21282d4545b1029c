// The step bound is applied where steps are written. An evict that a
// PodDisruptionBudget holds says so every 5 s for its whole timeout; the
// runner flushes its steps into the site's state every 5 s. Driven here
// through the runner's own step callback (the recording executor hands it
// over) with a manual clock: the stored record keeps 40 steps, the first 10
// and the last 30, and the site's state stays under its bound, while the
// recycle runs and after its outcome.

import { Writable } from 'node:stream'
import t from 'tap'
import { manualClock } from '../../src/clock.ts'
import { parseConfig } from '../../src/config/load.ts'
import { createLogger } from '../../src/logger.ts'
import { applyRequest, newRecycleId } from '../../src/recycle/requests.ts'
import { createRunner } from '../../src/recycle/runner.ts'
import { LIMITS, boundSiteState } from '../../src/state/bounds.ts'
import { memoryObjectStore } from '../../src/state/memory.ts'
import { emptySiteState, type RecycleRecord } from '../../src/state/schema.ts'
import { createStore, objectName } from '../../src/state/store.ts'
import { createMetrics } from '../../src/status/metrics.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'

const config = parseConfig(
  'sites:\n  - name: pool\n    target: { kind: Deployment, namespace: pool, name: web }\n    recycle: { strategy: evict, timeout: 3h }\n',
)
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
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
}

t.test('issue 22 point 4: a PDB-held evict keeps its record at 40 steps and the site under its bound', async (t) => {
  const clock = manualClock(Date.now())
  const objects = memoryObjectStore()
  const store = createStore({ objects, sites: config.sites, clock, logger: logger(), durable: true })
  const executor = fakeExecutor()
  const runner = createRunner({
    config,
    store,
    executor,
    clock,
    logger: logger(),
    metrics: createMetrics(),
    identity: 'leader',
    isLeader: () => true,
  })
  store.start()
  t.teardown(async () => {
    await runner.close()
    await store.close()
  })
  await store.loaded()
  const id = newRecycleId(clock.now())
  await store.update('pool', (s) => ({
    next: applyRequest(
      { ...s, health: 'failing' },
      site,
      { site: 'pool', source: 'operator', reason: 'heal' },
      { now: clock.now(), id, dryRun: false },
    ).next,
    result: undefined,
  }))
  runner.kick('pool')
  await executor.waitRuns(1)
  const run = executor.runs[0]!
  // Two hours of "blocked" every 5 s (what recycle/strategies/evict.ts says), each near the text limit.
  const said: string[] = []
  for (let i = 0; i < 1440; i++) {
    clock.advance(5000)
    const m = `a PodDisruptionBudget blocks evicting web-7c9d-${i}; retrying in 5000 ms ${'·'.repeat(220)}`
    said.push(m)
    run.step(m)
    if (i % 100 === 99) await settle()
  }
  await settle()
  const stored = (): RecycleRecord => store.get('pool').recycles.find((r) => r.id === id)!
  const bytes = async () => Buffer.byteLength((await objects.read(objectName('pool')))!.data)
  t.equal(stored().state, 'running')
  t.ok(
    stored().steps.length <= LIMITS.stepsHead + LIMITS.stepsTail,
    `while it runs: ${stored().steps.length} steps stored`,
  )
  t.ok((await bytes()) <= LIMITS.siteBytes, 'while it runs: the state is under its bound')

  executor.finish({
    state: 'failed',
    cause: 'deadline',
    reason: 'deadline passed while evicting web-7c9d-0: a PodDisruptionBudget kept refusing',
  })
  await runner.idle()
  await settle()
  const r = stored()
  t.equal(r.state, 'failed')
  t.equal(r.steps.length, LIMITS.stepsHead + LIMITS.stepsTail, '40 steps')
  t.same(
    r.steps.slice(0, 2).map((s) => s.message),
    ['recycle requested by operator: heal', 'started by leader'],
  )
  t.same(
    r.steps.slice(2, 10).map((s) => s.message),
    said.slice(0, 8),
    'the first 10: the request, the claim, then the first steps',
  )
  t.same(
    r.steps.slice(10, -1).map((s) => s.message),
    said.slice(-29),
    'the last 30: the last steps, then the outcome',
  )
  t.match(r.steps.at(-1)!.message, /^failed: deadline passed/)
  t.equal(r.stepsLeftOut, 2 + 1440 + 1 - 40, 'and how many were left out')
  t.ok((await bytes()) <= LIMITS.siteBytes, 'after the outcome: the state is under its bound')
})

t.test(
  'issue 22 point 4: a state that cannot fit even without its finished records is shrunk to its bound',
  async (t) => {
    const now = Date.parse('2026-12-01T12:00:00Z')
    const big = 'x'.repeat(290)
    // Written by hand: 40 unfinished records of 40 full steps, 200 long delivery keys, a timeline.
    const s = {
      ...emptySiteState('pool'),
      deliveries: Array.from({ length: 200 }, (_, i) => ({
        key: `jenkins:${big}#${i}@pool`,
        ok: false,
        at: new Date(now).toISOString(),
      })),
      recycles: Array.from({ length: 40 }, (_, i): RecycleRecord => ({
        id: `rc-${i}-0123abcd`,
        site: 'pool',
        target: 'x',
        strategy: 'evict',
        trigger: { source: 'jenkins', reason: big },
        dryRun: false,
        state: 'running',
        createdAt: new Date(now - i).toISOString(),
        steps: Array.from({ length: 40 }, () => ({ at: new Date(now).toISOString(), message: big })),
      })),
    }
    t.ok(Buffer.byteLength(JSON.stringify(s)) > LIMITS.siteBytes, 'too large to begin with')
    const out = boundSiteState(s, { now, windowMs: 3_600_000 })
    t.ok(Buffer.byteLength(JSON.stringify(out)) <= LIMITS.siteBytes, 'under the bound after')
    t.ok(out.recycles.length > 0, 'the newest unfinished records are kept')
    t.equal(out.recycles.at(-1)!.id, 'rc-39-0123abcd')
  },
)

t.test('issue 22 point 4: a stored state over its bound (written by hand) is bounded when loaded', async (t) => {
  const objects = memoryObjectStore()
  const now = Date.now()
  const big = 'y'.repeat(290)
  const s = {
    ...emptySiteState('pool'),
    recycles: Array.from({ length: 30 }, (_, i): RecycleRecord => ({
      id: `rc-${i}-0123abcd`,
      site: 'pool',
      target: 'x',
      strategy: 'evict',
      trigger: { source: 'jenkins', reason: big },
      dryRun: false,
      state: i === 29 ? 'running' : 'failed',
      createdAt: new Date(now - i).toISOString(),
      steps: Array.from({ length: 100 }, () => ({ at: new Date(now).toISOString(), message: big })),
    })),
  }
  await objects.write(objectName('pool'), JSON.stringify(s), undefined)
  t.ok(Buffer.byteLength(JSON.stringify(s)) > LIMITS.siteBytes)
  const store = createStore({ objects, sites: config.sites, clock: manualClock(now), logger: logger(), durable: true })
  store.start()
  t.teardown(() => store.close())
  await store.loaded()
  const got = store.get('pool')
  t.ok(Buffer.byteLength(JSON.stringify(got)) <= LIMITS.siteBytes, 'under its bound')
  t.ok(
    got.recycles.every((r) => r.steps.length <= 40),
    'every record at most 40 steps',
  )
  t.ok(
    got.recycles.some((r) => r.state === 'running'),
    'the running one kept',
  )
})
