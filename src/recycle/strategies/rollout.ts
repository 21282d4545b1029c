// rollout: patch the pod template (restartedAt with milliseconds, the pinned
// commit as an annotation and an env var) and let the workload's controller
// roll the pods; watch it as `kubectl rollout status` would. Idempotent: the
// same patch twice only bumps restartedAt, which rolls once more, never
// leaves a mix.
//
// A rollout that cannot finish fails early, each with its own cause: new pods
// crash-looping or stuck waiting, new pods running but never Ready past the
// workload's own limits (notReadyLimit), ProgressDeadlineExceeded. Each is
// judged on every watch event AND by polling: a rollout stuck on NotReady pods
// changes nothing on the workload, so no event would ever come to judge it.

import { judgePods, judgeRollout, type RolloutFailure } from '../rollout-status.ts'
import type { PodState, WorkloadState } from '../../kube/types.ts'
import type { RunOutcome } from '../executor.ts'
import type { CanaryMark } from '../../kube/types.ts'
import type { CanaryResult } from '../../state/schema.ts'
import { canaryHold, judgeCanary, type CanaryEnd } from './canary.ts'
import type { Strategy, StrategyContext } from './types.ts'

/** How often the pods are read again while a rollout runs. */
export const ROLLOUT_POLL_MS = 2000

/**
 * Every how many polls the workload is read too. The watch brings its
 * changes; the read is the net under a watch that went silent without
 * ending. Not every poll: a healthy rollout of a few seconds makes only the
 * requests kubectl's would (docs/benchmarks.md).
 */
export const ROLLOUT_READ_EVERY = 5

export const rollout: Strategy = {
  name: 'rollout',
  async prepare(ctx) {
    const ref = ctx.workload.ref
    if (ctx.workload.paused)
      return {
        kind: 'skip',
        reason: `${ref.kind} ${ref.namespace}/${ref.name} is paused: resume it (kubectl rollout resume) or recycle with evict`,
      }
    // What a rollback would restore: read before the patch makes a new one.
    // Not knowing it only means no rollback: the recycle goes on.
    // A Deployment's is in the state the lock was read with (no request).
    const revisionBefore = await ctx.kube.currentRevision(ref, ctx.workload).catch((e: unknown) => {
      ctx.step(`could not read the revision before this rollout, so it cannot be rolled back: ${(e as Error).message}`)
      return undefined
    })
    const restartedAt = new Date(ctx.clock.now()).toISOString()
    let mark: CanaryMark | undefined
    if (ctx.canary) {
      const hold = canaryHold(ctx.workload, ctx.canary.recycleId, revisionBefore)
      if ('no' in hold)
        ctx.step(`canary: not for ${ref.kind} ${ref.namespace}/${ref.name}: ${hold.no}; rolling every pod`)
      else mark = hold.mark
    }
    return {
      kind: 'act',
      // Read with the lock's resourceVersion: the patch fails (409) if they changed.
      first: {
        restartedAt,
        ...(ctx.commit ? { commit: ctx.commit, commitEnv: ctx.commitEnv } : {}),
        containers: ctx.workload.containers,
        ...(mark ? { canary: mark } : {}),
      },
      async proceed(patched) {
        ctx.step(
          `patched the pod template of ${ref.kind} ${ref.namespace}/${ref.name} (restartedAt ${restartedAt}${ctx.commit ? `, commit ${ctx.commit.slice(0, 12)}` : ''}), generation ${patched.generation}${revisionBefore !== undefined ? `; revision ${revisionBefore} before it` : ''}`,
        )
        const since = Date.parse(restartedAt)
        if (mark && ctx.canary) {
          const end = await judgeCanary(ctx, ctx.canary, patched, mark, since)
          const outcome = await afterCanary(ctx, end, since)
          return end.passed && revisionBefore !== undefined && outcome.state !== 'skipped'
            ? { ...outcome, revisionBefore }
            : outcome
        }
        // Watched from the patch's answer: no read before the watch.
        const outcome = await watchRollout(ctx, patched.generation, since, patched)
        return revisionBefore !== undefined && outcome.state !== 'skipped' ? { ...outcome, revisionBefore } : outcome
      },
    }
  },
}

/**
 * After the canary's verdict: released, the rollout is watched to its end as
 * any other; undone, the old revision is watched until it stands alone, and
 * the recycle is `canary-failed` (never rolled back again: it is undone).
 */
