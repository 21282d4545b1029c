// Pods that crash-loop never make progress: the rollout is failed with their
// names instead of waiting out the deadline. kwok cannot crash a container,
// so a small fake Kube plays the API here.

import t from 'tap'
import { manualClock } from '../../src/clock.ts'
import { watchRollout } from '../../src/recycle/strategies/rollout.ts'
import type { Kube, PodState, WorkloadState } from '../../src/kube/types.ts'

const state = (over: Partial<WorkloadState>): WorkloadState => ({
  ref: { kind: 'Deployment', namespace: 'ns', name: 'web' },
  uid: 'u', resourceVersion: '1', generation: 2, observedGeneration: 2, annotations: {}, templateAnnotations: {}, selector: 'app=web',
  desired: 2, current: 3, updated: 1, ready: 2, available: 2, paused: false, conditions: [], ...over,
})

t.test('a crash-looping new pod fails the rollout early, naming it', async (t) => {
  const clock = manualClock()
  let emit: (s: WorkloadState) => void = () => {}
  const since = clock.now()
  const pods: PodState[] = [
    { name: 'web-new-1', namespace: 'ns', uid: '1', phase: 'Running', ready: false, terminating: false, createdAt: new Date(since + 10).toISOString(), restarts: 4, waitingReason: 'CrashLoopBackOff', labels: {} },
    { name: 'web-old-1', namespace: 'ns', uid: '2', phase: 'Running', ready: true, terminating: false, createdAt: new Date(since - 60_000).toISOString(), restarts: 0, labels: {} },
  ]
  const kube = {
    watchWorkload: (_ref: unknown, onState: (s: WorkloadState) => void, signal: AbortSignal) => {
      emit = onState
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
    },
    listPods: async () => pods,
  } as unknown as Kube
  const steps: string[] = []
  const p = watchRollout({
    kube, clock, workload: state({}), commitEnv: 'SITE_COMMIT', maxUnavailable: 1,
    deadline: since + 600_000, lock: { annotations: {}, resourceVersion: '1' },
    step: (m) => steps.push(m), signal: new AbortController().signal, sleep: async () => {},
  }, 2, since)
  emit(state({ updated: 1 }))
  clock.advance(3_500)
  emit(state({ updated: 1, ready: 2 }))
  const outcome = await p
  t.same(outcome, { state: 'failed', reason: 'pods cannot start: web-new-1 CrashLoopBackOff' })
  t.match(steps[0], /1 out of 2 new replicas have been updated/)
})
