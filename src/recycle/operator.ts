// The operator's actions, applied to the stored state (control.ts decides,
// purely) and said: a log line, an Event on the workload, a metric, a
// notification, each from the replica that made the write, so once per
// service. A pause of the whole service is written into every site's state.

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { Config, SiteConfig } from '../config/types.ts'
import { Errors } from '../errors.ts'
import type { Notifier } from '../notify/types.ts'
import type { Pause, RecycleRecord } from '../state/schema.ts'
import type { StateStore } from '../state/store.ts'
import type { Metrics } from '../status/metrics.ts'
import { approve, newPause, reject, resetSite, setPause, type Actor } from './control.ts'
import type { Executor } from './executor.ts'
import { activePause } from './policy.ts'
import type { Recycler } from './service.ts'

export interface Operator {
  /** `site` undefined: the whole service. */
  pause(site: string | undefined, actor: Actor, until?: string): Promise<Pause>
  resume(site: string | undefined, actor: Actor): Promise<{ was: Pause | null }>
  reset(site: string, actor: Actor): Promise<void>
  approve(id: string, actor: Actor): Promise<RecycleRecord>
  reject(id: string, actor: Actor): Promise<RecycleRecord>
  /** The service's pause as the stored states say (the newest copy in force). */
  servicePause(): Pause | null
  sitePause(site: string): Pause | null
}

export interface OperatorOptions {
  config: Config
  store: StateStore
  recycler: Recycler
  clock: Clock
  logger: Logger
  metrics: Metrics
  executor?: Executor
  notifier?: Notifier
}

export function createOperator(opts: OperatorOptions): Operator {
  const { config, store, clock } = opts
  const log = opts.logger.child({ component: 'operator' })
  const sites = new Map(config.sites.map((s) => [s.name, s]))
  const siteOf = (name: string): SiteConfig => {
    const s = sites.get(name)
    if (!s) throw Errors.unknownSite(`no site named "${name}"`)
    return s
  }
  const event = (site: SiteConfig, type: 'Normal' | 'Warning', reason: string, message: string): void => {
    void opts.executor?.recordEvent?.(site, { type, reason, message })?.catch(() => undefined)
  }

  const self: Operator = {
    servicePause() {
      const now = clock.now()
      let newest: Pause | undefined
      for (const s of sites.keys()) {
        const p = activePause(store.get(s).servicePause, now)
        if (p && (!newest || p.since > newest.since)) newest = p
      }
      return newest ?? null
    },
    sitePause(name) {
      return activePause(store.get(name).pause, clock.now()) ?? null
    },
    async pause(name, actor, until) {
      const now = clock.now()
      if (until !== undefined && Date.parse(until) <= now)
        throw Errors.invalidField(`body.until: must be in the future (got ${until})`)
      const p = newPause(actor, now, until)
      const targets = name === undefined ? [...sites.values()] : [siteOf(name)]
      for (const site of targets)
        await store.update(site.name, (s) => ({
          next: setPause(s, name === undefined ? 'service' : 'site', p),
          result: undefined,
        }))
      const what = name === undefined ? 'the service' : `site ${name}`
      const msg = `${what} paused by ${p.by}${p.until ? ` until ${p.until}` : ''}: ${p.reason}; automatic recycles are answered "paused", verdicts are still taken`
      log.warn({ site: name, by: p.by, until: p.until }, msg)
      for (const site of targets) event(site, 'Warning', 'RecyclesPaused', `kube-recycler: ${msg}`)
      opts.notifier?.notify({ event: 'paused', ...(name ? { site: name } : {}), by: p.by, message: msg })
      return p
    },
    async resume(name, actor) {
      const was = name === undefined ? self.servicePause() : self.sitePause(siteOf(name).name)
      const targets = name === undefined ? [...sites.values()] : [siteOf(name)]
      const scope = name === undefined ? 'service' : 'site'
      for (const site of targets) {
        await store.update(site.name, (s) =>
          s[scope === 'site' ? 'pause' : 'servicePause']
            ? { next: setPause(s, scope, undefined), result: undefined }
            : { result: undefined },
        )
      }
      const what = name === undefined ? 'the service' : `site ${name}`
      const msg = `${what} resumed by ${actor.by}${was ? ` (paused by ${was.by} since ${was.since})` : ' (it was not paused)'}`
      log.warn({ site: name, by: actor.by }, msg)
      for (const site of targets) event(site, 'Normal', 'RecyclesResumed', `kube-recycler: ${msg}`)
      opts.notifier?.notify({ event: 'resumed', ...(name ? { site: name } : {}), by: actor.by, message: msg })
      return { was }
    },
    async reset(name, actor) {
      const site = siteOf(name)
      await store.update(site.name, (s) => ({ next: resetSite(s, actor, clock.now()), result: undefined }))
      const msg = `site ${name} reset by ${actor.by}${actor.reason ? `: ${actor.reason}` : ''}: the circuit breaker is closed and the did-not-help stop lifted; no pod was restarted`
      log.warn({ site: name, by: actor.by }, msg)
      event(site, 'Normal', 'RecycleBrakesReset', `kube-recycler: ${msg}`)
      opts.notifier?.notify({ event: 'site-reset', site: name, by: actor.by, message: msg })
    },
    async approve(id, actor) {
      const found = opts.recycler.get(id)
      if (!found) throw Errors.notFound(`no recycle with id "${id}"`)
      const site = siteOf(found.site)
      const { record, effects } = await store.update(site.name, (s) => {
        const out = approve(s, site, id, actor, clock.now())
        return { next: out.next, result: out }
      })
      opts.recycler.requested(record, effects)
      return record
    },
    async reject(id, actor) {
      const found = opts.recycler.get(id)
      if (!found) throw Errors.notFound(`no recycle with id "${id}"`)
      const site = siteOf(found.site)
      const { record, effects } = await store.update(site.name, (s) => {
        const out = reject(s, id, actor, clock.now())
        return { next: out.next, result: out }
      })
      opts.recycler.requested(record, effects)
      return record
    },
  }

  // The pause gauges follow the shared state on every replica, at each
  // scrape: a pause with `until` ends without a write.
  opts.metrics.refreshPaused = () => {
    const now = clock.now()
    for (const name of sites.keys()) {
      const s = store.get(name)
      opts.metrics.paused.set({ site: name, scope: 'site' }, activePause(s.pause, now) ? 1 : 0)
      opts.metrics.paused.set({ site: name, scope: 'service' }, activePause(s.servicePause, now) ? 1 : 0)
    }
  }
  return self
}
