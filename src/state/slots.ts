// A few state writes in flight at once, the rest waiting here in order.
//
// Each write's deadline (the store's callTimeoutMs) is for the API server's
// answer. Past the HTTP/1.1 connections that carry writes
// (kube/dispatcher.ts), a request waits inside the HTTP client with its
// deadline running: at the start of 5,000 sites, 4,000 first verdicts
// timed out in that queue and were sent again a tick later
// (docs/benchmarks.md). Waiting here, a write is sent when a connection is
// free and its deadline then measures the API server alone.
//
// Two lanes: a routine write (a scheduled probe's verdict, sent again at the
// next tick anyway) waits behind every other (a Jenkins or Alertmanager
// report, an operator's brake, a recycle's step), so a start's thousands of
// first verdicts do not hold up a webhook. Waiting is bounded by the
// caller's signal; each site has at most one write waiting (the store's
// queue per site), so the waiters are bounded by the sites.

export type Lane = 'first' | 'routine'

export interface Slots {
  /** Resolves with the slot's release once one is free; rejects with the signal's reason if it aborts first. */
  acquire(lane: Lane, signal: AbortSignal): Promise<() => void>
  /** Writes waiting for a slot. */
  readonly waiting: number
}

interface Waiter {
  lane: Lane
  grant: (release: () => void) => void
}

export function createSlots(size: number): Slots {
  let inUse = 0
  const lanes: Record<Lane, Set<Waiter>> = { first: new Set(), routine: new Set() }

  function release(): () => void {
    let done = false
    return () => {
      if (done) return
      done = true
      inUse--
      pump()
    }
  }

  function pump(): void {
    while (inUse < size) {
      const next = lanes.first.values().next().value ?? lanes.routine.values().next().value
      if (!next) return
      lanes[next.lane].delete(next)
      inUse++
      next.grant(release())
    }
  }

  return {
    get waiting() {
      return lanes.first.size + lanes.routine.size
    },
    acquire(lane, signal) {
      if (signal.aborted) return Promise.reject(signal.reason as Error)
      // A free slot means nobody waits: every release hands its slot on at once.
      if (inUse < size) {
        inUse++
        return Promise.resolve(release())
      }
      return new Promise((resolve, reject) => {
        const onAbort = (): void => {
          lanes[lane].delete(waiter)
          reject(signal.reason as Error)
        }
        const waiter: Waiter = {
          lane,
          grant: (r) => {
            signal.removeEventListener('abort', onAbort)
            resolve(r)
          },
        }
        lanes[lane].add(waiter)
        signal.addEventListener('abort', onAbort, { once: true })
      })
    },
  }
}
