// The seam between the policy and the cluster. recycle/service.ts decides
// whether a recycle may run; an Executor plans it (reads only) and runs it
// (takes the cluster lock, acts with the strategy, watches the result).
// The Kubernetes-backed executor lives in recycle/engine.ts.

import type { SiteConfig, StrategyName } from '../config/types.ts'
import type { RecyclePlan, RecycleRecord } from '../status/history.ts'

export interface RunContext {
  record: RecycleRecord
  site: SiteConfig
  strategy: StrategyName
  commit?: string
  step(message: string): void
  signal: AbortSignal
}

export type RunOutcome =
  | { state: 'succeeded'; message: string }
  | { state: 'failed'; reason: string }
  | { state: 'skipped'; reason: string }

export interface Executor {
  plan(site: SiteConfig, strategy: StrategyName): Promise<RecyclePlan>
  run(ctx: RunContext): Promise<RunOutcome>
}
