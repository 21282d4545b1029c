// Defences below the routes: how long a client may take to send a request,
// how many connections one client may hold, which proxies may name the
// client, and what a request that never reaches a route is answered.
//
// Node's own defaults are generous (no whole-request timeout under Fastify,
// which sets requestTimeout to 0; no cap per address), so a client sending
// a body at 1 byte/s could hold a connection forever. Errors raised before
// routing (a bad request line, headers too large, a bad URL) are answered
// in our shape without echoing the path.
//
// The client: behind trusted proxies, the right-most hop of X-Forwarded-For
// that is not a trusted proxy (Fastify's trustProxy walks the list from the
// right); it must be an IP address, or the request is refused, since every
// per-client limit keys on it and a made-up string would be a fresh key per
// request. An IPv6 client is its /64 (clientKey) for every limit.

import { BlockList, isIP, isIPv6, type Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ServiceConfig } from '../../config/types.ts'
import { Errors, type AppError } from '../../errors.ts'
import { clientKey } from './rate-limit.ts'

/** The trusted proxies as a BlockList (address or CIDR entries, validated at config load). */
export function proxyList(entries: readonly string[]): BlockList {
  const list = new BlockList()
  for (const entry of entries) {
    const [addr, bits] = entry.split('/') as [string, string | undefined]
    const type = isIPv6(addr) ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(addr, type)
    else list.addSubnet(addr, Number(bits), type)
  }
  return list
}

function isTrusted(list: BlockList, address: string | undefined): boolean {
  if (!address || isIP(address) === 0) return false
  // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (v4) return list.check(v4, 'ipv4')
  return list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4')
}

/** A raw HTTP/1.1 answer `{ code, message }` that closes the connection. */
export function rawErrorResponse(e: AppError): string {
  const body = JSON.stringify({ code: e.code, message: e.message })
  const reason =
    {
      400: 'Bad Request',
      408: 'Request Timeout',
      414: 'URI Too Long',
      429: 'Too Many Requests',
      431: 'Request Header Fields Too Large',
    }[e.statusCode] ?? 'Bad Request'
  return `HTTP/1.1 ${e.statusCode} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
}

/** What Node's HTTP parser (or its timers) raise before a request exists, as our error. Never echoes input. */
export function clientError(err: NodeJS.ErrnoException): AppError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return Errors.requestTimeout('the request (headers and body) did not arrive in time; the connection is closed')
    case 'HPE_HEADER_OVERFLOW':
      return Errors.headersTooLarge('the request line and headers are larger than allowed')
    default:
      return Errors.badRequest('the request is not valid HTTP/1.1')
  }
}

/** Fastify's errors raised before a route is chosen, as our error. Never echoes the path. */
export function frameworkError(err: FastifyError): AppError {
  switch (err.code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return Errors.uriTooLong('a path segment of the URL is too long')
    case 'FST_ERR_BAD_URL':
      return Errors.badRequest('the URL is not valid (bad percent-encoding)')
    default:
      return Errors.badRequest('the request could not be routed')
  }
}

export interface LimitOptions {
  connectionTimeout: number
  keepAliveTimeout: number
  requestTimeout: number
  http: { headersTimeout: number; connectionsCheckingInterval: number }
  trustProxy: false | ((address: string, hop: number) => boolean)
  clientErrorHandler: (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket) => void
  frameworkErrors: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => void
}

/** Fastify constructor options for the timeouts, the trusted proxies and the pre-routing errors. */
export function serverLimitOptions(service: ServiceConfig): LimitOptions {
  const t = service.timeouts
  const trusted = service.trustProxy.length > 0 ? proxyList(service.trustProxy) : undefined
  return {
    // An idle socket (nothing sent either way) is closed after this.
    connectionTimeout: t.idleMs,
    keepAliveTimeout: t.keepAliveMs,
    // The whole request, body included: a trickled body is cut.
    requestTimeout: t.requestMs,
    http: {
      headersTimeout: t.headersMs,
      // How often Node checks the two timeouts above (its default is 30 s).
      connectionsCheckingInterval: Math.min(1000, t.headersMs),
    },
    // Only the listed proxies may say who the client is (X-Forwarded-For);
    // the rate limits key on that client address.
    trustProxy: trusted ? (address: string) => isTrusted(trusted, address) : false,
    clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return
      const e = clientError(err)
      this.log.info({ code: e.code, err: err.code }, e.message)
      if (socket.writable) socket.end(rawErrorResponse(e))
      socket.destroy()
    },
    frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
      const e = frameworkError(err)
      request.log.info({ code: e.code, err: err.code }, e.message)
      void reply
        .status(e.statusCode)
        .header('connection', 'close')
        .type('application/json')
        .send({ code: e.code, message: e.message })
    },
  }
}

/**
 * With trusted proxies, the client they name must be an IP address: 400
 * `{ code, message }` (the value is not echoed) before any limit keys on it.
 * Without, the client is the socket's peer, always an address.
 */
export function requireClientAddress(app: FastifyInstance, service: ServiceConfig): void {
  if (service.trustProxy.length === 0) return
  app.addHook('onRequest', (request, _reply, done) => {
    if (isIP(request.ip) !== 0) return done()
    done(
      Errors.badRequest(
        'X-Forwarded-For: the client address (the right-most hop not a trusted proxy) is not an IP address',
      ),
    )
  })
}

/**
 * At most `max` open connections per client (an IPv6 one: its /64); one
 * more is answered 429 and closed before it can send anything. Trusted
 * proxies are exempt: behind an ingress every connection comes from it.
 */
export function limitConnectionsPerClient(app: FastifyInstance, service: ServiceConfig): void {
  const max = service.maxConnectionsPerClient
  const trusted = proxyList(service.trustProxy)
  const open = new Map<string, number>()
  app.server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress
    if (address === undefined || isTrusted(trusted, address)) return
    const key = clientKey(address)
    const n = open.get(key) ?? 0
    if (n >= max) {
      app.log.warn({ client: key, open: n }, 'too many connections from one client: refused')
      socket.end(rawErrorResponse(Errors.rateLimited(`too many open connections from this client (at most ${max})`)))
      socket.destroySoon()
      return
    }
    open.set(key, n + 1)
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1
      if (left <= 0) open.delete(key)
      else open.set(key, left)
    })
  })
}
