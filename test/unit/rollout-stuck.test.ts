// A rollout that cannot finish fails early, each cause judged by polling as
// well as by watch events: a rollout stuck on NotReady or crash-looping pods
// changes nothing on the workload, so no watch event would ever come. kwok
// cannot crash a container, so a small fake Kube plays the API here (the
// integration tests write the crash-loop into real pod status).

import t from 'tap'
import { manualClock } from '../../src/clock.ts'
import { ROLLOUT_READ_EVERY, watchRollout } from '../../src/recycle/strategies/rollout.ts'
import { judgePods, judgeRollout, notReadyLimit } from '../../src/recycle/rollout-status.ts'
import { replacementOrder } from '../../src/recycle/strategies/evict.ts'
import type { Kube, PodState, WorkloadState } from '../../src/kube/types.ts'
import { podState, workloadState } from '../fixtures/states.ts'

const state = (over: Partial<WorkloadState>): WorkloadState =>
  workloadState({ desired: 2, current: 3, updated: 1, ready: 2, available: 2, progressDeadlineSeconds: 600, ...over })

const pod = (name: string, over: Partial<PodState> = {}): PodState => podState(name, over)

/** A Kube whose watch never says anything after the first state: only polling can judge. */
function silentKube(w: () => WorkloadState, pods: () => PodState[]): Kube {
  return {
    watchWorkload: (_ref: unknown, onState: (s: WorkloadState) => void, signal: AbortSignal) => {
      onState(w())
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
    },
    getWorkload: async () => w(),
    listPods: async () => pods(),
  } as unknown as Kube
}

function ctx(kube: Kube, clock: ReturnType<typeof manualClock>, steps: string[] = []) {
  return {
    kube,
    clock,
    workload: state({}),
    commitEnv: 'SITE_COMMIT',
    maxUnavailable: 1,
    unhealthyPods: 'delete' as const,
    deadline: clock.now() + 600_000,
    step: (m: string) => steps.push(m),
    signal: new AbortController().signal,
    pollMs: 5,
    // Each poll moves the manual clock on a second, as if time passed between reads.
    sleep: (ms: number) =>
      new Promise<void>((r) =>
        setTimeout(() => {
          clock.advance(1000)
          r()
        }, ms),
      ),
  }
}

t.test('a crash-looping new pod fails the rollout early by polling, naming it', async (t) => {
  const clock = manualClock()
  const since = clock.now()
  const pods = [
    pod('web-new-1', {
      ready: false,
      createdAt: new Date(since + 10).toISOString(),
      restarts: 4,
      waitingReason: 'CrashLoopBackOff',
    }),
    pod('web-old-1', { createdAt: new Date(since - 60_000).toISOString() }),
  ]
  const steps: string[] = []
  const outcome = await watchRollout(
    ctx(
      silentKube(
        () => state({}),
        () => pods,
      ),
      clock,
      steps,
    ),
    2,
    since,
  )
  t.same(outcome, {
    state: 'failed',
    cause: 'crash-loop',
    reason: 'new pods are crash-looping: web-new-1 (CrashLoopBackOff, 4 restarts)',
  })
  t.match(steps[0], /1 out of 2 new replicas have been updated/)
})

t.test('an old crash-looping pod does not fail a rollout', async (t) => {
  const clock = manualClock()
  const since = clock.now()
  const pods = [
    pod('web-old-1', {
      ready: false,
      createdAt: new Date(since - 60_000).toISOString(),
      restarts: 9,
      waitingReason: 'CrashLoopBackOff',
    }),
  ]
  let n = 0
  const outcome = await watchRollout(
    ctx(
      silentKube(
        () => (++n > 3 ? state({ updated: 2, current: 2, available: 2 }) : state({})),
        () => pods,
      ),
      clock,
    ),
    2,
    since,
  )
  t.equal(outcome.state, 'succeeded')
})

t.test('new pods running but never Ready past progressDeadlineSeconds fail by polling, no event needed', async (t) => {
  const clock = manualClock()
  const since = clock.now()
  const w = state({ progressDeadlineSeconds: 5 })
  const pods = [
    pod('web-new-1', {
      ready: false,
      createdAt: new Date(since).toISOString(),
      startedAt: new Date(since).toISOString(),
    }),
  ]
  const outcome = await watchRollout(
    {
      ...ctx(
        silentKube(
          () => w,
          () => pods,
        ),
        clock,
      ),
      workload: w,
    },
    2,
    since,
  )
  t.match(outcome, {
    state: 'failed',
    cause: 'not-ready',
    reason: /^new pods never became Ready within 5s \(progressDeadlineSeconds 5\): web-new-1 running [6-9]s$/,
  })
})

