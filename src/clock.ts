// Time is a parameter: cooldowns, windows and schedules take a Clock so tests
// can move time without waiting for it.

import { performance } from 'node:perf_hooks'

export interface Clock {
  /** Wall-clock time (ms since the epoch): what is recorded and shown. It may jump, and differs between hosts. */
  now(): number
  /**
   * Monotonic time (ms from an arbitrary origin, this process only): what a
   * duration is measured with. Never jumps with NTP or a skewed host clock,
   * and means nothing to another process.
   */
  monotonic(): number
}

export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() }

/**
 * A clock tests move by hand. `advance` moves both readings, as time passing
 * does; `set` moves only the wall clock, as a clock step (NTP, an operator) does.
 */
export function manualClock(
  start = Date.parse('2026-01-01T00:00:00Z'),
): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start
  let m = 0
  return {
    now: () => t,
    monotonic: () => m,
    advance: (ms: number) => {
      t += ms
      m += ms
    },
    set: (ms: number) => {
      t = ms
    },
  }
}

/** A wait that ends early when `signal` aborts (shutdown never waits it out). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
