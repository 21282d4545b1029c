// evict and delete: replace the pods a batch at a time, waiting for the
// replacements to be Ready before the next batch.
//
// Unhealthy pods go first, all in the first batch: a pod that is not Ready
// (or crash-looping, or stuck waiting) serves nothing, so removing it cannot
// lower availability. Healthy pods follow, maxUnavailable at a time. After
// each batch the wait counts REPLACEMENTS (Ready pods that are none of the
// originals) against the pods removed so far: an old pod still NotReady can
// never hold the wait up, and an old pod crash-looping is not a replacement
// that cannot start.
//
// evict goes through the Eviction API, so a PodDisruptionBudget guards the
// healthy pods: its 429 means wait and retry, never force. A budget with
// `unhealthyPodEvictionPolicy: IfHealthyBudget` (the default) also refuses to
// evict a NotReady pod once the unhealthy pods have spent it, which would hold
// the heal until the deadline; with `recycle.unhealthyPods: delete` (the
// default) such a pod, still NotReady when looked at again, is deleted
// instead, and the steps say so. delete is the same pacing with plain deletes.
//
// Pinning: a pod template only changes by a patch, and a patch rolls the pods
// (RollingUpdate) by the workload's own strategy. So when the recycle's commit
// differs from the one pinned in the template, the pinned template's rollout
// IS the recycle (evicting as well would only disrupt twice). An OnDelete
// StatefulSet/DaemonSet is patched, which rolls nothing, and then its pods
// are evicted onto it. A paused Deployment keeps its old ReplicaSet until it
// is resumed, so a pin could not reach the pods: it is left unpinned, and the
// steps say so.

import { crashLooping, judgePods, unhealthy } from '../rollout-status.ts'
import { COMMIT_ANNOTATION, type PodState } from '../../kube/types.ts'
import type { RunOutcome } from '../executor.ts'
import { Errors, isAppError } from '../../errors.ts'
import { rollout } from './rollout.ts'
import type { Prepared, Strategy, StrategyContext } from './types.ts'

const NO_ROLLBACK =
  'no template to roll back: evict/delete change no pod template; the controller keeps replacing pods from the one it has'

/** Unhealthy first (crash-looping, then NotReady), then healthy; by name within each. */
export function replacementOrder(pods: readonly PodState[]): { unhealthy: PodState[]; healthy: PodState[] } {
  const live = pods.filter((p) => !p.terminating)
  const rank = (p: PodState): number => (crashLooping(p) ? 0 : unhealthy(p) ? 1 : 2)
  const sorted = [...live].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name))
  return { unhealthy: sorted.filter((p) => rank(p) < 2), healthy: sorted.filter((p) => rank(p) === 2) }
}

function describe(p: PodState): string {
  return crashLooping(p)
    ? `${p.name} (crash-looping, ${p.restarts} restarts)`
    : p.waitingReason
      ? `${p.name} (${p.waitingReason})`
      : `${p.name} (not Ready)`
}

type Removal = { ok: true } | { ok: false; outcome: RunOutcome }

/**
 * A call that failed on the way (connection reset, a 5xx) is tried again
 * until the deadline: half an evicted batch must not end a heal. Anything
 * else (forbidden, not found) is thrown as before.
 */
export async function retrying<T>(ctx: StrategyContext, what: string, call: () => Promise<T>): Promise<T> {
  let wait = 500
  for (;;) {
    try {
      return await call()
    } catch (e) {
      if (!isAppError(e) || e.code !== Errors.kube.code || ctx.signal.aborted || ctx.clock.now() + wait > ctx.deadline)
        throw e
      ctx.step(`${what} failed (${e.message}); trying again in ${wait} ms`)
      await ctx.sleep(wait, ctx.signal)
      wait = Math.min(wait * 2, 5000)
    }
  }
}

