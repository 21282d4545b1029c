// Leader election over a coordination.k8s.io Lease, as client-go's
// leaderelection package does it. Only the leader runs the cron probes and
// the recycles; any replica takes webhooks.
//
// No replica trusts another's clock. The renewTime written in the Lease is
// for people (kubectl); expiry is judged by this replica's own monotonic
// clock: a Lease held by another is free once it has not changed (holder,
// resourceVersion) for its leaseDurationSeconds since this replica last saw
// it change. A leader counts its term from when it *sent* its last
// successful renewal and steps down when it could not renew within the
// renew deadline, which is shorter than the lease duration: it has stopped
// acting before any other replica may take over, whatever the wall clocks
// of the hosts say, and however long this process was paused.
//
// The round timer is owned and stopped on close; a leader that stops
// releases the Lease so the next one takes over at once.

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import { Errors, isAppError } from '../errors.ts'
import type { LeaseApi, LeaseRecord } from '../kube/types.ts'

export interface Leader {
  readonly identity: string
  isLeader(): boolean
  start(): void
  /** Stops the rounds and releases the Lease if held. */
  stop(): Promise<void>
  /** One acquire-or-renew round (the timer calls it; tests call it directly). */
  round(): Promise<boolean>
  /** When the timer runs the next round, in ms from now. */
  nextRoundMs(): number
}

/** The three durations of an election (ms). */
export interface LeaderTimes {
  /** A Lease unchanged this long (as its holder wrote it, whole seconds) is free for another replica. */
  leaseMs: number
  /** A leader that could not renew within this steps down: shorter than leaseMs. */
  renewDeadlineMs: number
  /** How often a leader renews and a candidate tries. */
  retryMs: number
}

/**
 * The renew deadline and retry period that go with a lease duration: 2/3 and
 * 2/15 of it, client-go's defaults' proportions (15 s, 10 s, 2 s). The gap
 * between the renew deadline and the lease duration is the margin by which a
 * leader that cannot renew stops before another may start.
 */
export function leaderTimes(leaseMs: number): LeaderTimes {
  const lease = Math.ceil(leaseMs / 1000) * 1000
  return { leaseMs: lease, renewDeadlineMs: Math.round((lease * 2) / 3), retryMs: Math.round((lease * 2) / 15) }
}

/** Refuses times under which two replicas could lead at once. */
export function checkLeaderTimes(t: LeaderTimes): void {
  if (!(t.leaseMs > t.renewDeadlineMs)) throw new Error('the lease duration must be longer than the renew deadline')
  if (!(t.renewDeadlineMs > t.retryMs * 1.2))
    throw new Error('the renew deadline must be longer than 1.2 retry periods')
  if (!(t.retryMs > 0)) throw new Error('the retry period must be positive')
}

export interface LeaderOptions {
  lease: LeaseApi
  identity: string
  clock: Clock
  logger: Logger
  /** The lease duration; the renew deadline and retry period follow from it (leaderTimes) unless given. */
  durationSeconds?: number
  renewDeadlineMs?: number
  retryMs?: number
}

/** What this replica last saw of the Lease, and when (monotonic) it last saw it change. */
interface Observed {
  record: LeaseRecord | undefined
  key: string
  at: number
}

const keyOf = (r: LeaseRecord | undefined): string => (r ? `${r.holder ?? ''}\n${r.resourceVersion ?? ''}` : '')

/**
 * Whether the Lease, as observed, is held by another replica and has not run
 * out by this replica's monotonic clock. Pure; the whole election rests on it.
 */
export function heldByAnother(observed: Observed | undefined, identity: string, monotonicNow: number): boolean {
  const r = observed?.record
  if (!r?.holder || r.holder === identity) return false
  return monotonicNow < observed!.at + r.durationSeconds * 1000
}