t.test(
  "ProgressDeadlineExceeded seen by polling; a stale one from before the rollout is not this rollout's failure",
  async (t) => {
    const clock = manualClock()
    const since = clock.now()
    const exceeded = (at: number) =>
      state({
        conditions: [
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            lastUpdateTime: new Date(at).toISOString(),
          },
        ],
      })
    let n = 0
    const outcome = await watchRollout(
      ctx(
        silentKube(
          () => (++n > 2 ? exceeded(since + 3000) : exceeded(since - 60_000)),
          () => [],
        ),
        clock,
      ),
      2,
      since,
    )
    t.match(outcome, {
      state: 'failed',
      cause: 'progress-deadline',
      reason: /exceeded its progress deadline \(ProgressDeadlineExceeded after 600s\)/,
    })
    t.equal(judgeRollout(exceeded(since - 60_000), since).done, false)
    t.equal(
      (judgeRollout(exceeded(since - 60_000), since) as { failed: boolean }).failed,
      false,
      'stale condition ignored',
    )
    t.equal((judgeRollout(exceeded(since - 60_000)) as { failed: boolean }).failed, true, 'without since: as kubectl')
  },
)

t.test("judgePods and notReadyLimit by the workload's own limits", async (t) => {
  const now = Date.parse('2026-01-01T00:10:00Z')
  const all = () => true
  t.same(notReadyLimit(state({ progressDeadlineSeconds: 20 })), { seconds: 20, why: 'progressDeadlineSeconds 20' })
  t.same(
    notReadyLimit(
      state({ ref: { kind: 'StatefulSet', namespace: 'ns', name: 'db' }, readyBudgetSeconds: 41, minReadySeconds: 5 }),
    ).seconds,
    76,
  )
  t.equal(
    notReadyLimit(state({ progressDeadlineSeconds: 600, readyBudgetSeconds: 41 })).seconds,
    71,
    'a Deployment: the shorter of the two',
  )
  const sts = state({ ref: { kind: 'StatefulSet', namespace: 'ns', name: 'db' } })
  t.equal(
    judgePods(sts, [pod('a', { ready: false, startedAt: new Date(now - 29_000).toISOString() })], all, now),
    undefined,
    'within the grace',
  )
  t.match(judgePods(sts, [pod('a', { ready: false, startedAt: new Date(now - 31_000).toISOString() })], all, now), {
    cause: 'not-ready',
  })
  t.match(judgePods(sts, [pod('a', { ready: false, restarts: 3 })], all, now), {
    cause: 'crash-loop',
    message: /a \(not Ready, 3 restarts\)/,
  })
  t.match(judgePods(sts, [pod('a', { ready: false, waitingReason: 'ImagePullBackOff' })], all, now), {
    cause: 'cannot-start',
    message: 'new pods cannot start: a ImagePullBackOff',
  })
  t.equal(
    judgePods(sts, [pod('a', { ready: false, waitingReason: 'ContainerCreating' })], all, now),
    undefined,
    'still starting',
  )
  t.equal(
    judgePods(sts, [pod('a', { ready: false, waitingReason: 'CrashLoopBackOff' })], () => false, now),
    undefined,
    'only fresh pods are judged',
  )
})

t.test('replacementOrder: crash-looping, then NotReady, then healthy', async (t) => {
  const o = replacementOrder([
    pod('a'),
    pod('b', { ready: false }),
    pod('c', { ready: false, waitingReason: 'CrashLoopBackOff', restarts: 5 }),
    pod('d', { terminating: true }),
    pod('e'),
  ])
  t.same(
    o.unhealthy.map((p) => p.name),
    ['c', 'b'],
  )
  t.same(
    o.healthy.map((p) => p.name),
    ['a', 'e'],
  )
})

t.test('polls read the pods; the workload only every ROLLOUT_READ_EVERY polls once the watch has spoken', async (t) => {
  const clock = manualClock()
  const since = clock.now()
  let gets = 0
  let lists = 0
  const kube = {
    watchWorkload: (_ref: unknown, onState: (s: WorkloadState) => void, signal: AbortSignal) => {
      onState(state({}))
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
    },
    getWorkload: async () => {
      gets++
      return gets >= 2 ? state({ updated: 2, current: 2, available: 2 }) : state({})
    },
    listPods: async () => {
      lists++
      return [pod('web-1')]
    },
  } as unknown as Kube
  const outcome = await watchRollout(ctx(kube, clock), 2, since)
  t.equal(outcome.state, 'succeeded', 'a silent watch is still caught by the read')
  t.equal(lists, 2 * ROLLOUT_READ_EVERY, `the pods on every poll (${lists})`)
  t.equal(gets, 2, `the workload on polls ${ROLLOUT_READ_EVERY} and ${2 * ROLLOUT_READ_EVERY} only`)
})
