// One interface for every way of restarting a site's pods (rollout, evict,
// delete). The engine is the one writer of the workload's lock: a strategy
// only prepares (reads, decides its first change), the engine sends the lock
// and that first change in one request, with the resourceVersion the
// decision was read at, and the strategy goes on from what it answered.

import type { Kube, PodState, RestartPatch, WorkloadState } from '../../kube/types.ts'
import type { RunOutcome } from '../executor.ts'
import type { Clock } from '../../clock.ts'

export interface StrategyContext {
  kube: Kube
  clock: Clock
  workload: WorkloadState
  commit?: string
  commitEnv: string
  maxUnavailable: number
  /** evict: what to do with a NotReady pod a PodDisruptionBudget refuses to evict (recycle.unhealthyPods). */
  unhealthyPods: 'delete' | 'evict'
  /** Absolute ms: after it the recycle is reported failed. */
  deadline: number
  step(message: string): void
  signal: AbortSignal
  sleep(ms: number, signal: AbortSignal): Promise<void>
  /** How often a rollout is judged by polling (default ROLLOUT_POLL_MS). */
  pollMs?: number
  /** recycle.canary: a rollout brings up one pod and probes it before the rest follow (canary.ts). */
  canary?: CanaryContext
}

/** One look at a pod: ok, or the first check that failed and what it said. */
export interface PodAnswer {
  ok: boolean
  check?: string
  message?: string
}

export interface CanaryContext {
  recycleId: string
  /** The site's checks sent to the pod's own IP (canary.ts podProbe). */
  probe(pod: PodState): Promise<PodAnswer>
  /** The site's verify.attempts and verify.interval: the pod passes at its first healthy answer. */
  attempts: number
  intervalMs: number
}

/** A pod-template patch; the engine adds the lock and the precondition. */
export type TemplatePatch = Omit<RestartPatch, 'annotations' | 'resourceVersion'>

/**
 * `skip`: nothing to do, nothing is written (the lock is not taken). `act`:
 * the first change (`first`, a template patch; absent: the lock alone) and
 * what follows once the engine's request landed (`proceed`, from the workload
 * it answered).
 */
export type Prepared =
  | { kind: 'skip'; reason: string }
  | { kind: 'act'; first?: TemplatePatch; proceed(landed: WorkloadState): Promise<RunOutcome> }

export interface Strategy {
  readonly name: 'rollout' | 'evict' | 'delete' | 'replace-pods'
  /** Reads only: decides the first change and how to go on. */
  prepare(ctx: StrategyContext): Promise<Prepared>
}
