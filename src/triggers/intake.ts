// Where every verdict enters: Jenkins, the probes and (for the record) the
// operator. It drops repeats of the same delivery, advances the site's health
// and, when the health machine says the failure is real, asks the recycler.

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { SiteConfig } from '../config/types.ts'
import type { HealthBook, Health } from '../health/state.ts'
import type { Verdict } from '../health/verdict.ts'
import type { Recycler } from '../recycle/service.ts'
import type { RecycleRecord } from '../status/history.ts'
import type { Metrics } from '../status/metrics.ts'

export type Action = 'none' | 'recycle-requested' | 'duplicate' | 'ignored'

export interface Decision {
  site: string
  action: Action
  reason: string
  health: Health
  recycle?: RecycleRecord
}

export interface Intake {
  submit(site: SiteConfig, verdict: Verdict): Decision
  ignore(site: SiteConfig, key: string, reason: string): Decision
}

const HEALTH_VALUE: Record<Health, number> = { healthy: 1, failing: 0, unknown: -1 }

export function createIntake(opts: { health: HealthBook; recycler: Recycler; metrics: Metrics; clock: Clock; logger: Logger; dedupeSize?: number }): Intake {
  const { health, recycler, metrics } = opts
  const log = opts.logger.child({ component: 'intake' })
  const max = opts.dedupeSize ?? 10_000
  /** Keys of deliveries already acted on, oldest first. */
  const seen = new Map<string, number>()
  const remember = (key: string): boolean => {
    if (seen.has(key)) return false
    seen.set(key, opts.clock.now())
    while (seen.size > max) seen.delete(seen.keys().next().value as string)
    return true
  }
  const duplicate = (site: SiteConfig, key: string): Decision => {
    log.info({ site: site.name, key }, 'duplicate delivery: already acted on')
    return { site: site.name, action: 'duplicate', reason: `${key} was already received`, health: health.get(site.name).health }
  }

  return {
    ignore(site, key, reason) {
      // A non-final phase does not consume the key: the final one must still act.
      if (seen.has(key)) return duplicate(site, key)
      return { site: site.name, action: 'ignored', reason, health: health.get(site.name).health }
    },
    submit(site, verdict) {
      if (verdict.key !== undefined && !remember(verdict.key)) return duplicate(site, verdict.key)
      metrics.verdicts.inc({ site: site.name, source: verdict.source, ok: String(verdict.ok) })
      const obs = health.observe(site, verdict)
      metrics.health.set({ site: site.name }, HEALTH_VALUE[obs.health])
      log.info({ site: site.name, source: verdict.source, ok: verdict.ok, health: obs.health, transition: obs.transition, ref: verdict.ref }, `verdict: ${verdict.summary}`)
      if (!obs.recycle) return { site: site.name, action: 'none', reason: obs.reason, health: obs.health }
      const record = recycler.request({
        site: site.name,
        source: verdict.source,
        reason: `${verdict.summary} (${obs.reason})`,
        ...(verdict.ref ? { ref: verdict.ref } : {}),
        ...(verdict.key ? { key: verdict.key } : {}),
        ...(verdict.commit ? { commit: verdict.commit } : {}),
      })
      if (record.state === 'skipped') {
        return { site: site.name, action: 'none', reason: record.reason ?? 'skipped', health: obs.health, recycle: record }
      }
      return { site: site.name, action: 'recycle-requested', reason: obs.reason, health: obs.health, recycle: record }
    },
  }
}
