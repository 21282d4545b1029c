// The recycle requests of the service: an operator's POST /recycle and the
// intake's, applied to the stored site state (requests.ts decides), then
// handed on: a pending record to the runner (the leader runs it), a planned
// one gets its plan (reads only), a skipped one is counted and said.

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { Config } from '../config/types.ts'
import { Errors, isAppError } from '../errors.ts'
import { findRecord, putRecord, step } from '../state/records.ts'
import type { RecycleRecord } from '../state/schema.ts'
import type { StateStore } from '../state/store.ts'
import type { Metrics } from '../status/metrics.ts'
import type { Notifier } from '../notify/types.ts'
import type { Executor } from './executor.ts'
import { circuitOpen } from './policy.ts'
import { applyRequest, newRecycleId, type RecycleRequest } from './requests.ts'
import type { Runner } from './runner.ts'

export type { RecycleRequest }

export interface Recycler {
  /** True when recycles only plan (no cluster, or service.dryRun). */
  readonly dryRun: boolean
  request(req: RecycleRequest): Promise<RecycleRecord>
  /** A record was just written for a request (by the intake or by request()): hand it on. */
  requested(r: RecycleRecord): void
  circuitOpen(site: string): boolean
  get(id: string): RecycleRecord | undefined
  /** Resolves when every background job (runs, plans) has settled (tests, shutdown). */
  idle(): Promise<void>
  close(): Promise<void>
}

export interface RecyclerOptions {
  config: Config
  store: StateStore
  metrics: Metrics
  clock: Clock
  logger: Logger
  /** Absent: no cluster; every recycle is planned and recorded only. */
  executor?: Executor
  runner?: Runner
  /** Requests are announced by the replica whose write made them: once per service. */
  notifier?: Notifier
}

export function createRecycler(opts: RecyclerOptions): Recycler {
  const { config, store, metrics, clock, executor, runner } = opts
  const log = opts.logger.child({ component: 'recycle' })
  const sites = new Map(config.sites.map((s) => [s.name, s]))
  const dryRun = config.service.dryRun || executor === undefined || runner === undefined
  const background = new Set<Promise<unknown>>()
  const track = (p: Promise<unknown>): void => {
    background.add(p)
    void p.finally(() => background.delete(p))
  }

  function plan(r: RecycleRecord): void {
    const site = sites.get(r.site)
    if (!site || !executor) return
    track(executor.plan(site, r.strategy).then(
      (p) => store.update(site.name, (s) => {
        const cur = findRecord(s, r.id)
        return cur ? { next: putRecord(s, { ...cur, plan: p, steps: [...cur.steps, step(clock.now(), `plan: ${p.why}`)] }), result: undefined } : { result: undefined }
      }),
      (e: unknown) => store.update(site.name, (s) => {
        const cur = findRecord(s, r.id)
        const why = isAppError(e) ? e.message : 'could not plan'
        return cur ? { next: putRecord(s, { ...cur, reason: why, steps: [...cur.steps, step(clock.now(), `plan failed: ${why}`)] }), result: undefined } : { result: undefined }
      }),
    ).catch(() => undefined))
  }

  function announce(r: RecycleRecord): void {
    const n = opts.notifier
    if (!n) return
    const recycle = { id: r.id, state: r.state, url: `/recycles/${r.id}` }
    const base = { site: r.site, recycle, ...(r.by ? { by: r.by } : {}) }
    if (r.state === 'awaiting-approval') n.notify({ ...base, event: 'approval-needed', message: `${r.target}: ${r.trigger.reason}; ${r.reason ?? ''}` })
    else if (r.state === 'pending' || r.state === 'waiting' || (r.state === 'planned' && !r.dryRun)) n.notify({ ...base, event: 'recycle-requested', message: `${r.target} by ${r.trigger.source}${r.by ? ` (${r.by})` : ''}: ${r.trigger.reason}${r.reason ? `; ${r.reason}` : ''}` })
    else if (r.state === 'skipped' && r.repeats === undefined && r.reason?.startsWith('circuit open')) n.notify({ ...base, event: 'recycle-skipped-circuit', message: r.reason })
  }

  const self: Recycler = {
    dryRun,
    circuitOpen(name) {
      const s = sites.get(name)
      return s ? circuitOpen(store.get(name), s, clock.now()) : false
    },
    get(id) {
      for (const name of sites.keys()) {
        const r = findRecord(store.get(name), id)
        if (r) return r
      }
      return undefined
    },
    async request(req) {
      const site = sites.get(req.site)
      if (!site) throw Errors.unknownSite(`no site named "${req.site}"`)
      const now = clock.now()
      const id = newRecycleId(now)
      const r = await store.update(site.name, (s) => {
        const { next, record } = applyRequest(s, site, req, { now, id, dryRun })
        return { next, result: record }
      })
      self.requested(r)
      return r
    },
    requested(r) {
      announce(r)
      if (r.state === 'planned') return plan(r)
      if (r.state === 'skipped') {
        metrics.recycles.inc({ site: r.site, strategy: r.strategy, outcome: 'skipped' })
        const site = sites.get(r.site)
        if (site && circuitOpen(store.get(r.site), site, clock.now())) {
          log.error({ site: r.site }, `circuit open: ${site.recycle.maxPerWindow} recycles within the window; automatic recycles stopped`)
        }
        if (r.reason?.startsWith('cannot help:')) {
          // Loud, once per refusal record (repeats of it are merged): an
          // operator must fix what is outside the pods.
          log.error({ site: r.site, recycle: r.id, repeats: r.repeats }, `not restarting ${r.site}: ${r.reason}`)
          if (site && executor?.recordEvent && (r.repeats ?? 1) === 1) track(executor.recordEvent(site, { type: 'Warning', reason: 'RecycleCannotHelp', message: `kube-recycler: ${r.reason}` }))
          return
        }
        log.info({ site: r.site, recycle: r.id, repeats: r.repeats }, `skipped: ${r.reason ?? ''}`)
        return
      }
      log.info({ site: r.site, recycle: r.id, workload: r.target, source: r.trigger.source }, `recycle requested: ${r.trigger.reason}`)
      runner?.kick(r.site)
    },
    async idle() {
      for (;;) {
        await Promise.allSettled([...background])
        await runner?.idle()
        if (background.size === 0 && !runner?.busy()) return
      }
    },
    async close() {
      await runner?.close()
      await Promise.allSettled([...background])
    },
  }
  return self
}
