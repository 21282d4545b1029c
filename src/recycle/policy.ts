// The policy: may this recycle run now? A pure function of the site's
// stored state, the request and the time, so every replica (and a table
// test) reaches the same answer. The workload's own annotation
// (recycle/lock.ts) stays the last guard in the cluster: even a mistaken
// second leader cannot act twice.

import type { SiteConfig } from '../config/types.ts'
import type { VerdictSource } from '../health/verdict.ts'
import type { SiteState } from '../state/schema.ts'

export type PolicyDecision =
  | { kind: 'run' }
  | { kind: 'plan'; reason: string }
  | { kind: 'skip'; reason: string; circuit?: boolean }

export interface PolicyRequest {
  source: VerdictSource
  dryRun: boolean
  /** Why a restart cannot help (health/cause.ts): the failing checks point outside the pods. */
  outsideCause?: string
}

/** Start times that still matter (within the window or the cooldown). */
export function recentStarts(s: SiteState, site: SiteConfig, now: number): number[] {
  const keep = Math.max(site.recycle.windowMs, site.recycle.cooldownMs)
  return s.starts.map((t) => Date.parse(t)).filter((t) => now - t < keep)
}

export function circuitOpen(s: SiteState, site: SiteConfig, now: number): boolean {
  return recentStarts(s, site, now).filter((t) => now - t < site.recycle.windowMs).length >= site.recycle.maxPerWindow
}

/** The recycle of this site that has not finished (pending, running, or being verified). */
export function activeRecycle(s: SiteState): SiteState['recycles'][number] | undefined {
  return s.recycles.find((r) => !r.dryRun && (r.state === 'pending' || r.state === 'running' || r.verification === 'pending'))
}

export function decide(s: SiteState, site: SiteConfig, req: PolicyRequest, now: number): PolicyDecision {
  // An operator decides for themselves; an automatic recycle that cannot
  // help (an expired certificate, a name that does not resolve) is not done.
  if (req.outsideCause !== undefined && req.source !== 'operator') return { kind: 'skip', reason: `cannot help: ${req.outsideCause}` }
  if (req.dryRun) return { kind: 'plan', reason: 'dry-run' }
  const active = activeRecycle(s)
  if (active) return { kind: 'skip', reason: `a recycle of this site is already running (${active.id})` }
  const last = recentStarts(s, site, now).at(-1)
  if (last !== undefined && now - last < site.recycle.cooldownMs) {
    return { kind: 'skip', reason: `cooldown: the last recycle started ${Math.round((now - last) / 1000)} s ago (cooldown ${Math.round(site.recycle.cooldownMs / 1000)} s)` }
  }
  if (req.source !== 'operator' && circuitOpen(s, site, now)) {
    return { kind: 'skip', circuit: true, reason: `circuit open: ${site.recycle.maxPerWindow} recycles within ${Math.round(site.recycle.windowMs / 60_000)} min; an operator must look` }
  }
  return { kind: 'run' }
}
