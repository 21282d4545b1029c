// The dead-man's switch: a site whose Jenkins has not reported within
// jenkins.expectEvery is stale. Pure; /status shows it and the leader
// announces it once per silence (the state remembers which silence it told).

import type { SiteConfig } from '../config/types.ts'
import type { SiteState } from '../state/schema.ts'

/** Is the site's Jenkins silent past expectEvery? Counted from the last report, or from when the service started watching it. */
export function isStale(
  expectEveryMs: number | undefined,
  lastReportAt: string | undefined,
  since: string | undefined,
  now: number,
): boolean {
  if (expectEveryMs === undefined) return false
  const from = lastReportAt ?? since
  return from !== undefined && now - Date.parse(from) > expectEveryMs
}

/**
 * The state with this silence marked as announced, when it is stale and not
 * yet announced; undefined otherwise (nothing to write, nothing to say).
 */
export function staleToAnnounce(s: SiteState, site: SiteConfig, now: number): SiteState | undefined {
  const from = s.lastReportAt ?? s.since
  if (from === undefined || !isStale(site.jenkins.expectEveryMs, s.lastReportAt, s.since, now)) return undefined
  if (s.staleNoticeFor === from) return undefined
  return { ...s, staleNoticeFor: from }
}
