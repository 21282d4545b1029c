// Judges a rollout the way `kubectl rollout status` does (its
// DeploymentStatusViewer, DaemonSetStatusViewer and StatefulSetStatusViewer),
// from a WorkloadState, and its new pods by the workload's own limits. Pure:
// the strategies feed it states from a watch and from polling.

import type { PodState, WorkloadState } from '../kube/types.ts'

/**
 * Container waiting reasons that will not fix themselves by waiting. The one
 * list: rollout, evict and delete all judge pods by it.
 */
export const STUCK_REASONS: ReadonlySet<string> = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'InvalidImageName',
  'RunContainerError',
])

/** Restarts after which a container that is not Ready is crash-looping, whatever its state says right now. */
export const CRASH_LOOP_RESTARTS = 3

/** Extra time, past what the probes allow, a new pod's containers get to become Ready (slow starts, probe jitter). */
export const READY_GRACE_SECONDS = 30

/** Why a rollout (or the replacement of pods) cannot finish: one reason each, in the record, Event and log. */
export type RolloutFailure =
  'crash-loop' | 'cannot-start' | 'not-ready' | 'progress-deadline' | 'deadline' | 'update-strategy'

export function crashLooping(p: PodState): boolean {
  return p.waitingReason === 'CrashLoopBackOff' || (!p.ready && p.restarts >= CRASH_LOOP_RESTARTS)
}

/** A pod that serves nothing: not Ready, or stuck in a waiting reason that waiting will not fix. */
export function unhealthy(p: PodState): boolean {
  return !p.ready || crashLooping(p) || (p.waitingReason !== undefined && STUCK_REASONS.has(p.waitingReason))
}

/**
 * How long a new pod of this workload may be running without being Ready
 * before it never will be: the workload's own limits. A Deployment's is its
 * progressDeadlineSeconds (what its controller judges by); every kind also
 * gets what its probes and minReadySeconds allow, plus READY_GRACE_SECONDS,
 * whichever is shorter for a Deployment.
 */
export function notReadyLimit(w: WorkloadState): { seconds: number; why: string } {
  const probes = w.readyBudgetSeconds + w.minReadySeconds + READY_GRACE_SECONDS
  const probeWhy = `readiness/startup probes ${w.readyBudgetSeconds}s + minReadySeconds ${w.minReadySeconds}s + ${READY_GRACE_SECONDS}s grace`
  if (w.ref.kind === 'Deployment' && w.progressDeadlineSeconds !== undefined && w.progressDeadlineSeconds <= probes) {
    return { seconds: w.progressDeadlineSeconds, why: `progressDeadlineSeconds ${w.progressDeadlineSeconds}` }
  }
  return { seconds: probes, why: probeWhy }
}

export interface PodVerdict {
  cause: Extract<RolloutFailure, 'crash-loop' | 'cannot-start' | 'not-ready'>
  message: string
}

/**
 * Judges the pods a rollout (or a replacement) created: crash-looping, stuck
 * waiting, or running past notReadyLimit without being Ready. `fresh` picks
 * the new pods; `now` is epoch ms. undefined: nothing says it cannot finish.
 */
export function judgePods(
  w: WorkloadState,
  pods: readonly PodState[],
  fresh: (p: PodState) => boolean,
  now: number,
): PodVerdict | undefined {
  const live = pods.filter((p) => !p.terminating && fresh(p))
  const looping = live.filter(crashLooping)
  if (looping.length > 0) {
    return {
      cause: 'crash-loop',
      message: `new pods are crash-looping: ${looping.map((p) => `${p.name} (${p.waitingReason ?? 'not Ready'}, ${p.restarts} restarts)`).join(', ')}`,
    }
  }
  const stuck = live.filter((p) => p.waitingReason !== undefined && STUCK_REASONS.has(p.waitingReason))
  if (stuck.length > 0)
    return {
      cause: 'cannot-start',
      message: `new pods cannot start: ${stuck.map((p) => `${p.name} ${p.waitingReason}`).join(', ')}`,
    }
  const limit = notReadyLimit(w)
  const late = live.filter(
    (p) =>
      !p.ready &&
      p.phase === 'Running' &&
      p.startedAt !== undefined &&
      now - Date.parse(p.startedAt) > limit.seconds * 1000,
  )
  if (late.length > 0) {
    return {
      cause: 'not-ready',
      message: `new pods never became Ready within ${limit.seconds}s (${limit.why}): ${late.map((p) => `${p.name} running ${Math.round((now - Date.parse(p.startedAt!)) / 1000)}s`).join(', ')}`,
    }
  }
  return undefined
}

