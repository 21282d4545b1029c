// The book of failed authentications per client, in fixed windows, with a
// bounded number of clients. The authenticated scopes (authenticated.ts)
// keep it: a client past `max` failures within `window` gets 429 for its
// further failures until the window ends; a request whose credentials
// verify is served whatever the book says.

import type { RateLimit } from '../../config/types.ts'
import { createWindows } from './rate-limit.ts'

/** The pure book: failures per key in fixed windows, with a bounded number of keys. */
export interface FailureBook {
  /** Milliseconds until `key`'s failures are answered 401 again, or 0. */
  blockedFor(key: string, now: number): number
  fail(key: string, now: number): void
  readonly limit: RateLimit
  readonly size: number
}

export function createFailureBook(limit: RateLimit, maxKeys = 10_000): FailureBook {
  const windows = createWindows(limit.windowMs, maxKeys)
  return {
    blockedFor(key, now) {
      const w = windows.peek(key, now)
      return w && w.count >= limit.max ? w.resetAt - now : 0
    },
    fail(key, now) {
      windows.count(key, now)
    },
    limit,
    get size() {
      return windows.size
    },
  }
}
