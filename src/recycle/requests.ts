// A recycle request, applied to a site's stored state: the policy decides,
// and the answer is a record in the state (pending for the leader to run,
// planned for a dry-run, or skipped with the reason). Pure: the state store
// may apply it more than once when another replica wrote first.

import { randomBytes } from 'node:crypto'
import type { SiteConfig, StrategyName } from '../config/types.ts'
import { targetLabel } from '../config/types.ts'
import { Errors } from '../errors.ts'
import { operatorRecycled, recycleStarted } from '../health/state.ts'
import type { VerdictSource } from '../health/verdict.ts'
import { clip } from '../state/bounds.ts'
import { putRecord, step } from '../state/records.ts'
import type { RecycleRecord, SiteState } from '../state/schema.ts'
import { decide, type PolicyDecision } from './policy.ts'

export interface RecycleRequest {
  site: string
  source: VerdictSource
  reason: string
  ref?: string
  key?: string
  /** The commit the trigger names (Jenkins payload); the git head wins when configured. */
  commit?: string
  strategy?: StrategyName
  dryRun?: boolean
  /** The failing checks say the cause is outside the pods (health/cause.ts). */
  outsideCause?: string
  /** The operator's name (token name), for a manual recycle. */
  by?: string
}

export function newRecycleId(now: number): string {
  return `rc-${now.toString(36)}-${randomBytes(4).toString('hex')}`
}

/** Refuses what no state could make valid (a rollout of a selector). */
export function checkRequest(site: SiteConfig, req: RecycleRequest): StrategyName {
  const strategy = req.strategy ?? site.recycle.strategy
  if (strategy === 'rollout' && !('name' in site.target)) {
    throw Errors.invalidField(`strategy: "rollout" needs a named workload; site "${site.name}" targets a selector`)
  }
  return strategy
}

/** The reason's kind ("cooldown", "circuit open"): identical skips in a row are merged. */
const kindOf = (reason: string): string => reason.split(':')[0] ?? reason

export function applyRequest(s: SiteState, site: SiteConfig, req: RecycleRequest, ctx: { now: number; id: string; dryRun: boolean; freshEpisode?: boolean }): { next: SiteState; record: RecycleRecord; decision: PolicyDecision } {
  const strategy = checkRequest(site, req)
  const dryRun = ctx.dryRun || req.dryRun === true
  const at = new Date(ctx.now).toISOString()
  const base: RecycleRecord = {
    id: ctx.id,
    site: site.name,
    target: targetLabel(site.target),
    strategy,
    trigger: { source: req.source, reason: clip(req.reason), ...(req.ref ? { ref: clip(req.ref) } : {}), ...(req.key ? { key: req.key } : {}) },
    ...(req.commit ? { commit: req.commit } : {}),
    dryRun,
    state: 'pending',
    steps: [],
    createdAt: at,
    ...(req.by ? { by: clip(req.by, 100) } : {}),
  }
  const decision = decide(s, site, { source: req.source, dryRun, ...(req.outsideCause !== undefined ? { outsideCause: req.outsideCause } : {}) }, ctx.now)
  if (decision.kind === 'plan') {
    const notify = decision.reason !== 'dry-run'
    const last = s.recycles.at(-1)
    if (req.source !== 'operator' && last && last.state === 'planned' && last.trigger.source === req.source && last.dryRun === dryRun
      && (last.reason ?? 'dry-run') === decision.reason && ctx.freshEpisode === false) {
      // The same failure planned again (a flood of failing reports in
      // dry-run or notify mode): one record, counted, as the live service
      // would act once. The state stays small instead of filling its bound
      // with a plan per report (docs/benchmarks.md). Switched to live, the
      // policy answers `run`, not `plan`: nothing here holds it back.
      const record: RecycleRecord = { ...last, repeats: (last.repeats ?? 1) + 1, lastAt: at }
      return { next: putRecord(s, record), record, decision }
    }
    const record: RecycleRecord = {
      ...base, state: 'planned', finishedAt: at,
      ...(notify ? { reason: decision.reason } : {}),
      steps: [step(ctx.now, `${notify ? 'notify mode' : 'dry-run'}: planned ${strategy} of ${base.target} (${base.trigger.reason}); nothing changes in the cluster`)],
    }
    return { next: putRecord(s, record), record, decision }
  }
  if (decision.kind === 'await' || decision.kind === 'wait') {
    // Not started: no start counted (cooldown, circuit) until it is released;
    // the episode holds it, so further failures do not ask again.
    const record: RecycleRecord = {
      ...base,
      state: decision.kind === 'await' ? 'awaiting-approval' : 'waiting',
      reason: decision.reason,
      ...(decision.kind === 'await' ? { expiresAt: decision.expiresAt } : {}),
      steps: [step(ctx.now, `recycle requested by ${req.source}: ${base.trigger.reason}`), step(ctx.now, decision.reason)],
    }
    return { next: recycleStarted(putRecord(s, record)), record, decision }
  }
  if (decision.kind === 'skip') {
    const last = s.recycles.at(-1)
    if (last && last.state === 'skipped' && last.trigger.source === req.source && kindOf(last.reason ?? '') === kindOf(decision.reason)) {
      // The same refusal again (a flood of reports while the circuit is open): one record, counted.
      const record: RecycleRecord = { ...last, reason: decision.reason, repeats: (last.repeats ?? 1) + 1, lastAt: at }
      return { next: putRecord(s, record), record, decision }
    }
    const record: RecycleRecord = { ...base, state: 'skipped', reason: decision.reason, finishedAt: at, steps: [step(ctx.now, `skipped: ${decision.reason}`)] }
    return { next: putRecord(s, record), record, decision }
  }
  const record: RecycleRecord = { ...base, steps: [step(ctx.now, `recycle requested by ${req.source}: ${base.trigger.reason}`)] }
  let next = req.source === 'operator' ? operatorRecycled(s) : s
  next = recycleStarted(next)
  const keep = Math.max(site.recycle.windowMs, site.recycle.cooldownMs)
  next = { ...putRecord(next, record), starts: [...next.starts.filter((t) => ctx.now - Date.parse(t) < keep), at] }
  return { next, record, decision }
}