export async function afterCanary(ctx: StrategyContext, end: CanaryEnd, since: number): Promise<RunOutcome> {
  const with_ = (o: RunOutcome, canary: CanaryResult): RunOutcome => (o.state === 'skipped' ? o : { ...o, canary })
  if (end.passed) return with_(await watchRollout(ctx, end.workload.generation, since, end.workload), end.result)
  if (!end.undone) return { state: 'failed', reason: end.reason, canary: end.result }
  const undone = end.undone
  const watched = await watchRollout(
    { ...ctx, workload: { ...ctx.workload, ...undone, selector: ctx.workload.selector } },
    undone.generation,
    ctx.clock.now(),
    undone,
  )
  return {
    state: 'failed',
    canary: end.result,
    rolledBack: watched.state === 'succeeded',
    reason: `${end.reason}; ${watched.state === 'succeeded' ? 'the revision before stands alone again' : `the undo did not finish: ${watched.state === 'failed' ? watched.reason : 'skipped'}`}`,
  }
}

const SHUTTING_DOWN = 'shutting down: the rollout is left to its controller and will be watched again'

/** Watches until the rollout is done, failed, stuck, or past the deadline. */
export async function watchRollout(
  ctx: StrategyContext,
  generation: number,
  since: number,
  from?: WorkloadState,
): Promise<RunOutcome> {
  const ref = ctx.workload.ref
  const pollMs = ctx.pollMs ?? ROLLOUT_POLL_MS
  const stop = new AbortController()
  const onAbort = (): void => stop.abort()
  if (ctx.signal.aborted) stop.abort()
  else ctx.signal.addEventListener('abort', onAbort, { once: true })
  let lastMessage = ''
  // New pods are the ones created since the template changed (a second of
  // slack: creationTimestamp has second precision).
  const fresh = (p: PodState): boolean => Date.parse(p.createdAt) >= since - 1000
  try {
    return await new Promise<RunOutcome>((resolve) => {
      let settled = false
      const settle = (o: RunOutcome): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        stop.abort()
        resolve(o)
      }
      const fail = (cause: RolloutFailure, reason: string): void => settle({ state: 'failed', cause, reason })
      const onDeadline = async (): Promise<void> => {
        let detail = ''
        try {
          const pods = await ctx.kube.listPods(ref.namespace, ctx.workload.selector)
          const notReady = pods.filter((p) => !p.terminating && !p.ready && fresh(p))
          if (notReady.length > 0)
            detail = `; not ready: ${notReady.map((p) => `${p.name}${p.waitingReason ? ` (${p.waitingReason})` : ` (${p.phase})`}`).join(', ')}`
        } catch {
          detail = ''
        }
        fail('deadline', `the rollout did not finish before its deadline: ${lastMessage || 'no progress'}${detail}`)
      }
      const timer = setTimeout(
        () => {
          void onDeadline()
        },
        Math.max(0, ctx.deadline - ctx.clock.now()),
      )
      // The workload's state comes from the watch (latest); a poll reads the
      // pods, whose changes never show on the workload, and the workload
      // itself only every ROLLOUT_READ_EVERY polls or before the watch said anything.
      let latest: WorkloadState | undefined
      let polls = 0
      const onState = (s: WorkloadState): void => {
        latest = s
        if (settled || s.generation < generation) return
        const j = judgeRollout(s, since)
        if (j.message !== lastMessage) {
          lastMessage = j.message
          ctx.step(j.message)
        }
        if (j.done) return settle({ state: 'succeeded', message: j.message })
        if (j.failed) return fail(j.cause, j.message)
      }
      const judgeNow = async (): Promise<void> => {
        polls++
        const read = latest === undefined || polls % ROLLOUT_READ_EVERY === 0
        const [w, pods] = await Promise.all([
          read ? ctx.kube.getWorkload(ref) : latest!,
          ctx.kube.listPods(ref.namespace, ctx.workload.selector),
        ])
        if (settled) return
        onState(w)
        if (settled || w.generation < generation) return
        const v = judgePods(w, pods, fresh, ctx.clock.now())
        if (v) fail(v.cause, v.message)
      }
      // Polling: the judge of every cause even when no watch event comes.
      const poll = async (): Promise<void> => {
        while (!settled && !stop.signal.aborted) {
          await ctx.sleep(pollMs, stop.signal)
          if (settled || stop.signal.aborted) return
          try {
            await judgeNow()
          } catch {
            // A failed read is not a failed rollout: the watch and the next poll go on.
          }
        }
      }
      if (stop.signal.aborted) return settle({ state: 'failed', reason: SHUTTING_DOWN })
      void poll()
      ctx.kube.watchWorkload(ref, onState, stop.signal, from).then(
        () => {
          if (!settled && ctx.signal.aborted) settle({ state: 'failed', reason: SHUTTING_DOWN })
        },
        (e: unknown) => settle({ state: 'failed', reason: `watching the rollout failed: ${(e as Error).message}` }),
      )
    })
  } finally {
    ctx.signal.removeEventListener('abort', onAbort)
  }
}