export function createLeader(opts: LeaderOptions): Leader {
  const log = opts.logger.child({ component: 'leader', identity: opts.identity })
  const defaults = leaderTimes((opts.durationSeconds ?? 15) * 1000)
  const times: LeaderTimes = {
    leaseMs: defaults.leaseMs,
    renewDeadlineMs: opts.renewDeadlineMs ?? defaults.renewDeadlineMs,
    retryMs: opts.retryMs ?? defaults.retryMs,
  }
  checkLeaderTimes(times)
  const durationSeconds = times.leaseMs / 1000
  const mono = (): number => opts.clock.monotonic()
  let observed: Observed | undefined
  /** Monotonic time at which the last renewal that succeeded was sent; undefined when not holding. */
  let renewedAt: number | undefined
  let announced = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<boolean> | undefined
  let stopped = false

  const leading = (): boolean => renewedAt !== undefined && mono() - renewedAt < times.renewDeadlineMs

  function observe(r: LeaseRecord | undefined): void {
    const key = keyOf(r)
    if (observed?.key !== key) observed = { record: r, key, at: mono() }
    else observed.record = r
  }

  /** Says once when leading starts or ends, whichever round notices. */
  function announce(why: string, extra: Record<string, unknown> = {}): void {
    const now = leading()
    if (now && !announced) log.info(times, 'became the leader: this replica runs the probes and the recycles')
    if (!now && announced) log.warn(extra, `stopped leading: ${why}`)
    announced = now
  }

  async function write(prev: LeaseRecord | undefined, signal: AbortSignal): Promise<void> {
    const sent = mono()
    const rec = await opts.lease.write(opts.identity, prev, opts.clock.now(), durationSeconds, signal)
    observe(rec)
    renewedAt = sent
  }

  async function round(): Promise<boolean> {
    // A request that hangs ends at the renew deadline: by then leading() has
    // said no on its own, and the next round starts on time.
    const signal = AbortSignal.timeout(times.renewDeadlineMs)
    try {
      if (leading() && observed?.record?.holder === opts.identity) {
        // The usual renewal: one write on the copy we wrote last. A conflict
        // means someone else wrote the Lease: read it and judge again.
        try {
          await write(observed.record, signal)
          announce('renewed')
          return true
        } catch (e) {
          if (!(isAppError(e) && e.code === Errors.kubeConflict.code)) throw e
        }
      }
      const cur = await opts.lease.read(signal)
      observe(cur)
      if (heldByAnother(observed, opts.identity, mono())) {
        renewedAt = undefined
        announce('another replica holds the Lease', { holder: cur?.holder })
        return false
      }
      // Free, released, run out by our clock, or ours: the write's
      // precondition lets one replica win.
      await write(cur, signal)
      announce('renewed')
      return true
    } catch (e) {
      if (isAppError(e) && e.code === Errors.kubeConflict.code) {
        log.debug('another replica wrote the Lease first')
      } else {
        log.warn({ err: e }, `lease round failed: ${isAppError(e) ? e.message : 'unexpected error'}`)
      }
      announce(`could not renew the Lease within the renew deadline (${times.renewDeadlineMs} ms)`)
      return leading()
    }
  }

  function nextRoundMs(): number {
    // A candidate watching a held Lease looks again the moment it would run
    // out, not up to a retry period later.
    if (!leading() && observed && heldByAnother(observed, opts.identity, mono())) {
      const left = observed.at + (observed.record?.durationSeconds ?? 0) * 1000 - mono()
      return Math.max(1, Math.min(times.retryMs, Math.ceil(left) + 1))
    }
    return times.retryMs
  }

  const schedule = (): void => {
    if (stopped) return
    timer = setTimeout(() => {
      running = round().finally(() => {
        running = undefined
        schedule()
      })
    }, nextRoundMs())
  }

  return {
    identity: opts.identity,
    isLeader: leading,
    round,
    nextRoundMs,
    start() {
      stopped = false
      running = round().finally(() => {
        running = undefined
        schedule()
      })
    },
    async stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      await running
      if (leading() && observed?.record) {
        try {
          await opts.lease.write(
            undefined,
            observed.record,
            opts.clock.now(),
            1,
            AbortSignal.timeout(times.renewDeadlineMs),
          )
          log.info('released the Lease')
        } catch {
          // Someone else has it already, or the API is gone: it runs out on its own.
        }
      }
      renewedAt = undefined
      announced = false
    },
  }
}
