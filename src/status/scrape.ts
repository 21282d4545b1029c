// What the state gauges (status/metrics.ts) read at scrape time: the same
// facts /status shows, so a metric and the page never disagree. Like a
// /status request, a scrape refreshes a site's git/workload facts in the
// background when they are older than a minute (the facts book bounds it to
// one refresh per site at a time); the scrape never waits for it.

import type { AppContext } from '../server/context.ts'
import type { ScrapeState } from './metrics.ts'
import { statusModel } from './model.ts'

export function scrapeState(ctx: AppContext): ScrapeState {
  const model = statusModel(ctx)
  const bySite = new Map(ctx.config.sites.map((s) => [s.name, s]))
  return {
    leader: model.service.leader,
    sites: model.sites.map((s) => {
      const at = s.lastReportAt
      const atMs = at ? Date.parse(at) : NaN
      return {
        name: s.name,
        ...(Number.isFinite(atMs) ? { lastReportAtMs: atMs } : {}),
        ...(bySite.get(s.name)?.jenkins.expectEveryMs !== undefined ? { stale: s.stale } : {}),
        ...(s.git?.head !== undefined && s.git.running !== undefined ? { drift: s.git.drift } : {}),
      }
    }),
  }
}
