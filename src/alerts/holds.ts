// When a silence kube-recycler holds in Alertmanager must end: pure, judged
// from the site's stored state, so every leader (the one that made it or
// the next one) decides the same. A silence stays only while kube-recycler
// is still working on the site: the recycle it covers is pending, running,
// or being verified, and the site is not healthy again. It ends at once when
// the repair did not help (failed, rolled back, skipped, or still failing
// after it), so the page goes out then; and when the site recovered.
// Alertmanager ends it itself at endsAt (at most the recycle's timeout).

import type { SiteState, SilenceHold } from '../state/schema.ts'

/** Silences kept per site: one recycle runs at a time, so a few cover any overlap. */
export const MAX_HOLDS = 10

export type HoldVerdict =
  | { action: 'keep' }
  /** Ask Alertmanager to expire it, then forget it. */
  | { action: 'expire'; why: string }
  /** Past its end: Alertmanager ended it itself; only forget it. */
  | { action: 'forget' }

/** `graceMs`: after a recycle with nothing to verify it, how long the silence stays (the site's verify window). */
export function judgeHold(s: SiteState, hold: SilenceHold, now: number, graceMs: number): HoldVerdict {
  if (Date.parse(hold.endsAt) <= now) return { action: 'forget' }
  const r = s.recycles.find((x) => x.id === hold.recycle)
  if (!r) return { action: 'expire', why: `recycle ${hold.recycle} is no longer in the site's history` }
  if (s.health === 'healthy') return { action: 'expire', why: 'the site recovered' }
  if (r.verification === 'recovered') return { action: 'expire', why: 'the site recovered' }
  if (r.verification === 'recycle-did-not-help' || s.episode?.didNotHelp)
    return { action: 'expire', why: 'the recycle did not help' }
  switch (r.state) {
    case 'pending':
    case 'running':
      return { action: 'keep' }
    case 'succeeded': {
      if (r.verification === 'pending') return { action: 'keep' }
      // No checks to probe: only Alertmanager can tell whether it helped,
      // and it tells nobody while the alert is silenced (a silence mutes the
      // resolved notification too). So the silence ends a while after the
      // recycle, as long as verification would have taken, for Prometheus
      // to see the recovery: an alert still firing then pages.
      const done = Date.parse(r.finishedAt ?? r.createdAt)
      return now - done < graceMs
        ? { action: 'keep' }
        : {
            action: 'expire',
            why: 'the recycle ended (no checks to verify it: Alertmanager pages if the alert still fires)',
          }
    }
    default:
      return { action: 'expire', why: `the recycle ended ${r.state}` }
  }
}

/** Adds a hold, keeping the newest MAX_HOLDS. */
export function addHold(s: SiteState, hold: SilenceHold): SiteState {
  return { ...s, silences: [...(s.silences ?? []).filter((h) => h.id !== hold.id), hold].slice(-MAX_HOLDS) }
}

export function dropHold(s: SiteState, id: string): SiteState {
  const rest = (s.silences ?? []).filter((h) => h.id !== id)
  if (rest.length === (s.silences ?? []).length) return s
  if (rest.length > 0) return { ...s, silences: rest }
  const { silences: _gone, ...without } = s
  return without
}

/** How long verification takes for a site: the grace of a recycle that had nothing to verify it. */
export const verifyWindowMs = (v: { delayMs: number; attempts: number; intervalMs: number }): number =>
  v.delayMs + v.attempts * v.intervalMs
