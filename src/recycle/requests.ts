// A recycle request, applied to a site's stored state: the lifecycle
// (recycle/lifecycle.ts) decides with the policy, and the answer is a record
// in the state (pending for the leader to run, planned for a dry-run, waiting
// or awaiting approval, or skipped with the reason) and the effects to
// perform once it is written. Pure: the state store may apply it more than
// once when another replica wrote first.

import { randomBytes } from 'node:crypto'
import type { SiteConfig } from '../config/types.ts'
import type { RecycleRecord, SiteState } from '../state/schema.ts'
import { transition, type Effect, type RecycleRequest } from './lifecycle.ts'
import type { PolicyDecision } from './policy.ts'

export type { RecycleRequest }

export function newRecycleId(now: number): string {
  return `rc-${now.toString(36)}-${randomBytes(4).toString('hex')}`
}

const KIND: Record<RecycleRecord['state'], PolicyDecision['kind']> = {
  skipped: 'skip',
  planned: 'plan',
  'awaiting-approval': 'await',
  waiting: 'wait',
  pending: 'run',
  // A request makes none of these.
  running: 'run',
  succeeded: 'run',
  failed: 'run',
  'rolled-back': 'run',
  'canary-failed': 'run',
  rejected: 'skip',
  expired: 'skip',
}

export function applyRequest(
  s: SiteState,
  site: SiteConfig,
  req: RecycleRequest,
  ctx: { now: number; id: string; dryRun: boolean; freshEpisode?: boolean },
): { next: SiteState; record: RecycleRecord; decision: { kind: PolicyDecision['kind'] }; effects: Effect[] } {
  const t = transition(
    s,
    ctx.id,
    {
      type: 'request',
      site,
      req,
      dryRun: ctx.dryRun,
      ...(ctx.freshEpisode !== undefined ? { freshEpisode: ctx.freshEpisode } : {}),
    },
    ctx.now,
  )
  return { next: t.next!, record: t.record!, decision: { kind: KIND[t.record!.state] }, effects: t.effects }
}
