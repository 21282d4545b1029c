// A call that fails on the way (connection reset, a 5xx) does not end a
// heal half way: evict tries it again until the deadline. A forbidden one
// ends it at once. The Kube here records calls and plays the controller.

import t from 'tap'
import { manualClock } from '../../src/clock.ts'
import { Errors } from '../../src/errors.ts'
import { evict } from '../../src/recycle/strategies/evict.ts'
import type { StrategyContext } from '../../src/recycle/strategies/types.ts'
import type { Kube, PodState, WorkloadState } from '../../src/kube/types.ts'
import { podState, workloadState } from '../fixtures/states.ts'

const w: WorkloadState = workloadState({ desired: 1, current: 1, updated: 1, ready: 1, available: 1 })
const pod = (name: string, ready = true): PodState => podState(name, { ready, createdAt: '2026-01-01T00:00:00Z' })

function setup(fail: Error) {
  const calls: string[] = []
  let pods = [pod('web-old', false)]
  let failures = 1
  const kube = {
    listPods: async () => pods,
    evictPod: async (_ns: string, name: string) => {
      calls.push(`evict ${name}`)
      if (failures-- > 0) throw fail
      pods = [pod('web-new')]
      return 'evicted'
    },
  } as unknown as Kube
  const steps: string[] = []
  const clock = manualClock()
  const ctx = {
    kube,
    clock,
    workload: w,
    commitEnv: 'SITE_COMMIT',
    maxUnavailable: 1,
    unhealthyPods: 'delete' as const,
    deadline: clock.now() + 60_000,
    step: (m: string) => steps.push(m),
    signal: new AbortController().signal,
    sleep: async (ms: number) => {
      clock.advance(ms)
    },
  }
  return { ctx, calls, steps }
}

/** As the engine runs it: prepare (nothing to pin: the lock alone), then go on from the workload. */
async function run(ctx: StrategyContext) {
  const p = await evict.prepare(ctx)
  if (p.kind === 'skip' || p.first) throw new Error('expected the lock alone, then the evictions')
  return p.proceed(ctx.workload)
}

t.test('a connection reset while evicting is tried again', async (t) => {
  const { ctx, calls, steps } = setup(Errors.kube('evict pod ns/web-old: ECONNRESET'))
  const out = await run(ctx)
  t.equal(out.state, 'succeeded', steps.join('\n'))
  t.same(calls, ['evict web-old', 'evict web-old'])
  t.match(steps.join('\n'), /evict web-old failed \(evict pod ns\/web-old: ECONNRESET\); trying again in 500 ms/)
})

t.test('a forbidden eviction ends the recycle at once', async (t) => {
  const { ctx, calls } = setup(Errors.kubeForbidden('evict pod ns/web-old: forbidden'))
  await t.rejects(run(ctx), { code: Errors.kubeForbidden.code })
  t.same(calls, ['evict web-old'])
})
