// Canary-first rollout (recycle.canary): the template changes, ONE pod of it
// comes up while the rest are held on the old revision, and that pod is
// probed on its own IP with the site's checks. Healthy: the hold ends and the
// rollout goes on as any other. Failing: the template before comes back in
// the same request that ends the hold, so the held pods never leave it.
//
// The hold is written in the template's own request (the engine's lock
// patch), never after it: a hold set a moment later races the controller,
// which may already have started several new pods and stopped old ones.
//   Deployment (RollingUpdate): maxSurge 1, maxUnavailable 0 and a
//     minReadySeconds of a day. The one new pod is Ready (it serves, and is
//     probed) but never available, so the controller neither adds a second
//     new pod nor removes an old one. Pausing instead does not work: paused
//     in the same patch, the Deployment makes no new ReplicaSet at all.
//     A Recreate Deployment stops every old pod first: no canary.
//   StatefulSet (RollingUpdate, two pods or more): partition = replicas - 1,
//     so only the highest ordinal is updated. OnDelete updates nothing by
//     itself, and one pod would be the whole site: no canary.
//   DaemonSet: no canary (README: one pod per node, a surge pod shares the
//     node, and its hostPorts, with the old one).
// What the hold replaced is kept in the workload's canary annotation
// (kube/types.ts CanaryMark), so the next leader can end it.

import type { CheckConfig, SiteConfig } from '../../config/types.ts'
import { Errors, isAppError } from '../../errors.ts'
import type { CheckResult } from '../../health/verdict.ts'
import type { CanaryMark, PodState, WorkloadState } from '../../kube/types.ts'
import { perPodChecks, probePod } from '../../triggers/pod-probe.ts'
import type { CanaryResult } from '../../state/schema.ts'
import { judgePods } from '../rollout-status.ts'
import type { CanaryContext, PodAnswer, StrategyContext } from './types.ts'

/** What the canary needs of the prober: one check, run once. */
export interface CheckRunner {
  runCheck(check: CheckConfig): Promise<CheckResult>
}

/**
 * The site's checks sent to `pod` directly: those marked perPod if any,
 * else all of them. A pod without an IP or without the port fails the check.
 */
export function podProbe(runner: CheckRunner, site: Pick<SiteConfig, 'checks'>): (pod: PodState) => Promise<PodAnswer> {
  const checks = perPodChecks(site).length > 0 ? perPodChecks(site) : site.checks
  return async (pod) => {
    const r = await probePod(runner, checks, pod)
    if ('error' in r) return { ok: false, check: r.check, message: r.error }
    return r.ok ? { ok: true } : { ok: false, ...(r.check ? { check: r.check } : {}), message: r.message ?? 'failed' }
  }
}

/** The canary's hold on `w`, or why it cannot have one (pure). */
export function canaryHold(
  w: WorkloadState,
  recycle: string,
  revisionBefore: number | undefined,
): { mark: CanaryMark } | { no: string } {
  const kind = w.ref.kind
  if (kind === 'DaemonSet')
    return {
      no: 'a DaemonSet runs one pod per node, with no partition to hold the others; a surge pod would share its node and its host ports with the old one',
    }
  if (w.updateStrategy !== 'RollingUpdate')
    return {
      no:
        kind === 'Deployment'
          ? 'a Recreate Deployment stops every old pod before it starts a new one: no pod of the old revision would be held'
          : 'updateStrategy OnDelete updates no pod by itself',
    }
  if (revisionBefore === undefined)
    return { no: 'the revision before is unknown, so a failing canary could not be undone' }
  if (kind === 'Deployment') {
    if (w.desired < 1) return { no: 'the Deployment wants no pods' }
    return {
      mark: {
        recycle,
        phase: 'holding',
        revisionBefore,
        hold: {
          kind: 'surge',
          saved: {
            minReadySeconds: w.minReadySeconds,
            ...(w.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: w.progressDeadlineSeconds } : {}),
            ...w.rollingUpdate,
          },
        },
      },
    }
  }
  if (w.desired < 2) return { no: 'a StatefulSet of one pod: its canary would be the whole site' }
  const partition = w.partition ?? 0
  if (partition >= w.desired - 1)
    return { no: `its partition (${partition}) already holds every pod but the last; it is the operator's` }
  return {
    mark: {
      recycle,
      phase: 'holding',
      revisionBefore,
      hold: { kind: 'partition', held: w.desired - 1, saved: { partition } },
    },
  }
}

/** The canary annotation of a workload, if it is one of ours. */
export function parseCanary(annotations: Record<string, string>, key: string): CanaryMark | undefined {
  const raw = annotations[key]
  if (!raw) return undefined
  try {
    const m = JSON.parse(raw) as CanaryMark
    return typeof m?.recycle === 'string' && typeof m.phase === 'string' && m.hold ? m : undefined
  } catch {
    return undefined
  }
}

/** The workload as it will judge pods once the hold ends (its own minReadySeconds, progress deadline). */
function unheld(w: WorkloadState, mark: CanaryMark): WorkloadState {
  if (mark.hold.kind !== 'surge') return w
  const s = mark.hold.saved
  return {
    ...w,
    minReadySeconds: s.minReadySeconds,
    ...(s.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: s.progressDeadlineSeconds } : {}),
  }
}

/**
 * Ends the hold, tried again while the API server fails on the way (a reset,
 * a 5xx): a hold must not outlive its recycle for one lost request.
 */
