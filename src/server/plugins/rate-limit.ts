// Requests per client per route, in fixed windows: `config.rateLimit` on a
// route (a configured RateLimit, or false for none: the service's probes);
// a route that does not say gets service.readRateLimit for GET and HEAD
// (/docs and its files among them) and service.rateLimit otherwise. A HEAD
// request counts in its GET's budget (Fastify makes a HEAD route for each
// GET: one book for both). The hook is added after the route's own and its
// scope's onRequest hooks (credentials are checked first), and is a
// callback hook (no promise per request). A refused request gets 429
// `{ code, message }` with Retry-After and the X-RateLimit-* headers; an
// accepted one gets no extra header.
//
// Clients are keyed by address (behind trusted proxies, the client's:
// limits.ts), an IPv6 address by its /64, which one host can fill with
// addresses at will. Each route keeps at most `maxKeys` clients (ended
// windows go first, then the oldest), so a scan of many addresses cannot
// grow the memory, and making room costs O(1) amortised, not a scan of the
// table per new client.

import { isIPv6 } from 'node:net'
import type { FastifyInstance, onRequestHookHandler } from 'fastify'
import type { Clock } from '../../clock.ts'
import type { RateLimit, ServiceConfig } from '../../config/types.ts'
import { Errors } from '../../errors.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Requests per client per route; false: none (the service's probes); absent: the service's default for the method. */
    rateLimit?: RateLimit | false
  }
}

/** Counts per key in fixed windows, with at most `maxKeys` keys (ended windows go first, then the oldest). */
export interface Windows {
  /** The key's window if it has not ended. */
  peek(key: string, now: number): { count: number; resetAt: number } | undefined
  /** Counts one for `key`, in a new window if its last one ended. */
  count(key: string, now: number): { count: number; resetAt: number }
  readonly size: number
}

interface Window {
  key: string
  count: number
  resetAt: number
}

export function createWindows(windowMs: number, maxKeys: number): Windows {
  const windows = new Map<string, Window>()
  // Every window made, in the order made. All are windowMs long and made in
  // clock order, so they end in this order: the ended ones are at the head.
  // An entry whose key has a newer window is stale and is skipped. Each
  // entry is passed once, so making room is O(1) amortised.
  let order: Window[] = []
  let head = 0
  const dropEnded = (now: number): void => {
    while (head < order.length) {
      const w = order[head]!
      if (windows.get(w.key) === w) {
        if (now < w.resetAt) break
        windows.delete(w.key)
      }
      head++
    }
    if (head > 1024 && head * 2 > order.length) {
      order = order.slice(head)
      head = 0
    }
  }
  return {
    peek(key, now) {
      const w = windows.get(key)
      return w && now < w.resetAt ? w : undefined
    },
    count(key, now) {
      let w = windows.get(key)
      if (!w || now >= w.resetAt) {
        dropEnded(now)
        if (windows.size >= maxKeys) {
          // Still full: the oldest window goes (the head is live after dropEnded).
          windows.delete(order[head]!.key)
          head++
        }
        w = { key, count: 0, resetAt: now + windowMs }
        windows.set(key, w)
        order.push(w)
      }
      w.count++
      return w
    },
    get size() {
      return windows.size
    },
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
    get size() {
      return windows.size
    },
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
  const groups =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/** The book a route counts in: HEAD shares its GET's. */
function bookKey(method: string | string[], url: string): string {
  const methods = [
    ...new Set((Array.isArray(method) ? method : [method]).map((m) => (m === 'HEAD' ? 'GET' : m))),
  ].sort()
  return `${methods.join(',')} ${url}`
}

export function registerRateLimit(
  app: FastifyInstance,
  clock: Clock,
  service: Pick<ServiceConfig, 'rateLimit' | 'readRateLimit'>,
): void {
  const books = new Map<string, RequestBook>()
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const reads = methods.every((m) => m === 'GET' || m === 'HEAD')
    const limit = route.config?.rateLimit ?? (reads ? service.readRateLimit : service.rateLimit)
    if (!limit) return
    const key = bookKey(route.method, route.url)
    let book = books.get(key)
    if (!book) books.set(key, (book = createRequestBook(limit)))
    const own = book
    const windowS = Math.round(limit.windowMs / 1000)
    const hook: onRequestHookHandler = (request, reply, done) => {
      const now = clock.now()
      const { left, resetAt } = own.take(clientKey(request.ip), now)
      if (left >= 0) return done()
      const s = Math.max(1, Math.ceil((resetAt - now) / 1000))
      void reply.headers({
        'retry-after': String(s),
        'x-ratelimit-limit': String(limit.max),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(s),
      })
      done(Errors.rateLimited(`too many requests: at most ${limit.max} per ${windowS} s; retry after ${s} s`))
    }
    const routeHooks = route.onRequest
    route.onRequest =
      routeHooks === undefined ? [hook] : [...(Array.isArray(routeHooks) ? routeHooks : [routeHooks]), hook]
  })
}
