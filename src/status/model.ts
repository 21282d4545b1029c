// The /status model: one object for dashboards (JSON) and the HTML page.

import type { AppContext } from '../server/context.ts'
import { targetLabel } from '../config/types.ts'
import type { RecycleRecord } from './history.ts'
import type { Verdict } from '../health/verdict.ts'
import type { GitFacts } from './facts.ts'
import type { ProbeRun } from '../triggers/schedule.ts'

export interface SiteStatus {
  name: string
  target: string
  strategy: string
  health: 'healthy' | 'failing' | 'unknown'
  consecutiveFailures: number
  lastVerdict: Verdict | null
  lastRecycle: RecycleRecord | null
  circuitOpen: boolean
  /** Jenkins has not reported within jenkins.expectEvery (dead-man's switch). */
  stale: boolean
  note?: string
  /** Production branch head vs the commit the workload runs. */
  git?: GitFacts
  /** The last probe run of this replica. */
  lastProbe?: ProbeRun
}

export interface StatusModel {
  service: { version: string; startedAt: string; dryRun: boolean; cluster: string; note?: string }
  sites: SiteStatus[]
  recent: RecycleRecord[]
}

export function statusModel(ctx: AppContext): StatusModel {
  const now = ctx.clock.now()
  return {
    service: {
      version: ctx.version,
      startedAt: ctx.startedAt,
      dryRun: ctx.recycler.dryRun,
      cluster: ctx.mode.cluster,
      ...(ctx.mode.note ? { note: ctx.mode.note } : {}),
    },
    sites: ctx.config.sites.map((s) => {
      const h = ctx.health.get(s.name)
      const expect = s.jenkins.expectEveryMs
      const lastJ = h.lastJenkinsAt ? Date.parse(h.lastJenkinsAt) : Date.parse(ctx.startedAt)
      const stale = expect !== undefined && now - lastJ > expect
      const note = h.episode?.didNotHelp ? 'recycle-did-not-help: automatic recycles stopped until the site recovers or an operator recycles it' : undefined
      ctx.facts.refreshIfStale(s)
      const git = ctx.facts.get(s)
      const lastProbe = ctx.scheduler?.lastRun(s.name)
      return {
        ...(git ? { git } : {}),
        ...(lastProbe ? { lastProbe } : {}),
        name: s.name,
        target: targetLabel(s.target),
        strategy: s.recycle.strategy,
        health: h.health,
        consecutiveFailures: h.consecutiveFailures,
        lastVerdict: h.lastVerdict ?? null,
        lastRecycle: ctx.history.lastFor(s.name) ?? null,
        circuitOpen: ctx.recycler.circuitOpen(s.name),
        stale,
        ...(note ? { note } : {}),
      }
    }),
    recent: ctx.history.recent(50),
  }
}
