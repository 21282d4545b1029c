// When a failed recycle is rolled back, and when not: the decision part of
// rollbackFailed (the restore itself runs on the real control plane in
// test/integration/heal.test.ts). The Kube here only records calls.

import t from 'tap'
import { manualClock } from '../../src/clock.ts'
import { rollbackFailed } from '../../src/recycle/rollback.ts'
import type { Kube, WorkloadState } from '../../src/kube/types.ts'
import { workloadState } from '../fixtures/states.ts'

const w: WorkloadState = workloadState()

function ctx(over: Partial<WorkloadState> = {}, undo?: () => Promise<never>) {
  const calls: string[] = []
  const steps: string[] = []
  const kube = {
    undoRollout: async (_ref: unknown, to: number) => {
      calls.push(`undo ${to}`)
      return undo ? undo() : Promise.reject(new Error('not here'))
    },
    currentRevision: async () => 2,
  } as unknown as Kube
  return {
    calls,
    steps,
    c: {
      kube,
      clock: manualClock(),
      workload: { ...w, ...over },
      commitEnv: 'SITE_COMMIT',
      maxUnavailable: 1,
      unhealthyPods: 'delete' as const,
      deadline: 0,
      step: (m: string) => steps.push(m),
      signal: new AbortController().signal,
      sleep: async () => {},
    },
  }
}

const failed = {
  state: 'failed' as const,
  reason: 'new pods are crash-looping: web-x',
  cause: 'crash-loop' as const,
  revisionBefore: 1,
}

t.test('no revision before (evict/delete, or unreadable): unchanged, nothing restored', async (t) => {
  const { c, calls } = ctx()
  const { revisionBefore: _, ...noRev } = failed
  t.same(await rollbackFailed(c, noRev, { rollback: 'auto', timeoutMs: 1000 }), noRev)
  t.same(calls, [])
})

t.test('rollback: off says so and restores nothing', async (t) => {
  const { c, calls, steps } = ctx()
  t.same(await rollbackFailed(c, failed, { rollback: 'off', timeoutMs: 1000 }), failed)
  t.same(calls, [])
  t.match(steps.join('\n'), /not rolling back \(recycle.rollback: off\)/)
})

t.test('a revision that had no available pod either is not restored', async (t) => {
  const { c, calls, steps } = ctx({ available: 0 })
  t.same(await rollbackFailed(c, failed, { rollback: 'auto', timeoutMs: 1000 }), failed)
  t.same(calls, [])
  t.match(steps.join('\n'), /no pod of revision 1 was available either/)
})

t.test('a rollback that cannot restore is reported once, rolledBack false', async (t) => {
  const { c, calls } = ctx()
  const out = await rollbackFailed(c, failed, { rollback: 'auto', timeoutMs: 1000 })
  t.same(calls, ['undo 1'], 'one attempt, never a loop')
  t.match(out, {
    state: 'failed',
    cause: 'crash-loop',
    rolledBack: false,
    reason: /^new pods are crash-looping: web-x; the rollback failed: /,
  })
})

t.test('shutting down: no rollback', async (t) => {
  const { c, calls } = ctx()
  const ac = new AbortController()
  ac.abort()
  t.same(await rollbackFailed({ ...c, signal: ac.signal }, failed, { rollback: 'auto', timeoutMs: 1000 }), failed)
  t.same(calls, [])
})
