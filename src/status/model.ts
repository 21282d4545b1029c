// The /status model: one object for dashboards (JSON) and the HTML page,
// built from the service's stored state, so every replica answers the same.
// Recycles appear as briefs (no steps): GET /recycles/:id has the rest.

import type { AppContext } from '../server/context.ts'
import { targetLabel } from '../config/types.ts'
import type { Verdict } from '../health/verdict.ts'
import type { GitFacts } from './facts.ts'
import type { Health, Pause, RecycleBrief, RecycleRecord, TimelineRun } from '../state/schema.ts'
import { windowsAt, type WindowView } from '../recycle/windows.ts'
import { isStale } from '../health/deadman.ts'
import { foldTimeline, freshVerdict } from '../state/freshness.ts'

export interface SiteStatus {
  name: string
  target: string
  strategy: string
  health: Health
  consecutiveFailures: number
  lastVerdict: Verdict | null
  lastRecycle: RecycleBrief | null
  circuitOpen: boolean
  /** Jenkins has not reported within jenkins.expectEvery (dead-man's switch). */
  stale: boolean
  /** The last Jenkins report the service received. */
  lastReportAt?: string
  note?: string
  /** Production branch head vs the commit the workload runs. */
  git?: GitFacts
  /** This site's own pause (the service's is under service.paused). */
  paused: Pause | null
  /** recycle.mode: auto, notify or approve. */
  mode: string
  /** A recycle that waits: for an operator's approval, or for a recycle window. */
  waiting: RecycleBrief | null
  /** Maintenance windows (no automatic recycle inside) and recycle windows (automatic recycles only inside). */
  windows?: { maintenance?: WindowView; recycle?: WindowView }
  lastReset?: { by: string; at: string; reason?: string }
  /** The last verdicts as runs, oldest first (the page draws them with the recycles between). */
  timeline?: TimelineRun[]
  /** git.commitUrl: where a commit is shown on the git host (`{commit}` replaced). */
  commitUrl?: string
}

export interface StatusModel {
  service: {
    version: string
    startedAt: string
    dryRun: boolean
    cluster: string
    note?: string
    replica: string
    leader: boolean
    ready: boolean
    paused: Pause | null
    /** The leader's last heartbeat: verdict times of unchanged sites are as fresh as this. */
    heartbeat?: { at: string; by: string } | null
  }
  sites: SiteStatus[]
  recent: RecycleBrief[]
}

export function brief(r: RecycleRecord): RecycleBrief {
  const { steps: _steps, plan: _plan, ...rest } = r
  return { ...rest, url: `/recycles/${r.id}` }
}

// The dead-man's switch lives in health/ (the leader announces it too).
export { isStale }

export function statusModel(ctx: AppContext): StatusModel {
  const now = ctx.clock.now()
  const all: RecycleRecord[] = []
  const sites = ctx.config.sites.map((s): SiteStatus => {
    const st = ctx.store.get(s.name)
    // A probe that said the same again was not written: the heartbeat
    // object (the same on every replica) says when it was last said.
    const repeat = ctx.heartbeat.shown(s.name, st)
    all.push(...st.recycles)
    const note = st.episode?.didNotHelp
      ? 'recycle-did-not-help: automatic recycles stopped until the site recovers or an operator recycles it'
      : undefined
    ctx.facts.refreshIfStale(s)
    const git = ctx.facts.get(s)
    const last = st.recycles.at(-1)
    const waiting = st.recycles.find((r) => r.state === 'waiting' || r.state === 'awaiting-approval')
    const windows = {
      ...(s.maintenance.length > 0 ? { maintenance: windowsAt(s.maintenance, now) } : {}),
      ...(s.recycleWindows.length > 0 ? { recycle: windowsAt(s.recycleWindows, now) } : {}),
    }
    return {
      paused: ctx.operator.sitePause(s.name),
      mode: s.recycle.mode,
      waiting: waiting ? brief(waiting) : null,
      ...(Object.keys(windows).length > 0 ? { windows } : {}),
      ...(st.lastReset ? { lastReset: st.lastReset } : {}),
      timeline: foldTimeline(st.timeline, st, repeat) ?? [],
      ...(s.git?.commitUrl ? { commitUrl: s.git.commitUrl } : {}),
      ...(git ? { git } : {}),
      name: s.name,
      target: targetLabel(s.target),
      strategy: s.recycle.strategy,
      health: st.health,
      consecutiveFailures: st.consecutiveFailures,
      lastVerdict: freshVerdict(st, repeat) ?? null,
      lastRecycle: last ? brief(last) : null,
      circuitOpen: ctx.recycler.circuitOpen(s.name),
      stale: isStale(s.jenkins.expectEveryMs, st.lastReportAt, st.since ?? ctx.startedAt, now),
      ...(st.lastReportAt ? { lastReportAt: st.lastReportAt } : {}),
      ...(note ? { note } : {}),
    }
  })
  const recent = all
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
    .slice(0, 50)
    .map(brief)
  return {
    service: {
      version: ctx.version,
      startedAt: ctx.startedAt,
      dryRun: ctx.recycler.dryRun,
      cluster: ctx.mode.cluster,
      ...(ctx.mode.note ? { note: ctx.mode.note } : {}),
      replica: ctx.identity,
      leader: ctx.isLeader(),
      ready: ctx.readiness().ready,
      paused: ctx.operator.servicePause(),
      heartbeat: ctx.heartbeat.last() ?? null,
    },
    sites,
    recent,
  }
}