export async function removePod(
  ctx: StrategyContext,
  mode: 'evict' | 'delete',
  pod: PodState,
  wasUnhealthy: boolean,
  progress: () => string,
): Promise<Removal> {
  const ns = ctx.workload.ref.namespace
  let backoff = 500
  let said = false
  for (;;) {
    if (ctx.signal.aborted) return { ok: false, outcome: { state: 'failed', reason: 'shutting down' } }
    if (ctx.clock.now() > ctx.deadline) {
      return {
        ok: false,
        outcome: {
          state: 'failed',
          cause: 'deadline',
          reason: `deadline passed while ${mode === 'evict' ? 'evicting' : 'deleting'} ${pod.name} (${progress()}): a PodDisruptionBudget kept refusing`,
        },
      }
    }
    const r = await retrying(ctx, `${mode} ${pod.name}`, () =>
      mode === 'evict' ? ctx.kube.evictPod(ns, pod.name) : ctx.kube.deletePod(ns, pod.name),
    )
    if (r !== 'blocked') {
      ctx.step(`${r === 'gone' ? 'already gone' : mode === 'evict' ? 'evicted' : 'deleted'}: ${pod.name}`)
      return { ok: true }
    }
    if (wasUnhealthy && ctx.unhealthyPods === 'delete') {
      // Look again: a pod that became Ready meanwhile is healthy and waits for the budget like any other.
      const now = (await retrying(ctx, 'listing the pods', () => ctx.kube.listPods(ns, ctx.workload.selector))).find(
        (p) => p.uid === pod.uid,
      )
      if (!now || now.terminating) {
        ctx.step(`already gone: ${pod.name}`)
        return { ok: true }
      }
      if (unhealthy(now)) {
        const d = await retrying(ctx, `delete ${pod.name}`, () => ctx.kube.deletePod(ns, pod.name))
        ctx.step(
          `a PodDisruptionBudget refuses to evict ${describe(now)}: its budget is spent by the unhealthy pods (unhealthyPodEvictionPolicy IfHealthyBudget); ${d === 'gone' ? 'it is already gone' : 'deleted it instead'}: a pod that is not Ready serves no traffic, so deleting it cannot lower availability (recycle.unhealthyPods: delete)`,
        )
        return { ok: true }
      }
      wasUnhealthy = false
    }
    if (!said || backoff >= 5000) {
      ctx.step(
        `a PodDisruptionBudget blocks evicting ${pod.name}${wasUnhealthy ? ' (not Ready; recycle.unhealthyPods: evict keeps asking)' : ''}; retrying in ${backoff} ms`,
      )
      said = true
    }
    await ctx.sleep(backoff, ctx.signal)
    backoff = Math.min(backoff * 2, 5000)
  }
}

async function replaceInBatches(ctx: StrategyContext, mode: 'evict' | 'delete'): Promise<RunOutcome> {
  const ref = ctx.workload.ref
  const ns = ref.namespace
  const { unhealthy: sick, healthy } = replacementOrder(await ctx.kube.listPods(ns, ctx.workload.selector))
  const total = sick.length + healthy.length
  if (total === 0) return { state: 'skipped', reason: `no pods match ${ctx.workload.selector} in ${ns}` }
  const originals = new Set([...sick, ...healthy].map((p) => p.uid))
  const want = ctx.workload.desired > 0 ? ctx.workload.desired : total
  const size = Math.max(1, ctx.maxUnavailable)
  const batches: { pods: PodState[]; unhealthy: boolean }[] = []
  if (sick.length > 0) batches.push({ pods: sick, unhealthy: true })
  for (let i = 0; i < healthy.length; i += size) batches.push({ pods: healthy.slice(i, i + size), unhealthy: false })
  ctx.step(
    `${mode}: ${total} pods${sick.length > 0 ? `; first the ${sick.length} unhealthy at once, they serve nothing: ${sick.map(describe).join(', ')}` : ''}${healthy.length > 0 ? `; then ${healthy.length} healthy, ${size} at a time` : ''}`,
  )
  const started = ctx.clock.now()
  let removed = 0
  for (const [b, batch] of batches.entries()) {
    for (const pod of batch.pods) {
      const r = await removePod(ctx, mode, pod, batch.unhealthy, () => `${removed}/${total} replaced`)
      if (!r.ok) return failed(ctx, r.outcome)
      removed++
    }
    // Wait for the replacements: Ready pods that are none of the originals,
    // as many as were removed so far (never more than the workload wants).
    const need = Math.min(removed, want)
    let poll = 250
    for (;;) {
      if (ctx.signal.aborted) return { state: 'failed', reason: 'shutting down' }
      const pods = await retrying(ctx, 'listing the pods', () => ctx.kube.listPods(ns, ctx.workload.selector))
      const fresh = (p: PodState): boolean => !originals.has(p.uid)
      const ready = pods.filter((p) => !p.terminating && fresh(p) && p.ready).length
      if (ready >= need) break
      // A replacement that cannot start (crash-looping, stuck, NotReady past the workload's limits) fails it early.
      const v = judgePods(ctx.workload, pods, fresh, ctx.clock.now())
      if (v)
        return failed(ctx, { state: 'failed', cause: v.cause, reason: `replacement ${v.message.replace(/^new /, '')}` })
      if (ctx.clock.now() > ctx.deadline) {
        const notReady = pods.filter((p) => !p.terminating && fresh(p) && !p.ready).map((p) => p.name)
        return failed(ctx, {
          state: 'failed',
          cause: 'deadline',
          reason: `replacements not Ready before the deadline: ${ready}/${need} ready${notReady.length ? `; not ready: ${notReady.join(', ')}` : ''}`,
        })
      }
      await ctx.sleep(poll, ctx.signal)
      poll = Math.min(poll * 2, 2000)
    }
    ctx.step(
      `batch ${b + 1}: replacements Ready (${need} new pods Ready after ${Math.round((ctx.clock.now() - started) / 100) / 10}s; batch ${b + 1} of ${batches.length}${batch.unhealthy ? ', the unhealthy pods' : ''})`,
    )
  }
  return {
    state: 'succeeded',
    message: `${mode}: all ${total} pods replaced and Ready${sick.length > 0 ? ` (${sick.length} were unhealthy)` : ''}`,
  }
}

