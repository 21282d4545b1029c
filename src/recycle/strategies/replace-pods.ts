// replace-pods: the first rung of the ladder. Only the pods that failed their
// per-pod checks are replaced, maxUnavailable at a time, through the
// Eviction API (a PodDisruptionBudget is respected: its 429 waits), and each
// replacement, once Ready, is probed on its own IP before the next batch: a
// replacement that fails too means the pods' template (or what they pull)
// is bad, and the ladder escalates instead of replacing more.
//
// Nothing of the template changes, so there is nothing to roll back; the lock
// is taken alone (the engine's request), and the controller makes the
// replacements from the template it has.

import type { PodState } from '../../kube/types.ts'
import type { ReplaceTarget, RunOutcome } from '../executor.ts'
import { judgePods } from '../rollout-status.ts'
import { removePod, retrying } from './evict.ts'
import type { Strategy, StrategyContext } from './types.ts'

export function replacePods(target: ReplaceTarget): Strategy {
  return { name: 'replace-pods', prepare: async (ctx) => ({ kind: 'act', proceed: () => replace(ctx, target) }) }
}

async function replace(ctx: StrategyContext, target: ReplaceTarget): Promise<RunOutcome> {
  const ns = ctx.workload.ref.namespace
  const list = (): Promise<PodState[]> =>
    retrying(ctx, 'listing the pods', () => ctx.kube.listPods(ns, ctx.workload.selector))
  const before = await list()
  const originals = new Set(before.map((p) => p.uid))
  const todo = before.filter((p) => target.pods.includes(p.name) && !p.terminating)
  const gone = target.pods.filter((n) => !todo.some((p) => p.name === n))
  if (gone.length > 0) ctx.step(`already gone: ${gone.join(', ')}`)
  if (todo.length === 0)
    return { state: 'succeeded', message: 'replace-pods: the failing pods are gone already; nothing replaced' }
  const size = Math.max(1, ctx.maxUnavailable)
  ctx.step(
    `replace-pods: ${todo.length} of ${before.length} pods fail their per-pod checks (${todo.map((p) => p.name).join(', ')}); replacing them ${size} at a time, each replacement probed on its own IP`,
  )
  const seen = new Set<string>()
  const replaced: string[] = []
  for (let i = 0; i < todo.length; i += size) {
    const batch = todo.slice(i, i + size)
    for (const pod of batch) {
      const r = await removePod(ctx, 'evict', pod, false, () => `${replaced.length}/${todo.length} replaced`)
      if (!r.ok) return r.outcome
    }
    // The replacements: Ready pods that are none of the originals and not yet probed.
    const fresh = (p: PodState): boolean => !originals.has(p.uid) && !seen.has(p.uid)
    let poll = 250
    let ready: PodState[] = []
    for (;;) {
      if (ctx.signal.aborted) return { state: 'failed', reason: 'shutting down' }
      const pods = await list()
      ready = pods.filter((p) => !p.terminating && p.ready && p.ip && fresh(p))
      if (ready.length >= batch.length) break
      const v = judgePods(ctx.workload, pods, fresh, ctx.clock.now())
      if (v) return { state: 'failed', cause: v.cause, reason: `replacement ${v.message.replace(/^new /, '')}` }
      if (ctx.clock.now() > ctx.deadline)
        return {
          state: 'failed',
          cause: 'deadline',
          reason: `replacements not Ready before the deadline (${ready.length}/${batch.length})`,
        }
      await ctx.sleep(poll, ctx.signal)
      poll = Math.min(poll * 2, 2000)
    }
    for (const p of ready.slice(0, batch.length)) {
      seen.add(p.uid)
      const probed = await target.probe(p)
      if ('error' in probed)
        return { state: 'failed', reason: `replacement ${p.name} cannot be probed: ${probed.error}` }
      if (!probed.ok)
        return {
          state: 'failed',
          reason: `replacement ${p.name} fails ${probed.check ?? 'its per-pod checks'} too: ${probed.message ?? 'failed'}`,
        }
      replaced.push(p.name)
    }
    ctx.step(
      `replaced ${batch.map((p) => p.name).join(', ')} by ${ready
        .slice(0, batch.length)
        .map((p) => p.name)
        .join(', ')}: Ready and passing the per-pod checks`,
    )
  }
  return {
    state: 'succeeded',
    message: `replace-pods: ${todo.length} of ${before.length} pods replaced (${todo.map((p) => p.name).join(', ')}); each replacement passes its per-pod checks`,
  }
}
