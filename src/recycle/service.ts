// The recycle requests of the service: an operator's POST /recycle and the
// intake's, applied to the stored site state (the lifecycle decides), then
// handed on once written: a pending record to the runner (the leader runs
// it), a planned one gets its plan (reads only); the rest is said by the
// transition's effects (recycle/effects.ts).

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { Config } from '../config/types.ts'
import { Errors, isAppError } from '../errors.ts'
import { findRecord } from '../state/records.ts'
import type { RecycleRecord } from '../state/schema.ts'
import type { StateStore } from '../state/store.ts'
import type { Metrics } from '../status/metrics.ts'
import type { Notifier } from '../notify/types.ts'
import { createEffects } from './effects.ts'
import type { Executor } from './executor.ts'
import { transition, type Effect, type LifecycleEvent } from './lifecycle.ts'
import { circuitOpen } from './policy.ts'
import { applyRequest, newRecycleId, type RecycleRequest } from './requests.ts'
import type { Runner } from './runner.ts'

export type { RecycleRequest }

export interface Recycler {
  /** True when recycles only plan (no cluster, or service.dryRun). */
  readonly dryRun: boolean
  request(req: RecycleRequest): Promise<RecycleRecord>
  /** A record was just written (by the intake, request() or an operator's approval): perform its effects, hand it on. */
  requested(r: RecycleRecord, effects: readonly Effect[]): void
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
  const sites = new Map(config.sites.map((s) => [s.name, s]))
  const dryRun = config.service.dryRun || executor === undefined || runner === undefined
  const background = new Set<Promise<unknown>>()
  const track = (p: Promise<unknown>): void => {
    background.add(p)
    void p.finally(() => background.delete(p))
  }

  const perform = createEffects({
    logger: opts.logger,
    metrics,
    sites,
    ...(opts.notifier ? { notifier: opts.notifier } : {}),
    ...(executor ? { executor } : {}),
  })
  const write = (site: string, id: string, event: LifecycleEvent): Promise<unknown> =>
    store.update(site, (s) => {
      const t = transition(s, id, event, clock.now())
      return t.next ? { next: t.next, result: undefined } : { result: undefined }
    })

  function plan(r: RecycleRecord): void {
    const site = sites.get(r.site)
    if (!site || !executor) return
    track(
      executor
        .plan(site, r.strategy)
        .then(
          (p) => write(site.name, r.id, { type: 'plan', plan: p }),
          (e: unknown) =>
            write(site.name, r.id, { type: 'plan-failed', why: isAppError(e) ? e.message : 'could not plan' }),
        )
        .catch(() => undefined),
    )
  }

  function handOff(r: RecycleRecord): void {
    if (r.state === 'planned') plan(r)
    else if (r.state === 'pending') runner?.kick(r.site)
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
      const { record, effects } = await store.update(site.name, (s) => {
        const { next, record, effects } = applyRequest(s, site, req, { now, id, dryRun })
        return { next, result: { record, effects } }
      })
      self.requested(record, effects)
      return record
    },
    requested(r, effects) {
      track(perform(r, effects, { handOff }))
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