async function endHold(ctx: StrategyContext, mark: CanaryMark, undo: boolean) {
  for (let wait = 500; ; wait = Math.min(wait * 2, 4000)) {
    try {
      return await ctx.kube.endCanary(ctx.workload.ref, mark, undo)
    } catch (e) {
      if (!isAppError(e) || e.code !== Errors.kube.code || ctx.clock.now() + wait > ctx.deadline + 60_000) throw e
      ctx.step(`ending the canary's hold failed (${e.message}); trying again in ${wait} ms`)
      await ctx.sleep(wait, new AbortController().signal)
    }
  }
}

/**
 * passed: released, `workload` as the release answered. failed: `reason`,
 * and `undone` the workload as the undo answered (absent: shutting down, or
 * the undo itself failed, which `reason` says).
 */
export type CanaryEnd =
  | { passed: true; workload: WorkloadState; result: CanaryResult }
  | { passed: false; result: CanaryResult; reason: string; undone?: WorkloadState }

/**
 * From a held workload: waits for the canary pod (a pod created since
 * `since`), probes it, and ends the hold: released, or undone.
 */
export async function judgeCanary(
  ctx: StrategyContext,
  canary: CanaryContext,
  held: WorkloadState,
  mark: CanaryMark,
  since: number,
): Promise<CanaryEnd> {
  const ref = held.ref
  const fresh = (p: PodState): boolean => Date.parse(p.createdAt) >= since - 1000
  const judgeAs = unheld(held, mark)
  let pod: PodState | undefined
  let answer: PodAnswer | undefined
  let poll = 250
  ctx.step(
    `canary: ${mark.hold.kind === 'surge' ? 'one new pod, the others held (maxSurge 1, maxUnavailable 0, minReadySeconds held)' : `only the highest ordinal is updated (partition ${mark.hold.held})`}; waiting for it to be Ready`,
  )
  while (!answer) {
    if (ctx.signal.aborted) return { passed: false, result: { pod: '(none)', passed: false }, reason: 'shutting down' }
    const pods = await ctx.kube.listPods(ref.namespace, ctx.workload.selector)
    const stuck = judgePods(judgeAs, pods, fresh, ctx.clock.now())
    if (stuck) {
      pod = pods.find((p) => fresh(p) && !p.terminating)
      answer = { ok: false, message: stuck.message }
      break
    }
    pod = pods.find((p) => fresh(p) && !p.terminating && p.ready)
    if (pod) break
    if (ctx.clock.now() > ctx.deadline) {
      answer = { ok: false, message: 'the canary pod was not Ready before the deadline' }
      break
    }
    await ctx.sleep(poll, ctx.signal)
    poll = Math.min(poll * 2, 2000)
  }
  if (!answer && pod) {
    for (let i = 0; i < canary.attempts; i++) {
      if (i > 0) await ctx.sleep(canary.intervalMs, ctx.signal)
      if (ctx.signal.aborted)
        return { passed: false, result: { pod: pod.name, passed: false }, reason: 'shutting down' }
      answer = await canary.probe(pod)
      if (answer.ok) break
      ctx.step(
        `canary ${pod.name} ${i + 1}/${canary.attempts}: ${answer.check ?? 'check'} failed: ${answer.message ?? ''}`,
      )
    }
  }
  const name = pod?.name ?? '(none)'
  const result: CanaryResult = {
    pod: name,
    passed: answer?.ok === true,
    ...(pod?.templateCommit ? { commit: pod.templateCommit } : {}),
    ...(answer?.check ? { check: answer.check } : {}),
    ...(answer?.message ? { message: answer.message.slice(0, 500) } : {}),
  }
  if (answer?.ok) {
    const { workload } = await endHold(ctx, { ...mark, phase: 'released' }, false)
    ctx.step(`canary ${name} is healthy: released the hold; the other pods follow`)
    return { passed: true, workload, result }
  }
  const said = `${result.check ? `${result.check}: ` : ''}${result.message ?? 'failed'}`
  return undoCanary(ctx, { ...mark, phase: 'undone', pod: name, answer: said }, result)
}

/**
 * Restores the template before the canary and ends the hold in one request
 * (the held pods never leave that revision); the caller watches it settle.
 */
async function undoCanary(
  ctx: StrategyContext,
  mark: CanaryMark,
  result: CanaryResult,
): Promise<Extract<CanaryEnd, { passed: false }>> {
  const ref = ctx.workload.ref
  const reason = `the canary pod ${result.pod} answered ${mark.answer ?? 'nothing'}`
  try {
    const { workload, restored } = await endHold(ctx, mark, true)
    ctx.step(
      `${reason}; restored revision ${mark.revisionBefore} and ended the hold in one request: the other pods never left it`,
    )
    if (ref.kind === 'StatefulSet' && restored?.name) {
      // A StatefulSet replaces a Ready pod of another revision by itself, but
      // waits for a broken one to become Ready first: such a canary pod is
      // evicted (or, a budget refusing, deleted where the Role allows it).
      for (const p of await ctx.kube.listPods(ref.namespace, ctx.workload.selector)) {
        if (p.terminating || p.ready || p.labels['controller-revision-hash'] === restored.name) continue
        try {
          const r = await ctx.kube.evictPod(ref.namespace, p.name)
          if (r === 'blocked') await ctx.kube.deletePod(ref.namespace, p.name)
          ctx.step(
            `removed the canary pod ${p.name} (not Ready): its StatefulSet puts it back on revision ${mark.revisionBefore}`,
          )
        } catch (e) {
          ctx.step(
            `could not remove the canary pod ${p.name} (${(e as Error).message}): it stays until it is Ready or removed by hand`,
          )
        }
      }
    }
    return { passed: false, result, reason, undone: workload }
  } catch (e) {
    return { passed: false, result, reason: `${reason}; the undo failed: ${(e as Error).message}` }
  }
}
