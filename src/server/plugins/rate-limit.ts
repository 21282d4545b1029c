// Requests per client per route, in fixed windows: `config.rateLimit` on a
// route (a configured RateLimit, or false for none). The hook
// is added after the route's own onRequest hooks (authentication answers
// first), and is a callback hook: @fastify/rate-limit, which this replaces,
// ran an async hook with three awaits and set three headers on every answer,
// a measurable share of a webhook delivery's CPU (docs/benchmarks.md).
// A refused request gets 429 `{ code, message }` with Retry-After and the
// X-RateLimit-* headers; an accepted one gets no extra header.
//
// Clients are keyed by address (behind trusted proxies, the client's:
// limits.ts), an IPv6 address by its /64, which one host can fill with
// addresses at will. Each route keeps at most `maxKeys` clients (expired
// windows go first, then the oldest), so a scan of many addresses cannot
// grow the memory.

import { isIPv6 } from 'node:net'
import type { FastifyInstance, onRequestHookHandler } from 'fastify'
import type { Clock } from '../../clock.ts'
import type { RateLimit } from '../../config/types.ts'
import { Errors } from '../../errors.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Requests per client per route; false: none (the service's probes). */
    rateLimit?: RateLimit | false
  }
}

/** Counts per key in fixed windows, with at most `maxKeys` keys (expired windows go first, then the oldest). */
export interface Windows {
  /** The key's window if it has not ended. */
  peek(key: string, now: number): { count: number; resetAt: number } | undefined
  /** Counts one for `key`, in a new window if its last one ended. */
  count(key: string, now: number): { count: number; resetAt: number }
  readonly size: number
}

export function createWindows(windowMs: number, maxKeys: number): Windows {
  const windows = new Map<string, { count: number; resetAt: number }>()
  return {
    peek(key, now) {
      const w = windows.get(key)
      return w && now < w.resetAt ? w : undefined
    },
    count(key, now) {
      let w = windows.get(key)
      if (!w || now >= w.resetAt) {
        if (w) windows.delete(key)
        if (windows.size >= maxKeys) {
          // Map order is insertion order: the first is the oldest.
          for (const [k, v] of windows) if (now >= v.resetAt) windows.delete(k)
          if (windows.size >= maxKeys) windows.delete(windows.keys().next().value!)
        }
        w = { count: 0, resetAt: now + windowMs }
        windows.set(key, w)
      }
      w.count++
      return w
    },
    get size() { return windows.size },
  }
}

/** The pure book of one route: requests per key in fixed windows, at most `maxKeys` keys. */
export interface RequestBook {
  /** Counts one request of `key`; how many are left in its window (negative: over), and when the window ends. */
  take(key: string, now: number): { left: number; resetAt: number }
  readonly size: number
}

export function createRequestBook(limit: RateLimit, maxKeys = 5000): RequestBook {
  const windows = createWindows(limit.windowMs, maxKeys)
  return {
    take(key, now) {
      const w = windows.count(key, now)
      return { left: limit.max - w.count, resetAt: w.resetAt }
    },
    get size() { return windows.size },
  }
}

/** The key of a client address: IPv4 as is (also when IPv4-mapped), IPv6 by its first 64 bits. */
export function clientKey(ip: string): string {
  // No ':' is IPv4 (the common case): no IPv6 parse on every request.
  if (!ip.includes(':') || !isIPv6(ip)) return ip
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1]
  if (mapped) return mapped
  const [head, tail] = ip.toLowerCase().split('::') as [string, string | undefined]
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  // An embedded IPv4 tail (a.b.c.d) is the last 32 bits: past the /64 anyway.
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`
}

export function registerRateLimit(app: FastifyInstance, clock: Clock): void {
  app.addHook('onRoute', (route) => {
    const limit = route.config?.rateLimit
    if (!limit) return
    const book = createRequestBook(limit)
    const windowS = Math.round(limit.windowMs / 1000)
    const hook: onRequestHookHandler = (request, reply, done) => {
      const now = clock.now()
      const { left, resetAt } = book.take(clientKey(request.ip), now)
      if (left >= 0) return done()
      const s = Math.max(1, Math.ceil((resetAt - now) / 1000))
      void reply.headers({ 'retry-after': String(s), 'x-ratelimit-limit': String(limit.max), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(s) })
      done(Errors.rateLimited(`too many requests: at most ${limit.max} per ${windowS} s; retry after ${s} s`))
    }
    const own = route.onRequest
    route.onRequest = own === undefined ? [hook] : [...(Array.isArray(own) ? own : [own]), hook]
  })
}
