// Leader election over a coordination.k8s.io Lease: only the leader runs the
// cron probes, so two replicas never probe (and never decide) twice. Any
// replica still takes webhooks; the recycle itself is guarded by the
// workload's own lock. The renew timer is owned and stopped on close, and a
// leader that stops releases the Lease so the next one takes over at once.

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import { Errors, isAppError } from '../errors.ts'
import type { LeaseApi, LeaseRecord } from '../kube/types.ts'

export interface Leader {
  readonly identity: string
  isLeader(): boolean
  start(): void
  /** Stops renewing and releases the Lease if held. */
  stop(): Promise<void>
  /** One acquire-or-renew round (the timer calls it; tests call it directly). */
  round(): Promise<boolean>
}

export function createLeader(opts: { lease: LeaseApi; identity: string; clock: Clock; logger: Logger; durationSeconds?: number; renewEveryMs?: number }): Leader {
  const log = opts.logger.child({ component: 'leader', identity: opts.identity })
  const duration = opts.durationSeconds ?? 15
  const every = opts.renewEveryMs ?? Math.max(1000, Math.floor((duration * 1000) / 3))
  let heldUntil = 0
  let last: LeaseRecord | undefined
  let timer: NodeJS.Timeout | undefined
  let running: Promise<boolean> | undefined
  let stopped = false

  const leading = (): boolean => opts.clock.now() < heldUntil

  /** A Lease call that hangs (an API server that stopped) must not stall the rounds: it counts as failed. */
  const bounded = <T>(p: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined
    return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(Errors.kube(`the Lease call had no answer within ${every} ms`)), every) })])
      .finally(() => clearTimeout(timer))
  }

  async function round(): Promise<boolean> {
    const now = opts.clock.now()
    try {
      const cur = await bounded(opts.lease.read())
      last = cur
      const free = !cur || !cur.holder || cur.renewTime === undefined || now > cur.renewTime + cur.durationSeconds * 1000
      if (cur?.holder === opts.identity || free) {
        const wasLeading = leading()
        last = await bounded(opts.lease.write(opts.identity, cur, now, duration))
        heldUntil = now + duration * 1000
        if (!wasLeading) log.info('became the leader: this replica runs the probes')
        return true
      }
      if (leading()) log.warn({ holder: cur?.holder }, 'lost the lease')
      heldUntil = 0
      return false
    } catch (e) {
      if (isAppError(e) && e.code === Errors.kubeConflict.code) {
        log.debug('another replica wrote the lease first')
      } else {
        log.warn({ err: e }, `lease round failed: ${isAppError(e) ? e.message : 'unexpected error'}`)
      }
      // Keep leading only while the lease we hold has not run out.
      return leading()
    }
  }

  const schedule = (): void => {
    if (stopped) return
    timer = setTimeout(() => {
      running = round().finally(() => { running = undefined; schedule() })
    }, every)
  }

  return {
    identity: opts.identity,
    isLeader: leading,
    round,
    start() {
      stopped = false
      running = round().finally(() => { running = undefined; schedule() })
    },
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running
      if (leading()) {
        try {
          await opts.lease.write(undefined, last, opts.clock.now(), 1)
          log.info('released the lease')
        } catch {
          // Someone else has it already, or the API is gone: it runs out on its own.
        }
      }
      heldUntil = 0
    },
  }
}
