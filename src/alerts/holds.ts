// When a silence kube-recycler holds in Alertmanager must end: pure, judged
// from the site's stored state, so every leader (the one that made it or
// the next one) decides the same. A silence stays only while kube-recycler
// is still working on the site: the recycle it covers is pending, running,
// or being verified, and the site is not healthy again. It ends at once when
// the repair did not help (failed, rolled back, skipped, or still failing
// after it), so the page goes out then; and when the site recovered.

import type { SiteState, SilenceHold } from '../state/schema.ts'

/** Silences kept per site: one recycle runs at a time, so a few cover any overlap. */
export const MAX_HOLDS = 10

export type HoldVerdict =
  | { action: 'keep' }
  /** Ask Alertmanager to expire it, then forget it. */
  | { action: 'expire'; why: string }
  /** Past its end: Alertmanager ended it itself; only forget it. */
  | { action: 'forget' }

export function judgeHold(s: SiteState, hold: SilenceHold, now: number): HoldVerdict {
  if (Date.parse(hold.endsAt) <= now) return { action: 'forget' }
  const r = s.recycles.find((x) => x.id === hold.recycle)
  if (!r) return { action: 'expire', why: `recycle ${hold.recycle} is no longer in the site's history` }
  if (s.health === 'healthy') return { action: 'expire', why: 'the site recovered' }
  if (r.verification === 'recovered') return { action: 'expire', why: 'the site recovered' }
  if (r.verification === 'recycle-did-not-help' || s.episode?.didNotHelp) return { action: 'expire', why: 'the recycle did not help' }
  switch (r.state) {
    case 'pending':
    case 'running':
      return { action: 'keep' }
    case 'succeeded':
      // Verification (pending) decides; without checks to probe, the
      // resolved alert (a healthy site) or endsAt does.
      return { action: 'keep' }
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
