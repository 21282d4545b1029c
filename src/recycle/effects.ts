// Performs what a lifecycle transition asked for (recycle/lifecycle.ts),
// after its state was written: so a log line, a metric, a notification or an
// Event is said once, by the replica whose write made the transition, and
// never for a change the store refused or applied again.

import type { Logger } from 'pino'
import type { SiteConfig } from '../config/types.ts'
import type { Notifier } from '../notify/types.ts'
import type { RecycleRecord } from '../state/schema.ts'
import type { Metrics } from '../status/metrics.ts'
import type { Executor } from './executor.ts'
import type { Effect } from './lifecycle.ts'

export interface EffectsOptions {
  logger: Logger
  metrics: Metrics
  sites: ReadonlyMap<string, SiteConfig>
  notifier?: Notifier
  executor?: Pick<Executor, 'recordEvent'>
}

/** What only the caller knows how to do: hand a record on, say a recycle is over. */
export interface Local {
  handOff?(r: RecycleRecord): void
  finished?(site: SiteConfig): void
}

export type Perform = (r: RecycleRecord | undefined, effects: readonly Effect[], local?: Local) => Promise<void>

export function createEffects(opts: EffectsOptions): Perform {
  const log = opts.logger.child({ component: 'recycle' })
  return async (r, effects, local = {}) => {
    if (!r) return
    const site = opts.sites.get(r.site)
    const fields = {
      site: r.site,
      recycle: r.id,
      state: r.state,
      workload: r.target,
      ...(r.reasonKind ? { reasonKind: r.reasonKind } : {}),
      ...(r.repeats ? { repeats: r.repeats } : {}),
    }
    for (const e of effects) {
      switch (e.kind) {
        case 'log':
          log[e.level](fields, e.message)
          break
        case 'notify':
          opts.notifier?.notify({
            event: e.event,
            site: r.site,
            message: e.message,
            recycle: { id: r.id, state: r.state, url: `/recycles/${r.id}` },
            ...((e.by ?? r.by) ? { by: e.by ?? r.by } : {}),
          })
          break
        case 'count':
          opts.metrics.recycles.inc({ site: r.site, strategy: r.strategy, outcome: e.outcome })
          break
        case 'duration':
          opts.metrics.recycleSeconds.observe({ site: r.site, strategy: r.strategy }, e.seconds)
          break
        case 'event':
          if (site)
            await opts.executor
              ?.recordEvent?.(site, { type: e.type, reason: e.reason, message: e.message })
              .catch(() => undefined)
          break
        case 'hand-off':
          local.handOff?.(r)
          break
        case 'finished':
          if (site) local.finished?.(site)
          break
      }
    }
  }
}
