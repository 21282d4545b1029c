// Silences in Alertmanager while kube-recycler repairs a site, so nobody is
// paged for what is being repaired (sites with `alertmanager.silence: true`).
//
// - hold(): the replica whose intake write requested the recycle (one in the
//   whole service: the intake counts a delivery once) makes the silence,
//   matching the alert's labels exactly, ending at most recycle.timeout
//   later, and records it in the site's state.
// - The leader ends what holds.ts says must end: on every change of a site's
//   state (the record moved on, the site recovered) and on a sweep, so a
//   silence made under an earlier leader, or whose expiry failed, is still
//   ended. Alertmanager ends it anyway at endsAt: a lost replica can leave
//   one behind for at most the recycle's timeout.

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { Config, SiteConfig } from '../config/types.ts'
import { isAppError } from '../errors.ts'
import type { RecycleRecord, SilenceHold } from '../state/schema.ts'
import type { StateStore } from '../state/store.ts'
import type { AlertmanagerApi } from './api.ts'
import { addHold, dropHold, judgeHold, verifyWindowMs } from './holds.ts'

export interface Silencer {
  /**
   * Silences the alert that requested `record` while the recycle runs.
   * Never throws: a silence that cannot be made is logged, and the alert pages as it would have.
   */
  hold(
    site: SiteConfig,
    record: RecycleRecord,
    labels: Record<string, string>,
  ): Promise<{ id: string } | { error: string } | undefined>
  start(): void
  stop(): Promise<void>
}

export interface SilencerOptions {
  config: Config
  api: AlertmanagerApi
  store: StateStore
  clock: Clock
  logger: Logger
  isLeader(): boolean
  sweepEveryMs?: number
}

export function createSilencer(opts: SilencerOptions): Silencer {
  const { config, api, store, clock } = opts
  const log = opts.logger.child({ component: 'silences' })
  const busy = new Set<string>()
  const inflight = new Set<Promise<unknown>>()
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p)
    void p.finally(() => inflight.delete(p)).catch(() => undefined)
    return p
  }

  async function end(site: string, hold: SilenceHold, expire: boolean, why: string): Promise<void> {
    if (expire) {
      const r = await api.expireSilence(hold.id)
      log.info({ site, silence: hold.id, recycle: hold.recycle, result: r }, `silence ended: ${why}`)
    }
    await store.update(site, (s) => {
      const next = dropHold(s, hold.id)
      return next === s ? { result: undefined } : { next, result: undefined }
    })
  }

  /** Ends, for one site, every hold that must end (leader only; one pass per hold at a time). */
  function reconcile(site: string): void {
    if (stopped || !opts.isLeader()) return
    const s = store.get(site)
    const cfg = config.sites.find((x) => x.name === site)
    const grace = cfg ? verifyWindowMs(cfg.recycle.verify) : 0
    for (const hold of s.silences ?? []) {
      const v = judgeHold(s, hold, clock.now(), grace)
      if (v.action === 'keep' || busy.has(hold.id)) continue
      busy.add(hold.id)
      void track(end(site, hold, v.action === 'expire', v.action === 'expire' ? v.why : 'past its end'))
        .catch((e: unknown) =>
          log.warn(
            { site, silence: hold.id, code: isAppError(e) ? e.code : undefined, err: e },
            'could not end the silence; the next sweep tries again (it ends by itself at its endsAt)',
          ),
        )
        .finally(() => busy.delete(hold.id))
    }
  }

  return {
    async hold(site, record, labels) {
      if (!site.alertmanager?.silence) return undefined
      const now = clock.now()
      const endsAt = new Date(now + site.recycle.timeoutMs).toISOString()
      const alert = labels.alertname
      const link = config.service.publicUrl ? ` ${config.service.publicUrl}/recycles/${record.id}` : ''
      let id: string
      try {
        id = await track(
          api.createSilence({
            matchers: Object.entries(labels).map(([name, value]) => ({ name, op: '=', value })),
            startsAt: new Date(now).toISOString(),
            endsAt,
            createdBy: 'kube-recycler',
            comment: `kube-recycler is recycling site ${site.name} (${record.id}); this silence ends when the site recovers, at once if the recycle does not help, and at the latest at the recycle's timeout.${link}`,
          }),
        )
      } catch (e) {
        const error = isAppError(e) ? e.message : 'the silence could not be made'
        log.warn(
          { site: site.name, recycle: record.id, code: isAppError(e) ? e.code : undefined },
          `no silence while recycling: ${error}`,
        )
        return { error }
      }
      try {
        await track(
          store.update(site.name, (s) => ({
            next: addHold(s, { id, recycle: record.id, endsAt, ...(alert ? { alert } : {}) }),
            result: undefined,
          })),
        )
      } catch (e) {
        // Not recorded, so no leader could end it: end it now.
        log.warn(
          { site: site.name, silence: id, code: isAppError(e) ? e.code : undefined },
          'the silence could not be recorded; expiring it',
        )
        await track(api.expireSilence(id)).catch(() => undefined)
        return { error: "the silence could not be recorded in the service's state" }
      }
      log.info({ site: site.name, recycle: record.id, silence: id, endsAt, alert }, 'silence held while recycling')
      return { id }
    },
    start() {
      store.onChange((site, s) => {
        if (s.silences?.length) reconcile(site)
      })
      const every = opts.sweepEveryMs ?? 5000
      timer = setInterval(() => {
        for (const site of config.sites) if (store.get(site.name).silences?.length) reconcile(site.name)
      }, every)
      timer.unref()
    },
    async stop() {
      stopped = true
      if (timer) clearInterval(timer)
      timer = undefined
      await Promise.allSettled([...inflight])
      await api.close()
    },
  }
}
