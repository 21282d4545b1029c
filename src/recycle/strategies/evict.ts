// evict and delete: replace the pods a batch at a time (maxUnavailable),
// waiting for the replacements to be Ready before the next batch. evict goes
// through the Eviction API, so a PodDisruptionBudget is honoured: its 429
// means wait and retry with backoff, never force. delete is the same pacing
// with plain deletes, for clusters without PDBs.

import type { PodState } from '../../kube/types.ts'
import type { RunOutcome } from '../executor.ts'
import type { Strategy, StrategyContext } from './types.ts'

function podsToReplace(pods: PodState[]): PodState[] {
  return pods.filter((p) => !p.terminating).sort((a, b) => a.name.localeCompare(b.name))
}

async function replaceInBatches(ctx: StrategyContext, mode: 'evict' | 'delete'): Promise<RunOutcome> {
  const ref = ctx.workload.ref
  const ns = ref.namespace
  const initial = podsToReplace(await ctx.kube.listPods(ns, ctx.workload.selector))
  if (initial.length === 0) return { state: 'skipped', reason: `no pods match ${ctx.workload.selector} in ${ns}` }
  const want = Math.max(ctx.workload.desired, 0)
  const batch = Math.max(1, ctx.maxUnavailable)
  const replaced = new Set<string>()
  ctx.step(`${mode}: ${initial.length} pods, ${batch} at a time`)
  for (let i = 0; i < initial.length; i += batch) {
    const group = initial.slice(i, i + batch)
    for (const pod of group) {
      let backoff = 500
      for (;;) {
        if (ctx.signal.aborted) return { state: 'failed', reason: 'shutting down' }
        if (ctx.clock.now() > ctx.deadline) return { state: 'failed', reason: `deadline passed while replacing ${pod.name} (${replaced.size}/${initial.length} replaced)` }
        const r = mode === 'evict' ? await ctx.kube.evictPod(ns, pod.name) : await ctx.kube.deletePod(ns, pod.name)
        if (r !== 'blocked') {
          ctx.step(`${r === 'gone' ? 'already gone' : mode === 'evict' ? 'evicted' : 'deleted'}: ${pod.name}`)
          replaced.add(pod.uid)
          break
        }
        ctx.step(`a PodDisruptionBudget blocks evicting ${pod.name}; retrying in ${backoff} ms`)
        await ctx.sleep(backoff, ctx.signal)
        backoff = Math.min(backoff * 2, 5000)
      }
    }
    // Wait for the replacements: enough Ready pods that are none of the ones we replaced.
    let poll = 250
    for (;;) {
      if (ctx.signal.aborted) return { state: 'failed', reason: 'shutting down' }
      const pods = await ctx.kube.listPods(ns, ctx.workload.selector)
      const live = pods.filter((p) => !p.terminating && !replaced.has(p.uid))
      const ready = live.filter((p) => p.ready).length
      const stuck = live.find((p) => p.waitingReason === 'CrashLoopBackOff' || p.waitingReason === 'ImagePullBackOff' || p.waitingReason === 'ErrImagePull')
      if (stuck) return { state: 'failed', reason: `replacement pod ${stuck.name} cannot start (${stuck.waitingReason})` }
      if (ready >= Math.min(want || initial.length, initial.length)) break
      if (ctx.clock.now() > ctx.deadline) {
        const notReady = live.filter((p) => !p.ready).map((p) => p.name)
        return { state: 'failed', reason: `replacements not Ready before the deadline: ${ready}/${want || initial.length} ready${notReady.length ? `; not ready: ${notReady.join(', ')}` : ''}` }
      }
      await ctx.sleep(poll, ctx.signal)
      poll = Math.min(poll * 2, 2000)
    }
    ctx.step(`batch ${Math.floor(i / batch) + 1}: replacements Ready`)
  }
  return { state: 'succeeded', message: `${mode}: all ${initial.length} pods replaced and Ready` }
}

export const evict: Strategy = {
  name: 'evict',
  async run(ctx, takeLock) {
    await takeLock()
    return replaceInBatches(ctx, 'evict')
  },
}

export const del: Strategy = {
  name: 'delete',
  async run(ctx, takeLock) {
    await takeLock()
    return replaceInBatches(ctx, 'delete')
  },
}
