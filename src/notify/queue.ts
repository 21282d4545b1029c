// Delivery of notices: one bounded queue per receiver, sent in order by one
// worker each, every attempt bounded by the receiver's timeout, retried with
// backoff, counted in kube_recycler_notifications_total. notify() only
// queues: a receiver that hangs or answers 500 delays nothing but its own
// queue, and a full queue drops its oldest notice (counted) rather than grow.
// The URL is never logged (the receiver's name is).

import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { Agent, request } from 'undici'
import { abortableSleep, type Clock } from '../clock.ts'
import type { Counter } from 'prom-client'
import { format } from './format.ts'
import type { NotifyTarget } from './targets.ts'
import type { Notice, Notifier } from './types.ts'

export interface NotifierOptions {
  targets: NotifyTarget[]
  clock: Clock
  logger: Logger
  counter?: Counter<'receiver' | 'result'>
  publicUrl?: string
  /** Per receiver. */
  maxQueue?: number
  /** Attempts per notice, and the first backoff (doubled each time). */
  attempts?: number
  backoffMs?: number
}

interface Lane {
  target: NotifyTarget
  queue: { n: Notice; id: string }[]
  running: Promise<void> | undefined
}

export function createNotifier(opts: NotifierOptions): Notifier {
  const log = opts.logger.child({ component: 'notify' })
  const maxQueue = opts.maxQueue ?? 200
  const attempts = opts.attempts ?? 4
  const backoffMs = opts.backoffMs ?? 1000
  const stop = new AbortController()
  // Own connections: closed with the notifier, never shared with the probes.
  const agent = new Agent({ connections: 4, keepAliveTimeout: 10_000 })
  const lanes: Lane[] = opts.targets.map((target) => ({ target, queue: [], running: undefined }))
  const count = (receiver: string, result: 'sent' | 'failed' | 'retried' | 'dropped'): void =>
    opts.counter?.inc({ receiver, result })

  async function attempt(t: NotifyTarget, n: Notice, id: string): Promise<string | undefined> {
    const out = format(t, n, { now: opts.clock.now(), id, ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}) })
    const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(t.timeoutMs)])
    try {
      const res = await request(t.url, {
        method: 'POST',
        body: out.body,
        headers: out.headers,
        dispatcher: agent,
        signal,
        headersTimeout: t.timeoutMs,
        bodyTimeout: t.timeoutMs,
      })
      await res.body.dump().catch(() => undefined)
      return res.statusCode >= 200 && res.statusCode < 300 ? undefined : `answered ${res.statusCode}`
    } catch (e) {
      return signal.aborted && !stop.signal.aborted
        ? `no answer within ${t.timeoutMs} ms`
        : `could not be reached (${(e as { code?: string }).code ?? (e as Error).name})`
    }
  }

  async function drain(lane: Lane): Promise<void> {
    while (lane.queue.length > 0 && !stop.signal.aborted) {
      const { n, id } = lane.queue.shift()!
      let why: string | undefined
      for (let i = 0; i < attempts && !stop.signal.aborted; i++) {
        if (i > 0) {
          count(lane.target.name, 'retried')
          await abortableSleep(backoffMs * 2 ** (i - 1), stop.signal)
        }
        why = await attempt(lane.target, n, id)
        if (why === undefined) break
      }
      if (why === undefined && !stop.signal.aborted) count(lane.target.name, 'sent')
      else {
        count(lane.target.name, 'failed')
        log.warn(
          { receiver: lane.target.name, event: n.event, site: n.site, notice: id },
          `notification not delivered: the receiver ${why ?? 'was not tried (shutting down)'}`,
        )
      }
    }
  }

  function kick(lane: Lane): void {
    if (lane.running) return
    lane.running = drain(lane).finally(() => {
      lane.running = undefined
      if (lane.queue.length > 0 && !stop.signal.aborted) kick(lane)
    })
  }

  return {
    notify(n) {
      if (stop.signal.aborted) return
      const id = `nt-${randomBytes(6).toString('hex')}`
      for (const lane of lanes) {
        if (lane.target.events !== 'all' && !lane.target.events.has(n.event)) continue
        if (lane.queue.length >= maxQueue) {
          const dropped = lane.queue.shift()!
          count(lane.target.name, 'dropped')
          log.warn(
            { receiver: lane.target.name, event: dropped.n.event, notice: dropped.id },
            'notification queue full: the oldest notice is dropped',
          )
        }
        lane.queue.push({ n, id })
        kick(lane)
      }
    },
    async idle() {
      while (lanes.some((l) => l.running)) await Promise.allSettled(lanes.map((l) => l.running))
    },
    async close() {
      stop.abort()
      await Promise.allSettled(lanes.map((l) => l.running))
      await agent.close().catch(() => undefined)
    },
  }
}