function failed(ctx: StrategyContext, outcome: RunOutcome): RunOutcome {
  ctx.step(NO_ROLLBACK)
  return outcome
}

/**
 * The pods must come back on `ctx.commit`. The first change is the pin's
 * patch where there is one; the pods are replaced after it when the template
 * already pins the commit (or there is none to pin), when the pin rolls
 * nothing (OnDelete), or when it cannot take effect (paused). When the pin's
 * own rollout is the recycle, the rollout's preparation is the answer.
 */
async function pinFirst(ctx: StrategyContext, mode: 'evict' | 'delete'): Promise<Prepared> {
  const pinned = ctx.workload.templateAnnotations[COMMIT_ANNOTATION]
  const replace = (): Promise<RunOutcome> => replaceInBatches(ctx, mode)
  if (!ctx.commit || pinned === ctx.commit) return { kind: 'act', proceed: replace }
  const ref = ctx.workload.ref
  const what = `the commit to run, ${ctx.commit.slice(0, 12)}, is not the one the pod template pins (${pinned ? pinned.slice(0, 12) : 'none'})`
  if (ctx.workload.paused) {
    return {
      kind: 'act',
      proceed: () => {
        ctx.step(
          `${mode}: ${what}, but the Deployment is paused: its ReplicaSet keeps the current template until it is resumed, so the pods are replaced on the current template, unpinned`,
        )
        return replace()
      },
    }
  }
  if (ctx.workload.updateStrategy === 'OnDelete') {
    // Patching rolls nothing here: pin, then replace the pods onto the new template.
    return {
      kind: 'act',
      first: {
        restartedAt: new Date(ctx.clock.now()).toISOString(),
        commit: ctx.commit,
        commitEnv: ctx.commitEnv,
        containers: ctx.workload.containers,
      },
      proceed: (patched) => {
        ctx.step(
          `${mode}: ${what}; pinned it in the template (updateStrategy OnDelete: nothing rolls), generation ${patched.generation}; now replacing the pods onto it`,
        )
        return replace()
      },
    }
  }
  ctx.step(
    `${mode}: ${what}; pinning it changes the pod template, and the ${ref.kind}'s own ${ctx.workload.updateStrategy ?? 'RollingUpdate'} strategy rolls every pod onto it: that rollout is this recycle (nothing is ${mode === 'evict' ? 'evicted' : 'deleted'} on top)`,
  )
  return rollout.prepare(ctx)
}

export const evict: Strategy = {
  name: 'evict',
  prepare: (ctx) => pinFirst(ctx, 'evict'),
}

export const del: Strategy = {
  name: 'delete',
  prepare: (ctx) => pinFirst(ctx, 'delete'),
}
