// The policy: may this recycle run now? A pure function of the site's
// stored state, the request and the time, so every replica (and a table
// test) reaches the same answer. The workload's own annotation
// (recycle/lock.ts) stays the last guard in the cluster: even a mistaken
// second leader cannot act twice.

import type { SiteConfig } from '../config/types.ts'
import type { VerdictSource } from '../health/verdict.ts'
import type { Pause, ReasonKind, SiteState } from '../state/schema.ts'
import { windowsAt } from './windows.ts'

/**
 * `plan`: record what would be done, change nothing (dry-run, notify mode).
 * `await`: wait for an operator's approval (approve mode). `wait`: outside
 * every recycle window; the leader releases it when one opens. `why` is the
 * reason's kind (what code branches on), `reason` its words (what people read).
 */
export type PolicyDecision =
  | { kind: 'run' }
  | { kind: 'plan'; why: ReasonKind; reason: string }
  | { kind: 'skip'; why: ReasonKind; reason: string }
  | { kind: 'await'; why: ReasonKind; reason: string; expiresAt: string }
  | { kind: 'wait'; why: ReasonKind; reason: string; next?: string }

export interface PolicyRequest {
  source: VerdictSource
  dryRun: boolean
  /** Why a restart cannot help (health/cause.ts): the failing checks point outside the pods. */
  outsideCause?: string
}

/** A pause still in force at `now` (one with an `until` in the past has ended by itself). */
export function activePause(p: Pause | undefined, now: number): Pause | undefined {
  if (!p) return undefined
  return p.until !== undefined && Date.parse(p.until) <= now ? undefined : p
}

const pauseWords = (what: string, p: Pause): string =>
  `paused: ${what} paused by ${p.by} since ${p.since}${p.until ? ` until ${p.until}` : ''} (${p.reason})`

/** Start times that still matter (within the window or the cooldown). */
export function recentStarts(s: SiteState, site: SiteConfig, now: number): number[] {
  const keep = Math.max(site.recycle.windowMs, site.recycle.cooldownMs)
  return s.starts.map((t) => Date.parse(t)).filter((t) => now - t < keep)
}

/** Open: maxPerWindow recycles started within the window (and after an operator's reset). */
export function circuitOpen(s: SiteState, site: SiteConfig, now: number): boolean {
  const reset = s.lastReset ? Date.parse(s.lastReset.at) : -Infinity
  return (
    recentStarts(s, site, now).filter((t) => now - t < site.recycle.windowMs && t > reset).length >=
    site.recycle.maxPerWindow
  )
}

/** The recycle of this site that has not finished (waiting, awaiting approval, pending, running, or being verified). */
export function activeRecycle(s: SiteState): SiteState['recycles'][number] | undefined {
  return s.recycles.find(
    (r) =>
      !r.dryRun &&
      (r.state === 'pending' ||
        r.state === 'running' ||
        r.state === 'waiting' ||
        r.state === 'awaiting-approval' ||
        r.verification === 'pending'),
  )
}

/**
 * In order, for automatic requests only: a pause (the site's or the
 * service's) and a maintenance window skip. Then dry-run plans; one recycle
 * at a time; the cooldown; the circuit breaker (automatic only); notify
 * mode plans; approve mode awaits an operator; outside every recycle window
 * the request waits. An operator's POST /recycle passes pause, windows and
 * modes: it is the operator deciding.
 */
export function decide(s: SiteState, site: SiteConfig, req: PolicyRequest, now: number): PolicyDecision {
  const auto = req.source !== 'operator'
  // A pause or a maintenance window is said even in dry-run: it is what the
  // operator asked for, and what the answer must show.
  if (auto) {
    const sp = activePause(s.servicePause, now)
    if (sp) return { kind: 'skip', why: 'paused', reason: pauseWords('the service is', sp) }
    const p = activePause(s.pause, now)
    if (p) return { kind: 'skip', why: 'paused', reason: pauseWords('this site is', p) }
    if (site.maintenance.length > 0) {
      const m = windowsAt(site.maintenance, now).open
      if (m)
        return { kind: 'skip', why: 'maintenance', reason: `maintenance window: no automatic recycle until ${m.until}` }
    }
  }
  // An operator decides for themselves; an automatic recycle that cannot
  // help (an expired certificate, a name that does not resolve) is not done.
  if (req.outsideCause !== undefined && auto)
    return { kind: 'skip', why: 'cannot-help', reason: `cannot help: ${req.outsideCause}` }
  if (req.dryRun) return { kind: 'plan', why: 'dry-run', reason: 'dry-run' }
  const active = activeRecycle(s)
  if (active)
    return {
      kind: 'skip',
      why: 'busy',
      reason: `a recycle of this site is already ${active.state === 'waiting' ? 'waiting for a recycle window' : active.state === 'awaiting-approval' ? 'awaiting approval' : 'running'} (${active.id})`,
    }
  const last = recentStarts(s, site, now).at(-1)
  if (last !== undefined && now - last < site.recycle.cooldownMs) {
    return {
      kind: 'skip',
      why: 'cooldown',
      reason: `cooldown: the last recycle started ${Math.round((now - last) / 1000)} s ago (cooldown ${Math.round(site.recycle.cooldownMs / 1000)} s)`,
    }
  }
  if (req.source !== 'operator' && circuitOpen(s, site, now)) {
    return {
      kind: 'skip',
      why: 'circuit-open',
      reason: `circuit open: ${site.recycle.maxPerWindow} recycles within ${Math.round(site.recycle.windowMs / 60_000)} min; an operator must look`,
    }
  }
  if (auto && site.recycle.mode === 'notify')
    return {
      kind: 'plan',
      why: 'notify-mode',
      reason: 'notify mode: the recycle is planned and announced, nothing is restarted',
    }
  if (auto && site.recycle.mode === 'approve') {
    const expiresAt = new Date(now + site.recycle.approvalTimeoutMs).toISOString()
    return {
      kind: 'await',
      why: 'approve-mode',
      expiresAt,
      reason: `approve mode: waiting for an operator to approve (POST /recycles/{id}/approve) until ${expiresAt}`,
    }
  }
  if (auto && site.recycleWindows.length > 0) {
    const w = windowsAt(site.recycleWindows, now)
    if (!w.open)
      return {
        kind: 'wait',
        why: 'outside-windows',
        ...(w.next ? { next: w.next } : {}),
        reason: `outside the recycle windows: waiting for the next one${w.next ? ` (${w.next})` : ''}, then acting only if the site still fails`,
      }
  }
  return { kind: 'run' }
}
