// One connection to the API server per process. client-node 2.0 builds a
// new undici Agent for every request, so every call is a new TCP and TLS
// handshake (GET ~15 ms instead of ~7 ms on the test control plane), and
// every watch holds a connection of its own. Here one Agent, speaking HTTP/2
// where the API server offers it (it does, over TLS), carries every request
// and every watch of the process, as client-go's transport does; and it
// PINGs the connection, so one whose peer stopped answering is closed and
// the next request connects afresh (undici resets a session whose PING is
// still unacknowledged at the next one).
//
// Requests with a body (create, update, patch, evict, delete) go over a few
// HTTP/1.1 connections instead. With them on the HTTP/2 session, a service
// of 5,000 sites whose /status was read every 250 ms at start hung within
// seconds, every time (Node 24.16, 24.21 and 24.22.3): its main thread
// never left node's Http2Session::SendPendingData, which queued empty DATA
// frames of one request stream without end, 40 MB a second, until its
// memory ran out. Reads and watches on HTTP/2 and the writes
// on HTTP/1.1, the same start ran on (docs/benchmarks.md). Lease writes have
// a connection of their own: at that start a thousand first verdicts wait
// in the write pool's queue for seconds, and a leader's renewal behind them
// would miss its deadline (the chart's FlowSchema keeps the API server's
// side fair; this keeps ours).
//
// The Agent is kept while its TLS options (CA, client certificate and key,
// server name, verification) stay the same. An exec credential plugin may
// hand out a new client certificate when the last expires: then a new Agent
// is made and the old one closed once its requests are done.
//
// KubeConfig's createDispatcher and createDispatcherOptions are private in
// its types: they are wrapped on the instance, nowhere else. A proxy, a
// SOCKS proxy, or no TLS option at all keeps client-node's own choice (and
// its requests are not counted).
//
// Every request through the shared Agent is counted by verb, resource and
// answer (client-go's rest_client_requests_total): what the service costs
// the API server is the operator's to see, per replica, not a guess.

import { createHash } from 'node:crypto'
import { Agent, Dispatcher } from 'undici'
import type { KubeConfig } from './api.ts'
import type { KubeRequestCount } from './types.ts'

interface DispatcherOptions {
  type: string
  connect?: Record<string, unknown>
}

interface Patchable {
  createDispatcher(cluster: unknown, options: unknown): unknown
  createDispatcherOptions(cluster: unknown, options: unknown): DispatcherOptions
}

/** A digest of the TLS options: equal digests, same certificates and settings. */
function keyOf(connect: Record<string, unknown> = {}): string {
  const h = createHash('sha256')
  for (const name of Object.keys(connect).sort()) {
    const v = connect[name]
    h.update(`${name}\0`)
    if (Buffer.isBuffer(v) || typeof v === 'string') h.update(v)
    else h.update(JSON.stringify(v) ?? 'undefined')
    h.update('\0')
  }
  return h.digest('hex')
}

/** HTTP/1.1 connections for the writes: at rest one write a minute, at start each site's first verdict. */
export const WRITE_CONNECTIONS = 8

/** GET (reads and watches) over the HTTP/2 Agent, Lease writes over their own connection, every other write over the HTTP/1.1 pool. */
class ReadsAndWrites extends Dispatcher {
  private readonly reads: Agent
  private readonly writes: Agent
  private readonly leases: Agent
  constructor(reads: Agent, writes: Agent, leases: Agent) {
    super()
    this.reads = reads
    this.writes = writes
    this.leases = leases
  }
  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const to =
      opts.method === 'GET' || opts.method === 'HEAD'
        ? this.reads
        : resourceOf(opts.path ?? '') === 'leases'
          ? this.leases
          : this.writes
    return to.dispatch(opts, handler)
  }
  private all(): Agent[] {
    return [this.reads, this.writes, this.leases]
  }
  override close(): Promise<void>
  override close(callback: () => void): void
  override close(callback?: () => void): Promise<void> | void {
    const done = Promise.all(this.all().map((a) => a.close())).then(() => undefined)
    if (!callback) return done
    void done.then(callback, callback)
  }
  override destroy(): Promise<void>
  override destroy(err: Error | null): Promise<void>
  override destroy(callback: () => void): void
  override destroy(err: Error | null, callback: () => void): void
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null)
    const callback = typeof a === 'function' ? a : b
    const done = Promise.all(this.all().map((a) => a.destroy(err))).then(() => undefined)
    if (!callback) return done
    void done.then(callback, callback)
  }
}

