// One interface for every way of restarting a site's pods (rollout, evict,
// delete). The engine takes the lock; a strategy only acts and watches.

import type { Kube, WorkloadState } from '../../kube/types.ts'
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
  /** Lock annotations to write in the same request as the first change, when the strategy can. */
  lock: { annotations: Record<string, string>; resourceVersion: string }
  step(message: string): void
  signal: AbortSignal
  sleep(ms: number, signal: AbortSignal): Promise<void>
  /** How often a rollout is judged by polling (default ROLLOUT_POLL_MS). */
  pollMs?: number
}

export interface Strategy {
  readonly name: 'rollout' | 'evict' | 'delete'
  /** Takes the lock (in the same request as its first change where it can) and acts. */
  run(ctx: StrategyContext, takeLock: () => Promise<void>): Promise<RunOutcome>
}
