// The seam between the service and the cluster. The policy decides whether a
// recycle may run and the runner (the leader) runs it through an Executor,
// which plans it (reads only), runs it (takes the workload lock, acts with
// the strategy, watches the result) or adopts one a gone replica left
// running (watches it to its end). The Kubernetes-backed executor is
// recycle/engine.ts.

import type { SiteConfig, StrategyName } from '../config/types.ts'
import type { CanaryResult, PodResult, ReasonKind, RecyclePlan, RecycleRecord } from '../state/schema.ts'
import type { RolloutFailure } from './rollout-status.ts'
import type { PodState, WorkloadRef } from '../kube/types.ts'

/** replace-pods: which pods, and the per-pod checks a replacement must pass (the runner's Verifier). */
export interface ReplaceTarget {
  /** The pods to replace, by name (the per-pod probe taken when the recycle started). */
  pods: string[]
  /** The per-pod checks against one pod; `error`: it cannot be probed (yet). */
  probe(pod: PodState): Promise<PodResult | { error: string }>
}

export interface RunContext {
  record: RecycleRecord
  site: SiteConfig
  strategy: StrategyName
  commit?: string
  step(message: string): void
  signal: AbortSignal
  /** The ladder's replace-pods rung: only these pods, each replacement probed (instead of `strategy`). */
  replace?: ReplaceTarget
}

/**
 * `revisionBefore`: the workload's template revision before this recycle
 * changed it (rollout), what a rollback restores. `cause`: why a rollout or
 * replacement could not finish. `rolledBack`: the failed recycle's template
 * was undone and the restored revision is Ready (record state `rolled-back`).
 * `why`: the kind of a skip decided before acting (default not-acted).
 * `canary`: what the canary pod of a canary-first rollout answered.
 */
export type RunOutcome =
  | { state: 'succeeded'; message: string; revisionBefore?: number; commitBefore?: string; canary?: CanaryResult }
  | {
      state: 'failed'
      reason: string
      cause?: RolloutFailure
      revisionBefore?: number
      rolledBack?: boolean
      /** A canary-first rollout ended at its canary: `canary.passed` false is the record state canary-failed. */
      canary?: CanaryResult
    }
  | { state: 'skipped'; reason: string; why?: ReasonKind }

export interface SiteFacts {
  /** The commit pinned in the workload's pod template (kube-recycler.io/commit). */
  runningCommit?: string
  /** The workload's last-recycle annotation, as the cluster says. */
  lastRecycle?: { id: string; at: string; outcome: string; commit?: string }
}

export interface InFlight {
  id: string
  at: string
  strategy: StrategyName
  reason: string
  trigger: string
  key?: string
  commit?: string
}

export interface Executor {
  plan(site: SiteConfig, strategy: StrategyName): Promise<RecyclePlan>
  run(ctx: RunContext): Promise<RunOutcome>
  /** What the cluster says of the site's workload now (reads only; from a watch when it has one). */
  inspect?(site: SiteConfig): Promise<SiteFacts>
  /** Told when what inspect() would say of a named workload changed (a watch saw it); returns the unsubscribe. */
  onFactsChanged?(listener: (ref: WorkloadRef) => void): () => void
  /**
   * A recycle the service recorded as running, left by a replica that is
   * gone: watched to its end, never started again. `skipped` when it never
   * acted (the workload's lock is not its own).
   */
  resume?(ctx: RunContext, inflight: InFlight): Promise<RunOutcome>
  /**
   * Restores revision `toRevision` of the site's workload (as `kubectl
   * rollout undo --to-revision`) and waits for it; for a recycle whose
   * rollout finished but whose verification says it did not help.
   */
  rollBack?(
    site: SiteConfig,
    opts: { toRevision: number; because: string; recycleId: string; step(message: string): void; signal: AbortSignal },
  ): Promise<RunOutcome>
  /** The pods of the site's target now (the per-pod checks and the ladder read them). */
  pods?(site: SiteConfig): Promise<PodState[]>
  /** An Event on the site's workload, for outcomes decided outside run() (verification). */
  recordEvent?(site: SiteConfig, event: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void>
}
