// The operator's brakes, as pure changes of a site's stored state: pause
// and resume (the site, or the service: a copy in every site's state, so the
// policy reads it inside the same conditional write as the verdict), reset
// (close the circuit, lift the did-not-help stop, without restarting pods),
// approve and reject. And the leader's review of what waits: approvals that
// expire, window-waiting requests released when a window opens (only if the
// site still fails). What touches a recycle record is a transition of the
// lifecycle (recycle/lifecycle.ts). Pure: the store may apply them more than once.

import type { SiteConfig } from '../config/types.ts'
import { clip } from '../state/bounds.ts'
import type { Pause, RecycleRecord, SiteState } from '../state/schema.ts'
import { transition, type Actor, type Effect } from './lifecycle.ts'

export { resetSite, type Actor } from './lifecycle.ts'

const iso = (t: number): string => new Date(t).toISOString()

export function newPause(actor: Actor, now: number, until?: string): Pause {
  return {
    by: clip(actor.by, 100),
    reason: clip(actor.reason ?? ''),
    since: iso(now),
    ...(until !== undefined ? { until } : {}),
  }
}

/** `scope` site: this site's own pause; service: the service's copy in this site's state. */
export function setPause(s: SiteState, scope: 'site' | 'service', pause: Pause | undefined): SiteState {
  const key = scope === 'site' ? 'pause' : 'servicePause'
  const { [key]: _old, ...rest } = s
  return pause ? { ...rest, [key]: pause } : rest
}

export interface Decided {
  next: SiteState
  record: RecycleRecord
  effects: Effect[]
}

/** Approved: pending for the leader to run; its start counts from now. Throws 404/409 as the lifecycle does. */
export function approve(s: SiteState, site: SiteConfig, id: string, actor: Actor, now: number): Decided {
  const t = transition(s, id, { type: 'approve', site, actor }, now)
  return { next: t.next!, record: t.record!, effects: t.effects }
}

export function reject(s: SiteState, id: string, actor: Actor, now: number): Decided {
  const t = transition(s, id, { type: 'reject', actor }, now)
  return { next: t.next!, record: t.record!, effects: t.effects }
}

export interface Reviewed {
  next: SiteState
  /** Records whose state the review changed (expired, released), each with its effects. */
  changed: RecycleRecord[]
  effects: Effect[][]
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
  const effects: Effect[][] = []
  for (const r of s.recycles) {
    if (r.state !== 'awaiting-approval' && r.state !== 'waiting') continue
    const t = transition(next, r.id, { type: 'review', site }, now)
    if (!t.next) continue
    next = t.next
    changed.push(t.record!)
    effects.push(t.effects)
  }
  return changed.length > 0 ? { next, changed, effects } : undefined
}