export interface SharedPool {
  /** Agents made so far (a new one only when the TLS options changed). */
  readonly made: number
  /** Requests sent so far through the shared Agent, by verb, resource and answer. */
  requests(): KubeRequestCount[]
  /** Milliseconds since a request through it was last answered with a 2xx; undefined: none yet. */
  answeredAgoMs(): number | undefined
  /** Closes the current Agent once its requests are done. */
  close(): void
}

export function shareOneConnectionPool(kc: KubeConfig, opts: { pingIntervalMs: number }): SharedPool {
  const self = kc as unknown as Patchable
  const own = self.createDispatcher.bind(kc)
  let current: { key: string; agent: Dispatcher; counted: Dispatcher } | undefined
  let made = 0
  let answeredAt: number | undefined
  const counts = new Map<string, KubeRequestCount>()
  const count = (verb: string, resource: string, code: string): void => {
    if (code.startsWith('2')) answeredAt = performance.now()
    const key = `${verb} ${resource} ${code}`
    const c = counts.get(key)
    if (c) c.count++
    else counts.set(key, { verb, resource, code, count: 1 })
  }
  self.createDispatcher = (cluster, options) => {
    const o = self.createDispatcherOptions(cluster, options)
    if (o.type !== 'agent') return own(cluster, options)
    const key = keyOf(o.connect)
    if (current?.key !== key) {
      const old = current
      const agent = new ReadsAndWrites(
        new Agent({ connect: o.connect ?? {}, allowH2: true, h2Options: { pingInterval: opts.pingIntervalMs } }),
        new Agent({ connect: o.connect ?? {}, allowH2: false, connections: WRITE_CONNECTIONS }),
        new Agent({ connect: o.connect ?? {}, allowH2: false, connections: 1 }),
      )
      current = { key, agent, counted: agent.compose(countingInterceptor(count)) }
      made++
      void old?.agent.close().catch(() => undefined)
    }
    return current.counted
  }
  return {
    get made() {
      return made
    },
    requests() {
      return [...counts.values()].map((c) => ({ ...c }))
    },
    answeredAgoMs() {
      return answeredAt === undefined ? undefined : performance.now() - answeredAt
    },
    close() {
      void current?.agent.close().catch(() => undefined)
    },
  }
}

/**
 * The resource a request is about, from its path: `/api/v1/namespaces/ns/pods/x`
 * and `/apis/apps/v1/namespaces/ns/deployments/x/status` are `pods` and
 * `deployments`; `/version` is `version`. Only plurals the service's code
 * writes reach this position, so the label stays bounded.
 */
export function resourceOf(path: string): string {
  const segs = (path.split('?')[0] ?? '').split('/').filter(Boolean)
  const ns = segs.indexOf('namespaces')
  if (ns >= 0) return segs[ns + 2] ?? 'namespaces'
  const start = segs[0] === 'api' ? 2 : segs[0] === 'apis' ? 3 : 0
  return segs[start] ?? segs[0] ?? 'unknown'
}

/** The verb a request counts as: its method, or WATCH for `?watch=true` (a watch is one request however long it runs). */
export function verbOf(method: string, path: string): string {
  return method === 'GET' && /[?&]watch=(true|1)(&|$)/.test(path) ? 'WATCH' : method
}

type Count = (verb: string, resource: string, code: string) => void

function countingInterceptor(count: Count): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => {
    const path = opts.path ?? ''
    const verb = verbOf(opts.method ?? 'GET', path)
    const resource = resourceOf(path)
    let counted = false
    const once = (code: string): void => {
      if (counted) return
      counted = true
      count(verb, resource, code)
    }
    const h = handler as Dispatcher.DispatchHandler
    return dispatch(opts, {
      onRequestStart: (c, ctx) => h.onRequestStart?.(c, ctx),
      onRequestUpgrade: (c, code, headers, socket) => h.onRequestUpgrade?.(c, code, headers, socket),
      onResponseStart: (c, code, headers, message) => {
        // 1xx answers come before the final one: the final one counts.
        if (code >= 200) once(String(code))
        return h.onResponseStart?.(c, code, headers, message)
      },
      onResponseData: (c, chunk) => h.onResponseData?.(c, chunk),
      onResponseEnd: (c, trailers) => h.onResponseEnd?.(c, trailers),
      onResponseError: (c, err) => {
        // No answer at all (refused, reset, timed out): counted as `error`.
        once('error')
        h.onResponseError?.(c, err)
      },
    })
  }
}
