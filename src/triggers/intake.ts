// Where every verdict enters: Jenkins, the probes and (for the record) the
// operator. In one change of the site's stored state it drops repeats of the
// same delivery, advances the site's health and, when the health machine
// says the failure is real, applies the recycle request: so a delivery is
// counted once by the whole service, whichever replica it reached.

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { SiteConfig } from '../config/types.ts'
import { outsideCause } from '../health/cause.ts'
import { observe, type Health } from '../health/state.ts'
import type { Verdict } from '../health/verdict.ts'
import type { Effect } from '../recycle/lifecycle.ts'
import { applyRequest, newRecycleId } from '../recycle/requests.ts'
import type { Recycler } from '../recycle/service.ts'
import { boundVerdict } from '../state/bounds.ts'
import { mergeTimeline } from '../state/timeline.ts'
import { foldTimeline, sameStory, type Confirmations } from '../state/freshness.ts'
import type { RecycleRecord, SiteState } from '../state/schema.ts'
import type { StateStore } from '../state/store.ts'
import type { Metrics } from '../status/metrics.ts'
import type { Notifier } from '../notify/types.ts'

/** `planned`: a dry-run recorded what it would do; nothing changes in the cluster. */
/** `awaiting-approval`: recycle.mode approve; `waiting`: outside the recycle windows. */
export const ACTIONS = [
  'none',
  'recycle-requested',
  'planned',
  'duplicate',
  'ignored',
  'awaiting-approval',
  'waiting',
] as const
export type Action = (typeof ACTIONS)[number]

export interface Decision {
  site: string
  action: Action
  reason: string
  health: Health
  recycle?: RecycleRecord
}

export interface Intake {
  submit(site: SiteConfig, verdict: Verdict, extra?: { status?: string }): Promise<Decision>
  ignore(site: SiteConfig, key: string, reason: string): Decision
}

/**
 * A repeated Jenkins report that changes nothing is not written, except to
 * keep the last verdict and the dead-man's switch fresh at this interval
 * (Jenkins' own cadence, hourly, bounds what this costs). A repeated probe
 * is never written: the leader's heartbeat keeps its time fresh
 * (state/heartbeat.ts), so a site at rest costs no write of its own.
 */
export const REFRESH_MS = 60_000

function duplicateOf(s: SiteState, key: string): Decision | undefined {
  const d = s.deliveries.find((x) => x.key === key)
  if (!d) return undefined
  return {
    site: s.site,
    action: 'duplicate',
    reason: `${key} was already received (${d.status ?? (d.ok ? 'passing' : 'failing')} at ${d.at})`,
    health: s.health,
  }
}

/**
 * Did anything a decision or /status depends on change? `heartbeat`: a probe
 * that tells the stored verdict's story again is noted there instead.
 */
function changed(prev: SiteState, next: SiteState, v: Verdict, now: number, heartbeat: boolean): boolean {
  if (
    prev.health !== next.health ||
    prev.consecutiveFailures !== next.consecutiveFailures ||
    prev.consecutiveSuccesses !== next.consecutiveSuccesses
  )
    return true
  if (JSON.stringify(prev.episode) !== JSON.stringify(next.episode)) return true
  const lv = prev.lastVerdict
  if (!lv || lv.ok !== v.ok || lv.source !== v.source) return true
  if (heartbeat && v.source === 'probe') return !sameStory(lv, boundVerdict(v))
  // The summary names the build, so it differs on every report: a passing
  // report that only says the same again refreshes it once a minute.
  if (now - Date.parse(lv.at) >= REFRESH_MS) return true
  if (v.source === 'jenkins' && (!prev.lastReportAt || now - Date.parse(prev.lastReportAt) >= REFRESH_MS)) return true
  return false
}

