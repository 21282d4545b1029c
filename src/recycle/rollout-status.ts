// Judges a rollout the way `kubectl rollout status` does (its
// DeploymentStatusViewer, DaemonSetStatusViewer and StatefulSetStatusViewer),
// from a WorkloadState. Pure: the engine feeds it states from a watch.

import type { WorkloadState } from '../kube/types.ts'

export type RolloutJudgement =
  | { done: true; message: string }
  | { done: false; failed: false; message: string }
  | { done: false; failed: true; message: string }

export function judgeRollout(s: WorkloadState): RolloutJudgement {
  const name = `${s.ref.kind.toLowerCase()} "${s.ref.name}"`
  if (s.observedGeneration < s.generation) {
    return { done: false, failed: false, message: `Waiting for ${name} spec update to be observed...` }
  }
  switch (s.ref.kind) {
    case 'Deployment': {
      const progressing = s.conditions.find((c) => c.type === 'Progressing')
      if (progressing?.reason === 'ProgressDeadlineExceeded') {
        return { done: false, failed: true, message: `${name} exceeded its progress deadline` }
      }
      if (s.updated < s.desired) {
        return { done: false, failed: false, message: `Waiting for ${name} rollout to finish: ${s.updated} out of ${s.desired} new replicas have been updated...` }
      }
      if (s.current > s.updated) {
        return { done: false, failed: false, message: `Waiting for ${name} rollout to finish: ${s.current - s.updated} old replicas are pending termination...` }
      }
      if (s.available < s.updated) {
        return { done: false, failed: false, message: `Waiting for ${name} rollout to finish: ${s.available} of ${s.updated} updated replicas are available...` }
      }
      return { done: true, message: `${name} successfully rolled out` }
    }
    case 'DaemonSet': {
      if (s.updateStrategy !== 'RollingUpdate') {
        return { done: false, failed: true, message: `${name} uses updateStrategy ${s.updateStrategy}: a restart would not roll its pods` }
      }
      if (s.updated < s.desired) {
        return { done: false, failed: false, message: `Waiting for ${name} rollout to finish: ${s.updated} out of ${s.desired} new pods have been updated...` }
      }
      if (s.available < s.desired) {
        return { done: false, failed: false, message: `Waiting for ${name} rollout to finish: ${s.available} of ${s.desired} updated pods are available...` }
      }
      return { done: true, message: `${name} successfully rolled out` }
    }
    case 'StatefulSet': {
      if (s.updateStrategy !== 'RollingUpdate') {
        return { done: false, failed: true, message: `${name} uses updateStrategy ${s.updateStrategy}: a restart would not roll its pods` }
      }
      if (s.ready < s.desired) {
        return { done: false, failed: false, message: `Waiting for ${s.desired - s.ready} pods to be ready...` }
      }
      const partition = s.partition ?? 0
      if (partition > 0) {
        if (s.updated < s.desired - partition) {
          return { done: false, failed: false, message: `Waiting for partitioned roll out to finish: ${s.updated} out of ${s.desired - partition} new pods have been updated...` }
        }
        return { done: true, message: `partitioned roll out complete: ${s.updated} new pods have been updated...` }
      }
      if (s.updateRevision !== s.currentRevision) {
        return { done: false, failed: false, message: `waiting for statefulset rolling update to complete ${s.updated} pods at revision ${s.updateRevision ?? '?'}...` }
      }
      return { done: true, message: `${name} rolling update complete ${s.current} pods at revision ${s.currentRevision ?? '?'}...` }
    }
  }
}
