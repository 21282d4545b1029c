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

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route checks credentials: failed attempts count, and a blocked client is refused. */
    authenticated?: boolean
  }
}

interface Window { failures: number; resetAt: number }

/** The pure book: failures per key in fixed windows, with a bounded number of keys. */
export interface FailureBook {
  /** Milliseconds until `key` may try again, or 0. */
  blockedFor(key: string, now: number): number
  fail(key: string, now: number): void
  readonly size: number
}

export function createFailureBook(limit: RateLimit, maxKeys = 10_000): FailureBook {
  const windows = new Map<string, Window>()
  return {
    blockedFor(key, now) {
      const w = windows.get(key)
      if (!w || now >= w.resetAt) return 0
      return w.failures >= limit.max ? w.resetAt - now : 0
    },
    fail(key, now) {
      let w = windows.get(key)
      if (!w || now >= w.resetAt) {
        windows.delete(key)
        if (windows.size >= maxKeys) {
          // Expired windows first; then the oldest (Map order is insertion order).
          for (const [k, v] of windows) if (now >= v.resetAt) windows.delete(k)
          if (windows.size >= maxKeys) windows.delete(windows.keys().next().value!)
        }
        w = { failures: 0, resetAt: now + limit.windowMs }
        windows.set(key, w)
      }
      w.failures++
    },
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