export function createIntake(opts: {
  store: StateStore
  recycler: Recycler
  metrics: Metrics
  clock: Clock
  logger: Logger
  notifier?: Notifier
  heartbeat?: Confirmations
}): Intake {
  const { store, recycler, metrics } = opts
  const log = opts.logger.child({ component: 'intake' })

  return {
    ignore(site, key, reason) {
      // A non-final phase does not consume the key: the final one must still act.
      const dup = duplicateOf(store.get(site.name), key)
      if (dup) return dup
      return { site: site.name, action: 'ignored', reason, health: store.get(site.name).health }
    },
    async submit(site, verdict, extra = {}) {
      const now = opts.clock.now()
      // Made only for a verdict that requests a recycle (random bytes cost
      // more than the rest of a passing report), once however often the
      // change is retried.
      let id: string | undefined
      const { transition, effects, repeated, ...decision } = await store.update<
        Decision & { transition?: 'became-failing' | 'recovered'; effects?: Effect[]; repeated?: true }
      >(
        site.name,
        (s) => {
          if (verdict.key !== undefined) {
            const dup = duplicateOf(s, verdict.key)
            if (dup) return { result: dup }
          }
          const { next: observed, obs } = observe(s, site, verdict)
          const plain: Decision & { transition?: 'became-failing' | 'recovered' } = {
            site: site.name,
            action: 'none',
            reason: obs.reason,
            health: obs.health,
            ...(obs.transition !== 'none' ? { transition: obs.transition } : {}),
          }
          // A delivery's key is stored whatever it says, so it is counted once:
          // a replayed passing report cannot reset the failure count, nor a
          // build re-reported with another status count again. That is a
          // write per Jenkins report (hourly). A probe has no key: a repeated
          // healthy probe is not written (the leader's heartbeat says it ran).
          // Decided before the state to write is built: most probes end here.
          if (
            !obs.recycle &&
            verdict.key === undefined &&
            !changed(s, observed, verdict, now, opts.heartbeat !== undefined)
          )
            return { result: { ...plain, repeated: true } }
          // The timeline is written with the verdict, so only when the verdict
          // is; the repeats the heartbeat noted since the last write first
          // stretch the run they belong to.
          const runs = foldTimeline(s.timeline, s, opts.heartbeat?.latest(site.name, s))
          let next: SiteState = {
            ...observed,
            lastVerdict: boundVerdict(verdict),
            timeline: mergeTimeline(runs, verdict),
          }
          if (verdict.source === 'jenkins') next.lastReportAt = verdict.at
          if (verdict.key !== undefined)
            next.deliveries = [
              ...s.deliveries,
              { key: verdict.key, ok: verdict.ok, ...(extra.status ? { status: extra.status } : {}), at: verdict.at },
            ]
          if (!obs.recycle) return { next, result: plain }
          const outside = outsideCause(site, verdict.checks)
          // freshEpisode: a plan merges into the last one only within one failure (requests.ts).
          const applied = applyRequest(
            next,
            site,
            {
              site: site.name,
              source: verdict.source,
              ...(outside !== undefined ? { outsideCause: outside } : {}),
              reason: `${verdict.summary} (${obs.reason})`,
              ...(verdict.ref ? { ref: verdict.ref } : {}),
              ...(verdict.key ? { key: verdict.key } : {}),
              ...(verdict.commit ? { commit: verdict.commit } : {}),
            },
            {
              now,
              id: (id ??= newRecycleId(now)),
              dryRun: recycler.dryRun,
              freshEpisode: obs.transition === 'became-failing',
            },
          )
          next = applied.next
          const r = applied.record
          const effects = applied.effects
          if (applied.decision.kind === 'skip')
            return { next, result: { ...plain, reason: r.reason ?? 'skipped', recycle: r, effects } }
          if (applied.decision.kind === 'plan')
            return { next, result: { ...plain, action: 'planned', recycle: r, effects } }
          if (applied.decision.kind === 'await' || applied.decision.kind === 'wait')
            return {
              next,
              result: {
                ...plain,
                action: r.state === 'waiting' ? 'waiting' : 'awaiting-approval',
                reason: r.reason ?? obs.reason,
                recycle: r,
                effects,
              },
            }
          return { next, result: { ...plain, action: 'recycle-requested', recycle: r, effects } }
        },
        // A scheduled probe says it again at the next tick: it waits behind the reports and the operator.
        { routine: verdict.source === 'probe' },
      )
      if (decision.action === 'duplicate') {
        log.info({ site: site.name, key: verdict.key }, 'duplicate delivery: already counted')
        return decision
      }
      if (repeated && verdict.source === 'probe') opts.heartbeat?.confirm(site.name, store.get(site.name), verdict)
      // (The site gauges follow the store's changes, on every replica: app.ts.)
      metrics.verdicts.inc({ site: site.name, source: verdict.source, ok: String(verdict.ok) })
      log.info(
        {
          site: site.name,
          source: verdict.source,
          ok: verdict.ok,
          health: decision.health,
          action: decision.action,
          ref: verdict.ref,
        },
        `verdict: ${verdict.summary}`,
      )
      // Said by the replica whose write made the transition: once per service.
      if (transition)
        opts.notifier?.notify({
          event: transition === 'recovered' ? 'site-recovered' : 'site-failing',
          site: site.name,
          message: `${transition === 'recovered' ? 'recovered' : 'failing'}: ${verdict.summary}`,
        })
      if (decision.recycle) recycler.requested(decision.recycle, effects ?? [])
      return decision
    },
  }
}
