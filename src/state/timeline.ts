// The per-site timeline /status draws: the last verdicts as runs. Pure.
//
// A verdict like the run before it (same ok, same source) extends that run
// instead of adding one, so a long healthy stretch is one entry. Only
// verdicts the intake writes reach the stored timeline: a repeated Jenkins
// report within intake's REFRESH_MS is not written nor counted (the next
// write extends the run's `to` over it); a repeated probe is noted in the
// leader's heartbeat, which stretches the last run's `to` and `count` on
// /status and is folded in at the site's next write (state/freshness.ts).

import { clip, LIMITS } from './bounds.ts'
import type { TimelineRun } from './schema.ts'
import type { Verdict } from '../health/verdict.ts'

export function mergeTimeline(timeline: readonly TimelineRun[] | undefined, v: Verdict): TimelineRun[] {
  const runs = timeline ?? []
  const last = runs.at(-1)
  const summary = clip(v.summary, LIMITS.timelineSummary)
  const ref = v.ref !== undefined ? { ref: clip(v.ref) } : {}
  const commit = v.commit !== undefined ? { commit: clip(v.commit, 64) } : {}
  if (last && last.ok === v.ok && last.source === v.source && v.at >= last.to) {
    const { ref: _r, commit: _c, ...rest } = last
    return [...runs.slice(0, -1), { ...rest, to: v.at, count: last.count + 1, summary, ...ref, ...commit }]
  }
  const run: TimelineRun = { from: v.at, to: v.at, ok: v.ok, source: v.source, count: 1, summary, ...ref, ...commit }
  return [...runs, run].slice(-LIMITS.timeline)
}
