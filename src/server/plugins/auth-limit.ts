// Failed authentication is limited per client, apart from and more strictly
// than the request rate. The rate limit (rate-limit.ts) adds its hook after a route's
// own onRequest hooks, so an auth hook that throws 401 runs first and was
// never counted: 130 wrong tokens a minute got 130 × 401 (issue 11, point
// 2). This hook is the app's own, so it runs before every route hook; a
// client past `max` 401s within `window` gets 429 on every authenticated
// route, without its credentials being looked at, until the window ends.

import type { FastifyInstance } from 'fastify'
import type { Clock } from '../../clock.ts'
import type { RateLimit } from '../../config/types.ts'
import { Errors } from '../../errors.ts'
import { createWindows } from './rate-limit.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route checks credentials: failed attempts count, and a blocked client is refused. */
    authenticated?: boolean
  }
}

/** The pure book: failures per key in fixed windows, with a bounded number of keys. */
export interface FailureBook {
  /** Milliseconds until `key` may try again, or 0. */
  blockedFor(key: string, now: number): number
  fail(key: string, now: number): void
  readonly size: number
}

export function createFailureBook(limit: RateLimit, maxKeys = 10_000): FailureBook {
  const windows = createWindows(limit.windowMs, maxKeys)
  return {
    blockedFor(key, now) {
      const w = windows.peek(key, now)
      return w && w.count >= limit.max ? w.resetAt - now : 0
    },
    fail(key, now) { windows.count(key, now) },
    get size() { return windows.size },
  }
}

export function registerFailedAuthLimit(app: FastifyInstance, limit: RateLimit, clock: Clock): FailureBook {
  const book = createFailureBook(limit)
  // Callback hooks, not async ones: they run on every request, and an async
  // hook costs a promise and a turn of Fastify's hook runner each time.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config.authenticated !== true) return done()
    const ms = book.blockedFor(request.ip, clock.now())
    if (ms <= 0) return done()
    const s = Math.ceil(ms / 1000)
    void reply.header('retry-after', String(s))
    done(Errors.rateLimited(`too many failed authentications from this address (at most ${limit.max} per ${Math.round(limit.windowMs / 1000)} s); retry after ${s} s`))
  })
  // Counted when the 401 is about to be sent, whichever hook or handler
  // raised it (token, Basic, signature, stale timestamp).
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode === 401 && request.routeOptions.config.authenticated === true) book.fail(request.ip, clock.now())
    done(null, payload)
  })
  return book
}
