// The operator's brakes, as pure changes of a site's stored state: pause
// and resume (the site, or the service: a copy in every site's state, so the
// policy reads it inside the same conditional write as the verdict), reset
// (close the circuit, lift the did-not-help stop, without restarting pods),
// approve and reject. And the leader's review of what waits: approvals that
// expire, window-waiting requests released when a window opens (only if the
// site still fails). Pure: the store may apply them more than once.

import type { SiteConfig } from '../config/types.ts'
import { Errors } from '../errors.ts'
import { operatorRecycled, recycleFinished } from '../health/state.ts'
import { clip } from '../state/bounds.ts'
import { findRecord, putRecord, step } from '../state/records.ts'
import type { Pause, RecycleRecord, SiteState } from '../state/schema.ts'
import { activePause } from './policy.ts'
import { windowsAt } from './windows.ts'

export interface Actor {
  /** The operator's token name. */
  by: string
  reason?: string
}

const iso = (t: number): string => new Date(t).toISOString()

export function newPause(actor: Actor, now: number, until?: string): Pause {
  return { by: clip(actor.by, 100), reason: clip(actor.reason ?? ''), since: iso(now), ...(until !== undefined ? { until } : {}) }
}

/** `scope` site: this site's own pause; service: the service's copy in this site's state. */
export function setPause(s: SiteState, scope: 'site' | 'service', pause: Pause | undefined): SiteState {
  const key = scope === 'site' ? 'pause' : 'servicePause'
  const { [key]: _old, ...rest } = s
  return pause ? { ...rest, [key]: pause } : rest
}

/** Closes the circuit and lifts the did-not-help stop; the pods are not touched. */
export function resetSite(s: SiteState, actor: Actor, now: number): SiteState {
  return { ...operatorRecycled(s), lastReset: { by: clip(actor.by, 100), at: iso(now), ...(actor.reason ? { reason: clip(actor.reason) } : {}) } }
}

/** The record `id` must be awaiting approval: else 404 (unknown) or 409 (already decided). */
function awaiting(s: SiteState, id: string, now: number): RecycleRecord {
  const r = findRecord(s, id)
  if (!r) throw Errors.notFound(`no recycle with id "${id}" on site "${s.site}"`)
  if (r.state !== 'awaiting-approval') throw Errors.conflict(`recycle ${id} is ${r.state}, not awaiting approval`)
  if (r.expiresAt !== undefined && Date.parse(r.expiresAt) <= now) throw Errors.conflict(`recycle ${id} expired at ${r.expiresAt}`)
  return r
}

/** Approved: pending for the leader to run; its start counts from now. */
export function approve(s: SiteState, site: SiteConfig, id: string, actor: Actor, now: number): { next: SiteState; record: RecycleRecord } {
  const r = awaiting(s, id, now)
  const at = iso(now)
  const record: RecycleRecord = {
    ...r, state: 'pending', startAt: at,
    approval: { decision: 'approved', by: clip(actor.by, 100), at, ...(actor.reason ? { reason: clip(actor.reason) } : {}) },
    steps: [...r.steps, step(now, `approved by ${actor.by}${actor.reason ? `: ${actor.reason}` : ''}`)],
  }
  delete record.reason
  const keep = Math.max(site.recycle.windowMs, site.recycle.cooldownMs)
  return { next: { ...putRecord(s, record), starts: [...s.starts.filter((t) => now - Date.parse(t) < keep), at] }, record }
}

export function reject(s: SiteState, id: string, actor: Actor, now: number): { next: SiteState; record: RecycleRecord } {
  const r = awaiting(s, id, now)
  const at = iso(now)
  const record: RecycleRecord = {
    ...r, state: 'rejected', finishedAt: at,
    reason: `rejected by ${actor.by}${actor.reason ? `: ${actor.reason}` : ''}`,
    approval: { decision: 'rejected', by: clip(actor.by, 100), at, ...(actor.reason ? { reason: clip(actor.reason) } : {}) },
    steps: [...r.steps, step(now, `rejected by ${actor.by}${actor.reason ? `: ${actor.reason}` : ''}`)],
  }
  return { next: recycleFinished(putRecord(s, record), false), record }
}

export interface Reviewed {
  next: SiteState
  /** Records whose state the review changed (expired, released). */
  changed: RecycleRecord[]
}

/**
 * What the leader does with what waits, every second: an approval past its
 * time, or of a site that is healthy again, expires; a window-waiting request ends when the site recovered
 * meanwhile, is released (pending, its start counted) when a window is open
 * and nothing pauses the site, and otherwise keeps waiting. Undefined when
 * nothing changes (nothing is written).
 */
export function review(s: SiteState, site: SiteConfig, now: number): Reviewed | undefined {
  let next = s
  const changed: RecycleRecord[] = []
  for (const r of s.recycles) {
    if (r.state === 'awaiting-approval' && next.health === 'healthy') {
      // Nothing left to approve: a restart of a healthy site (a resolved alert, a passing report) helps nobody.
      const rec: RecycleRecord = { ...r, state: 'expired', finishedAt: iso(now), reason: 'the site recovered before an operator approved', steps: [...r.steps, step(now, 'not needed: the site recovered before an operator approved')] }
      next = recycleFinished(putRecord(next, rec), false)
      changed.push(rec)
    } else if (r.state === 'awaiting-approval' && r.expiresAt !== undefined && Date.parse(r.expiresAt) <= now) {
      const rec: RecycleRecord = { ...r, state: 'expired', finishedAt: iso(now), reason: `not approved before ${r.expiresAt}`, steps: [...r.steps, step(now, `expired: not approved before ${r.expiresAt}`)] }
      next = recycleFinished(putRecord(next, rec), false)
      changed.push(rec)
    } else if (r.state === 'waiting') {
      if (next.health !== 'failing') {
        const rec: RecycleRecord = { ...r, state: 'expired', finishedAt: iso(now), reason: 'the site recovered before a recycle window opened', steps: [...r.steps, step(now, 'not needed: the site recovered before a recycle window opened')] }
        next = recycleFinished(putRecord(next, rec), false)
        changed.push(rec)
        continue
      }
      const open = windowsAt(site.recycleWindows, now).open
      if (!open || activePause(next.servicePause, now) || activePause(next.pause, now)) continue
      const at = iso(now)
      const rec: RecycleRecord = { ...r, state: 'pending', startAt: at, steps: [...r.steps, step(now, `a recycle window is open (until ${open.until}) and the site still fails: released`)] }
      delete rec.reason
      const keep = Math.max(site.recycle.windowMs, site.recycle.cooldownMs)
      next = { ...putRecord(next, rec), starts: [...next.starts.filter((t) => now - Date.parse(t) < keep), at] }
      changed.push(rec)
    }
  }
  return changed.length > 0 ? { next, changed } : undefined
}

/** Anything for review() to look at? (The sweep asks this of every site each second.) */
export const hasWaiting = (s: SiteState): boolean => s.recycles.some((r) => r.state === 'waiting' || r.state === 'awaiting-approval')
