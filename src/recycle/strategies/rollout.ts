// rollout: patch the pod template (restartedAt with milliseconds, the pinned
// commit as an annotation and an env var) and let the workload's controller
// roll the pods; watch it as `kubectl rollout status` would. Idempotent: the
// same patch twice only bumps restartedAt, which rolls once more, never
// leaves a mix.

import { judgeRollout } from '../rollout-status.ts'
import type { WorkloadState } from '../../kube/types.ts'
import type { RunOutcome } from '../executor.ts'
import type { Strategy, StrategyContext } from './types.ts'

/** Container waiting reasons that will not fix themselves by waiting. */
export const STUCK_REASONS = new Set(['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerConfigError', 'CreateContainerError', 'InvalidImageName', 'RunContainerError'])

export const rollout: Strategy = {
  name: 'rollout',
  async run(ctx) {
    const ref = ctx.workload.ref
    if (ctx.workload.paused) return { state: 'skipped', reason: `${ref.kind} ${ref.namespace}/${ref.name} is paused: resume it (kubectl rollout resume) or recycle with evict` }
    const restartedAt = new Date(ctx.clock.now()).toISOString()
    const patched = await ctx.kube.restartWorkload(ref, {
      restartedAt,
      ...(ctx.commit ? { commit: ctx.commit, commitEnv: ctx.commitEnv } : {}),
      annotations: ctx.lock.annotations,
      resourceVersion: ctx.lock.resourceVersion,
    })
    ctx.step(`patched the pod template of ${ref.kind} ${ref.namespace}/${ref.name} (restartedAt ${restartedAt}${ctx.commit ? `, commit ${ctx.commit.slice(0, 12)}` : ''}), generation ${patched.generation}`)
    return watchRollout(ctx, patched.generation, Date.parse(restartedAt))
  },
}

/** Watches until the rollout is done, failed, stuck, or past the deadline. */
export async function watchRollout(ctx: StrategyContext, generation: number, since: number): Promise<RunOutcome> {
  const ref = ctx.workload.ref
  const stop = new AbortController()
  const onAbort = (): void => stop.abort()
  if (ctx.signal.aborted) stop.abort()
  else ctx.signal.addEventListener('abort', onAbort, { once: true })
  let lastMessage = ''
  let lastPodCheck = ctx.clock.now()
  let checking = false
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
      const stuckPods = async (): Promise<string | undefined> => {
        const pods = await ctx.kube.listPods(ref.namespace, ctx.workload.selector)
        const fresh = pods.filter((p) => !p.terminating && Date.parse(p.createdAt) >= since - 1000)
        const stuck = fresh.filter((p) => p.waitingReason !== undefined && STUCK_REASONS.has(p.waitingReason))
        if (stuck.length > 0) return stuck.map((p) => `${p.name} ${p.waitingReason}`).join(', ')
        return undefined
      }
      const onDeadline = async (): Promise<void> => {
        let detail = ''
        try {
          const pods = await ctx.kube.listPods(ref.namespace, ctx.workload.selector)
          const notReady = pods.filter((p) => !p.terminating && !p.ready && Date.parse(p.createdAt) >= since - 1000)
          if (notReady.length > 0) detail = `; not ready: ${notReady.map((p) => `${p.name}${p.waitingReason ? ` (${p.waitingReason})` : ` (${p.phase})`}`).join(', ')}`
        } catch {
          detail = ''
        }
        settle({ state: 'failed', reason: `the rollout did not finish before its deadline: ${lastMessage || 'no progress'}${detail}` })
      }
      const timer = setTimeout(() => { void onDeadline() }, Math.max(0, ctx.deadline - ctx.clock.now()))
      const onState = (s: WorkloadState): void => {
        if (settled || s.generation < generation) return
        const j = judgeRollout(s)
        if (j.message !== lastMessage) {
          lastMessage = j.message
          ctx.step(j.message)
        }
        if (j.done) return settle({ state: 'succeeded', message: j.message })
        if (j.failed) return settle({ state: 'failed', reason: j.message })
        // Pods that crash-loop never make progress: say so instead of waiting out the deadline.
        if (!checking && ctx.clock.now() - lastPodCheck >= 3000) {
          checking = true
          lastPodCheck = ctx.clock.now()
          void stuckPods().then((stuck) => {
            checking = false
            if (stuck) settle({ state: 'failed', reason: `pods cannot start: ${stuck}` })
          }, () => { checking = false })
        }
      }
      if (stop.signal.aborted) return settle({ state: 'failed', reason: 'shutting down: the rollout is left to its controller and will be watched again' })
      ctx.kube.watchWorkload(ref, onState, stop.signal).then(
        () => { if (!settled && ctx.signal.aborted) settle({ state: 'failed', reason: 'shutting down: the rollout is left to its controller and will be watched again' }) },
        (e: unknown) => settle({ state: 'failed', reason: `watching the rollout failed: ${(e as Error).message}` }),
      )
    })
  } finally {
    ctx.signal.removeEventListener('abort', onAbort)
  }
}