export type RolloutJudgement =
  | { done: true; message: string }
  | { done: false; failed: false; message: string }
  | { done: false; failed: true; message: string; cause: RolloutFailure }

/**
 * `since` (epoch ms): a ProgressDeadlineExceeded condition last updated
 * before it belongs to an earlier rollout (a site already broken, or the
 * rollout being undone) and is not this one's failure.
 */
export function judgeRollout(s: WorkloadState, since?: number): RolloutJudgement {
  const name = `${s.ref.kind.toLowerCase()} "${s.ref.name}"`
  if (s.observedGeneration < s.generation) {
    return { done: false, failed: false, message: `Waiting for ${name} spec update to be observed...` }
  }
  switch (s.ref.kind) {
    case 'Deployment': {
      const progressing = s.conditions.find((c) => c.type === 'Progressing')
      const stale =
        since !== undefined &&
        progressing?.lastUpdateTime !== undefined &&
        Date.parse(progressing.lastUpdateTime) < Math.floor(since / 1000) * 1000
      if (progressing?.reason === 'ProgressDeadlineExceeded' && !stale) {
        return {
          done: false,
          failed: true,
          cause: 'progress-deadline',
          message: `${name} exceeded its progress deadline (ProgressDeadlineExceeded after ${s.progressDeadlineSeconds ?? 600}s)`,
        }
      }
      if (s.updated < s.desired) {
        return {
          done: false,
          failed: false,
          message: `Waiting for ${name} rollout to finish: ${s.updated} out of ${s.desired} new replicas have been updated...`,
        }
      }
      if (s.current > s.updated) {
        return {
          done: false,
          failed: false,
          message: `Waiting for ${name} rollout to finish: ${s.current - s.updated} old replicas are pending termination...`,
        }
      }
      if (s.available < s.updated) {
        return {
          done: false,
          failed: false,
          message: `Waiting for ${name} rollout to finish: ${s.available} of ${s.updated} updated replicas are available...`,
        }
      }
      return { done: true, message: `${name} successfully rolled out` }
    }
    case 'DaemonSet': {
      if (s.updateStrategy !== 'RollingUpdate') {
        return {
          done: false,
          failed: true,
          cause: 'update-strategy',
          message: `${name} uses updateStrategy ${s.updateStrategy}: a restart would not roll its pods`,
        }
      }
      if (s.updated < s.desired) {
        return {
          done: false,
          failed: false,
          message: `Waiting for ${name} rollout to finish: ${s.updated} out of ${s.desired} new pods have been updated...`,
        }
      }
      if (s.available < s.desired) {
        return {
          done: false,
          failed: false,
          message: `Waiting for ${name} rollout to finish: ${s.available} of ${s.desired} updated pods are available...`,
        }
      }
      return { done: true, message: `${name} successfully rolled out` }
    }
    case 'StatefulSet': {
      if (s.updateStrategy !== 'RollingUpdate') {
        return {
          done: false,
          failed: true,
          cause: 'update-strategy',
          message: `${name} uses updateStrategy ${s.updateStrategy}: a restart would not roll its pods`,
        }
      }
      if (s.ready < s.desired) {
        return { done: false, failed: false, message: `Waiting for ${s.desired - s.ready} pods to be ready...` }
      }
      const partition = s.partition ?? 0
      if (partition > 0) {
        if (s.updated < s.desired - partition) {
          return {
            done: false,
            failed: false,
            message: `Waiting for partitioned roll out to finish: ${s.updated} out of ${s.desired - partition} new pods have been updated...`,
          }
        }
        return { done: true, message: `partitioned roll out complete: ${s.updated} new pods have been updated...` }
      }
      if (s.updateRevision !== s.currentRevision) {
        return {
          done: false,
          failed: false,
          message: `waiting for statefulset rolling update to complete ${s.updated} pods at revision ${s.updateRevision ?? '?'}...`,
        }
      }
      return {
        done: true,
        message: `${name} rolling update complete ${s.current} pods at revision ${s.currentRevision ?? '?'}...`,
      }
    }
  }
}
