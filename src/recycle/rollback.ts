// Automatic rollback: restore the pod template a failed recycle replaced, as
// `kubectl rollout undo --to-revision` does, and wait for it to be Ready.
//
// The restored revision brings its own pin with it (the template's
// kube-recycler.io/commit annotation and the commit env var are part of the
// template), so the template never says one commit while running another.
// At most one rollback per recycle: the engine calls this once, after a
// failed rollout, and a failed rollback is reported, never retried.

import type { RecycleConfig } from '../config/types.ts'
import { isAppError } from '../errors.ts'
import type { RunOutcome } from './executor.ts'
import type { StrategyContext } from './strategies/types.ts'
import { watchRollout } from './strategies/rollout.ts'
import { unhealthy } from './rollout-status.ts'

export interface RollbackContext extends StrategyContext {
  /** The revision to restore; default: the one before the current (kubectl's default). */
  toRevision?: number
  /** Why: the failed rollout's reason, for the steps. */
  because: string
}

/**
 * succeeded: the restored template is rolled out and Ready. failed: it could
 * not be restored or did not become Ready (the reason says which).
 */
export async function rollback(ctx: RollbackContext): Promise<RunOutcome> {
  const ref = ctx.workload.ref
  const where = `${ref.kind} ${ref.namespace}/${ref.name}`
  try {
    let to = ctx.toRevision
    if (to === undefined) {
      const current = await ctx.kube.currentRevision(ref)
      if (current === undefined || current <= 1)
        return { state: 'failed', reason: `${where} has no earlier revision to roll back to` }
      to = current - 1
    }
    ctx.step(`rolling back: ${ctx.because}; restoring revision ${to} of ${where}`)
    const since = ctx.clock.now()
    const { workload, restored } = await ctx.kube.undoRollout(ref, to)
    ctx.step(
      `restored the pod template of revision ${to}${restored.commit ? ` (commit ${restored.commit.slice(0, 12)})` : ' (no pinned commit)'}, generation ${workload.generation}; watching it`,
    )
    if (ref.kind === 'StatefulSet' && restored.name) {
      // A StatefulSet waits for a broken pod to become Ready before it
      // replaces anything, even after its template is restored (Kubernetes'
      // "forced rollback"): delete the unhealthy pods of the failed revision.
      for (const p of await ctx.kube.listPods(ref.namespace, ctx.workload.selector)) {
        if (p.terminating || !unhealthy(p) || p.labels['controller-revision-hash'] === restored.name) continue
        await ctx.kube.deletePod(ref.namespace, p.name)
        ctx.step(
          `deleted ${p.name}: not Ready on the failed revision; a StatefulSet does not replace it by itself after a rollback`,
        )
      }
    }
    const watched = await watchRollout(
      { ...ctx, workload: { ...ctx.workload, ...workload, selector: ctx.workload.selector } },
      workload.generation,
      since,
    )
    if (watched.state === 'succeeded')
      return { state: 'succeeded', message: `rolled back to revision ${to}: ${watched.message}` }
    return { state: 'failed', reason: `the rollback to revision ${to} did not finish: ${watched.reason}` }
  } catch (e) {
    return {
      state: 'failed',
      reason: `the rollback failed: ${isAppError(e) ? e.message : 'unexpected error (see the log)'}`,
    }
  }
}

type Failed = Extract<RunOutcome, { state: 'failed' }>

/**
 * After a failed recycle: with `recycle.rollback: auto`, a template the
 * recycle changed (`revisionBefore`) and a revision before it that was
 * healthy (some of its pods were available when the recycle began), roll back once and say how it went in
 * the outcome (`rolledBack`). The rollback gets its own `timeout`: the
 * recycle's may be spent by the time it failed.
 */
export async function rollbackFailed(
  ctx: StrategyContext,
  failed: Failed,
  cfg: Pick<RecycleConfig, 'rollback' | 'timeoutMs'>,
): Promise<Failed> {
  // A canary's failure is undone already, by the canary itself.
  if (failed.revisionBefore === undefined || failed.canary || ctx.signal.aborted) return failed
  if (cfg.rollback === 'off') {
    ctx.step(
      `not rolling back (recycle.rollback: off): the failed template stays; revision ${failed.revisionBefore} is the one before it`,
    )
    return failed
  }
  if (ctx.workload.desired > 0 && ctx.workload.available === 0) {
    ctx.step(
      `not rolling back: before this recycle no pod of revision ${failed.revisionBefore} was available either, so restoring it cannot heal the site`,
    )
    return failed
  }
  const r = await rollback({
    ...ctx,
    deadline: ctx.clock.now() + cfg.timeoutMs,
    toRevision: failed.revisionBefore,
    because: failed.reason,
  })
  if (r.state === 'succeeded') {
    ctx.step(r.message)
    return { ...failed, reason: `${failed.reason}; ${r.message}`, rolledBack: true }
  }
  ctx.step(r.reason)
  return { ...failed, reason: `${failed.reason}; ${r.reason}`, rolledBack: false }
}
