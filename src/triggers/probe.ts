// The probe engine: runs a site's HTTP checks with undici and says, in plain
// words, which condition failed. Every outcome is a CheckResult; nothing here
// throws at the caller or leaves a socket behind after close().
//
// Shape of one probe (the hot path, benchmarked against blackbox_exporter and
// a bare undici loop):
//   runCheck ─ gate (bounded concurrency, FIFO) ─ compile(check) once, cached
//   per check object ─ agent.dispatch() with our own handler (no stream, no
//   per-chunk promise) ─ one timer bounds headers AND body ─ evaluate ─ result.
//
// Connections: one undici Agent per distinct TLS setting (verify on/off, CA
// file), each keeping per-origin keep-alive pools. `keepAlive: false` sends
// every probe with `reset: true` (`connection: close`), so each probe opens a
// fresh connection, like blackbox_exporter does. HTTP/1.1 only (no ALPN h2):
// a probe should see what a plain client sees, and connection-per-probe then
// means what it says.

import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { Agent, buildConnector } from 'undici'
import type { Dispatcher } from 'undici'
import type { Logger } from 'pino'
import type { CheckConfig, StatusRange } from '../config/types.ts'
import { compileBodyPattern, type BodyPattern } from '../config/pattern.ts'
import type { CheckResult, FailureCause } from '../health/verdict.ts'
import {
  certExpiryWarning,
  describeError,
  errorCause,
  formatJsonPath,
  formatJsonValue,
  formatRanges,
  jsonType,
  lookupJsonPath,
  parseJsonPath,
  sanitizeSnippet,
  statusInRanges,
} from './probe-helpers.ts'
import type { JsonPath } from './probe-helpers.ts'

/** Bytes of the body kept for the body conditions and the evidence snippet. */
export const BODY_CAPTURE_BYTES = 64 * 1024
/**
 * Bytes read (and past the capture, discarded) before the connection is
 * dropped instead. Reading a big page to its end keeps the connection
 * reusable; a huge or endless one is cut here. Either way the timeout bounds it.
 */
export const BODY_READ_LIMIT = 1024 * 1024
/** Characters of body shown as evidence. */
const SNIPPET_BYTES = 120
/**
 * Time a TCP connect plus TLS handshake may take (undici's default). The
 * check's own timer settles a probe sooner; a connect it gave up on is
 * dropped when it completes, or reaped here, or by close().
 */
const CONNECT_TIMEOUT_MS = 10_000

export interface ProberOptions {
  /** Probes in flight at once, across every runCheck/runChecks call. */
  concurrency: number
  /** Reuse connections (default true). false: a new connection per probe. */
  keepAlive?: boolean
  /** Clock in epoch milliseconds (fractions welcome); latency and `at` use it. */
  now?: () => number
  logger?: Logger
}

export interface Prober {
  runCheck(check: CheckConfig): Promise<CheckResult>
  /** Results in the order of `checks`. */
  runChecks(checks: CheckConfig[]): Promise<CheckResult[]>
  /** Aborts probes in flight (they resolve as failed) and destroys every connection. */
  close(): Promise<void>
}

// ------------------------------------------------------------ compiled checks

/** Everything about a check that does not change between probes. */
interface Compiled {
  /** Set when the check cannot run at all (bad URL, bad regex, …). */
  error: string | undefined
  url: string
  dispatch: Dispatcher.DispatchOptions
  /** `host:port`, for messages. */
  hostPort: string
  /** `host:port` without IPv6 brackets: the key of the certificate table. */
  certKey: string
  https: boolean
  agentKey: string
  caFile: string | undefined
  verify: boolean
  ranges: readonly StatusRange[]
  rangesText: string
  timeoutMs: number
  maxLatencyMs: number
  contains: Buffer | undefined
  regex: BodyPattern | undefined
  jsonPath: JsonPath | undefined
  /** Keep body bytes at all (a body condition exists). */
  keepBody: boolean
  certWarnDays: number
}

function compile(check: CheckConfig, keepAlive: boolean): Compiled {
  const c: Compiled = {
    error: undefined,
    url: check.url,
    dispatch: { origin: '', path: '/', method: check.method },
    hostPort: '',
    certKey: '',
    https: false,
    agentKey: '',
    caFile: undefined,
    verify: true,
    ranges: check.expectStatus,
    rangesText: formatRanges(check.expectStatus),
    timeoutMs: check.timeoutMs > 0 ? check.timeoutMs : 10_000,
    maxLatencyMs: check.maxLatencyMs ?? 0,
    contains: undefined,
    regex: undefined,
    jsonPath: undefined,
    keepBody: false,
    certWarnDays: check.certExpiryWarnDays ?? 0,
  }
  let url: URL
  try {
    url = new URL(check.url)
  } catch {
    c.error = `invalid URL "${check.url}"`
    return c
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    c.error = `unsupported URL scheme "${url.protocol}" (http: or https: only)`
    return c
  }
  c.https = url.protocol === 'https:'
  c.hostPort = `${url.hostname}:${url.port || (c.https ? '443' : '80')}`
  c.certKey = c.hostPort.replace(/^\[(.*)\]:/, '$1:')
  c.verify = check.tls?.verify !== false
  c.caFile = c.verify ? check.tls?.caFile : undefined
  c.agentKey = c.verify ? (c.caFile ? `ca:${c.caFile}` : 'system') : 'insecure'
  c.dispatch = {
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    method: check.method,
    headers: check.headers,
    body: check.body ?? null,
    // Our timer is the bound; undici's own per-request timers would only add work.
    headersTimeout: 0,
    bodyTimeout: 0,
    reset: !keepAlive,
  }
  if (check.bodyContains !== undefined) c.contains = Buffer.from(check.bodyContains, 'utf8')
  if (check.bodyMatches !== undefined) {
    try {
      c.regex = compileBodyPattern(check.bodyMatches)
    } catch (err) {
      c.error = `invalid bodyMatches regex: ${(err as Error).message}`
      return c
    }
  }
  if (check.json) {
    try {
      c.jsonPath = parseJsonPath(check.json.path)
    } catch (err) {
      c.error = `invalid json.path: ${(err as Error).message}`
      return c
    }
  }
  c.keepBody = c.contains !== undefined || c.regex !== undefined || c.jsonPath !== undefined
  return c
}

// ------------------------------------------------------------ the prober

interface State {
  closed: boolean
  keepAlive: boolean
  now: () => number
  log: Logger | undefined
  compiled: WeakMap<CheckConfig, Compiled>
  agents: Map<string, Agent>
  /** `host:port` → notAfter (epoch ms) of the certificate its last TLS connection presented. */
  certs: Map<string, number>
  /** Sockets still connecting (TCP or TLS): undici's destroy() does not reach them. */
  connecting: Set<Socket>
  limit: number
  active: number
  /** FIFO of waiting probes as pairs [check, resolve, check, resolve, …] from `head`. */
  queue: unknown[]
  head: number
}

export function createProber(opts: ProberOptions): Prober {
  const s: State = {
    closed: false,
    keepAlive: opts.keepAlive !== false,
    now: opts.now ?? (() => performance.timeOrigin + performance.now()),
    log: opts.logger?.child({ component: 'probe' }),
    compiled: new WeakMap(),
    agents: new Map(),
    certs: new Map(),
    connecting: new Set(),
    limit: Math.max(1, Math.floor(opts.concurrency) || 1),
    active: 0,
    queue: [],
    head: 0,
  }

  function runCheck(check: CheckConfig): Promise<CheckResult> {
    return new Promise<CheckResult>((resolve) => {
      if (s.active < s.limit) {
        s.active++
        start(s, check, resolve)
      } else {
        s.queue.push(check, resolve)
      }
    })
  }

  return {
    runCheck,
    runChecks: (checks) => Promise.all(checks.map(runCheck)),
    async close() {
      s.closed = true
      const agents = [...s.agents.values()]
      s.agents.clear()
      // Destroying errors every request in flight; their handlers resolve them as failed.
      await Promise.all(agents.map((a) => a.destroy()))
      // With an error, so the connector reports it and its client gives up.
      for (const sock of s.connecting) sock.destroy(new Error('the prober is closed'))
      s.connecting.clear()
      s.certs.clear()
    },
  }
}

type Resolve = (r: CheckResult) => void

/** A probe finished: hand its slot to the next waiting one, if any. */
function release(s: State): void {
  if (s.head < s.queue.length) {
    const check = s.queue[s.head] as CheckConfig
    const resolve = s.queue[s.head + 1] as Resolve
    s.queue[s.head] = undefined
    s.queue[s.head + 1] = undefined
    s.head += 2
    if (s.head === s.queue.length) {
      s.queue.length = 0
      s.head = 0
    } else if (s.head > 1024 && s.head * 2 > s.queue.length) {
      s.queue.splice(0, s.head)
      s.head = 0
    }
    start(s, check, resolve)
  } else {
    s.active--
  }
}

function start(s: State, check: CheckConfig, resolve: Resolve): void {
  let c = s.compiled.get(check)
  if (c === undefined) {
    c = compile(check, s.keepAlive)
    s.compiled.set(check, c)
  }
  const startedAt = s.now()
  // Failures before dispatch are delivered a turn later too: release() starts
  // the next queued probe, and a long queue of bad checks must not recurse.
  if (c.error !== undefined || s.closed) {
    setImmediate(
      deliver,
      s,
      resolve,
      failed(check, startedAt, s.closed ? 'the prober is closed' : c.error!, s.closed ? 'other' : 'config'),
    )
    return
  }
  let agent: Agent
  try {
    agent = agentFor(s, c)
  } catch (err) {
    setImmediate(deliver, s, resolve, failed(check, startedAt, (err as Error).message, 'config'))
    return
  }
  const probe = new Probe(s, check, c, resolve, startedAt)
  probe.timer = setTimeout(onTimeout, c.timeoutMs, probe)
  try {
    agent.dispatch(c.dispatch, probe)
  } catch (err) {
    probe.fail(err)
  }
}

function failed(check: CheckConfig, at: number, message: string, cause: FailureCause): CheckResult {
  return { name: check.name, ok: false, url: check.url, message, cause, at: new Date(at).toISOString() }
}

function agentFor(s: State, c: Compiled): Agent {
  let agent = s.agents.get(c.agentKey)
  if (agent !== undefined) return agent
  let ca: Buffer | undefined
  if (c.caFile !== undefined) {
    // Read once per prober: the agent caches it with its connections.
    try {
      ca = readFileSync(c.caFile)
    } catch (err) {
      throw new Error(
        `cannot read the CA file ${c.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { cause: err },
      )
    }
  }
  const base = buildConnector({
    allowH2: false,
    timeout: CONNECT_TIMEOUT_MS,
    rejectUnauthorized: c.verify,
    // `ca` replaces the system roots: a site with its own CA trusts that CA only.
    ...(ca ? { ca } : {}),
  })
  const { certs, connecting, keepAlive } = s
  // Track the socket until it connects; note the certificate a TLS connection
  // presents, once per connection.
  const connect: buildConnector.connector = (options, callback) => {
    let settled = false
    // buildConnector's connect returns the socket (its type says void).
    const sock = (base as unknown as (o: typeof options, cb: buildConnector.Callback) => Socket | undefined)(
      options,
      (err, socket) => {
        settled = true
        if (sock !== undefined) connecting.delete(sock)
        if (err === null && (socket as TLSSocket).getPeerCertificate !== undefined) {
          const cert = (socket as TLSSocket).getPeerCertificate(false)
          const notAfter = cert?.valid_to ? Date.parse(cert.valid_to) : NaN
          if (!Number.isNaN(notAfter)) certs.set(`${options.hostname}:${options.port || '443'}`, notAfter)
        }
        ;(callback as (e: Error | null, s: unknown) => void)(err, socket)
      },
    )
    if (!settled && sock !== undefined) connecting.add(sock)
    if (!keepAlive && sock !== undefined) unmuteOnDestroy(sock)
  }
  agent = new Agent({ connect, pipelining: 1 })
  s.agents.set(c.agentKey, agent)
  return agent
}

// A connection per probe ends, right after our onResponseEnd, with undici
// destroying the socket with a new `InformationalError('reset')`, and Node's
// stream destroy formats that error's stack (node:internal/streams/destroy
// reads err.stack). Capturing and formatting that trace, which nobody reads,
// cost ~14 % of a new-connection probe's CPU. So onResponseEnd mutes stack
// traces and this socket's destroy() (the very next thing undici does, in the
// same synchronous call) unmutes them: no other code runs in between. A
// microtask unmutes them too, should undici ever not destroy the socket.
let mutedLimit: number | undefined

function muteTraces(): void {
  if (mutedLimit !== undefined) return
  mutedLimit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  queueMicrotask(unmuteTraces)
}

function unmuteTraces(): void {
  if (mutedLimit === undefined) return
  Error.stackTraceLimit = mutedLimit
  mutedLimit = undefined
}

function unmuteOnDestroy(sock: Socket): void {
  const destroy = sock.destroy
  sock.destroy = function destroyAndUnmute(this: Socket, err?: Error) {
    unmuteTraces()
    return destroy.call(this, err)
  }
}

function deliverSoon(s: State, resolve: Resolve, result: CheckResult): void {
  setImmediate(deliver, s, resolve, result)
}

/** Frees the probe's slot (starting the next queued probe) and resolves it. */
function deliver(s: State, resolve: Resolve, result: CheckResult): void {
  release(s)
  resolve(result)
}

function onTimeout(p: Probe): void {
  p.timer = undefined
  if (p.done) return
  const t = p.c.timeoutMs
  p.cause = 'timeout'
  p.finish(
    p.controller === undefined
      ? `no connection within ${t} ms (TCP connect or TLS handshake)`
      : p.status === 0
        ? `no response within ${t} ms`
        : `response body not complete within ${t} ms (status ${p.status})`,
  )
  // Started: drop the connection. Not started yet (connecting): onRequestStart drops it.
  p.controller?.abort(new Error('probe timed out'))
}

/** One probe in flight: undici's dispatch handler and the result it builds. */
class Probe implements Dispatcher.DispatchHandler {
  s: State
  check: CheckConfig
  c: Compiled
  resolve: Resolve
  startedAt: number
  timer: NodeJS.Timeout | undefined = undefined
  controller: Dispatcher.DispatchController | undefined = undefined
  done = false
  status = 0
  bytes = 0
  first: Buffer | undefined = undefined
  more: Buffer[] | undefined = undefined
  kept = 0
  /** Why the probe failed, set with the failure (transport) or by evaluate (conditions). */
  cause: FailureCause | undefined = undefined

  constructor(s: State, check: CheckConfig, c: Compiled, resolve: Resolve, startedAt: number) {
    this.s = s
    this.check = check
    this.c = c
    this.resolve = resolve
    this.startedAt = startedAt
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.done) {
      controller.abort(new Error('probe already settled'))
      return
    }
    this.controller = controller
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number): void {
    if (statusCode >= 200) this.status = statusCode // 1xx are interim
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return
    this.bytes += chunk.length
    // Keep the start of the body for the conditions and the snippet; discard the rest.
    if (this.kept < BODY_CAPTURE_BYTES) {
      const room = BODY_CAPTURE_BYTES - this.kept
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room)
      if (this.first === undefined) this.first = part
      else (this.more ??= []).push(part)
      this.kept += part.length
    }
    if (this.bytes >= BODY_READ_LIMIT) {
      this.finish(undefined)
      controller.abort(new Error('body read limit reached'))
    }
  }

  onResponseEnd(): void {
    if (!this.done) this.finish(undefined)
    // The socket is destroyed next: see muteTraces.
    if (!this.s.keepAlive) muteTraces()
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (!this.done) this.fail(err)
  }

  fail(err: unknown): void {
    this.cause = this.s.closed ? 'other' : errorCause(err)
    this.finish(this.s.closed ? 'the prober was closed during the probe' : describeError(err, this.c.hostPort))
  }

  /**
   * Settles the probe. `transport` is the reason there is no (complete)
   * response, or undefined when the response was read: then the conditions
   * decide. Latency is measured from dispatch to the end of the body read (or
   * to the failure), not including time waiting for a concurrency slot.
   */
  finish(transport: string | undefined): void {
    this.done = true
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    const end = this.s.now()
    const latencyMs = Math.round((end - this.startedAt) * 100) / 100
    const c = this.c
    const check = this.check
    let message: string | undefined
    if (transport !== undefined) {
      message = transport
    } else {
      message = this.evaluate(latencyMs)
    }
    const result: CheckResult = {
      name: check.name,
      ok: message === undefined,
      url: c.url,
      latencyMs,
      at: new Date(this.startedAt).toISOString(),
    }
    if (this.status !== 0) result.status = this.status
    if (message !== undefined) {
      result.message = message
      result.cause = this.cause ?? 'other'
    }
    if (c.certWarnDays > 0 && c.https) {
      const notAfter = this.s.certs.get(c.certKey)
      const warning = notAfter === undefined ? undefined : certExpiryWarning(notAfter, end, c.certWarnDays, c.hostPort)
      if (warning !== undefined) result.warnings = [warning]
    }
    if (message !== undefined && this.s.log !== undefined) {
      this.s.log.debug(
        { check: check.name, url: c.url, status: result.status, latencyMs, reason: message },
        'probe failed',
      )
    }
    // Hand the result over after undici has put the connection back in its
    // pool: for HTTP/1.1 it waits one event-loop turn (a setImmediate queued
    // right after this callback) before it calls the connection free. A probe
    // started sooner (the next queued one, or the caller's next runCheck) would
    // find it busy and open a second connection. nextTick → setImmediate lands
    // behind undici's own setImmediate.
    process.nextTick(deliverSoon, this.s, this.resolve, result)
  }

  /** undefined when every condition holds; otherwise each failure, in words. */
  evaluate(latencyMs: number): string | undefined {
    const c = this.c
    let problems: string | undefined
    if (!statusInRanges(this.status, c.ranges)) {
      problems = `expected status ${c.rangesText}, got ${this.status}`
      this.cause = 'status'
    }
    if (c.keepBody) {
      const body = this.body()
      const bodyProblems = this.bodyProblems(body)
      if (bodyProblems !== undefined) {
        const cut = this.bytes > this.kept ? ` (only the first ${this.kept} of ${this.bytes}+ bytes are checked)` : ''
        const p = `${bodyProblems}${cut}; body starts: "${sanitizeSnippet(body, SNIPPET_BYTES)}"`
        problems = problems === undefined ? p : `${problems}; ${p}`
        this.cause ??= 'body'
      }
    }
    if (c.maxLatencyMs > 0 && latencyMs > c.maxLatencyMs) {
      this.cause ??= 'latency'
      const p = `took ${Math.round(latencyMs)} ms, limit ${c.maxLatencyMs} ms`
      problems = problems === undefined ? p : `${problems}; ${p}`
    }
    return problems
  }

  /** The body conditions that fail, joined, without evidence. */
  bodyProblems(body: Buffer): string | undefined {
    const c = this.c
    const check = this.check
    let problems: string | undefined
    const add = (p: string) => {
      problems = problems === undefined ? p : `${problems}; ${p}`
    }
    if (c.contains !== undefined && body.indexOf(c.contains) === -1) {
      add(`body does not contain "${check.bodyContains}"`)
    }
    let text: string | undefined
    if (c.regex !== undefined) {
      text = body.toString('utf8')
      if (!c.regex.test(text)) add(`body does not match /${check.bodyMatches}/`)
    }
    if (c.jsonPath !== undefined) {
      const p = jsonProblem(text ?? body.toString('utf8'), check.json!.equals, c.jsonPath)
      if (p !== undefined) add(p)
    }
    return problems
  }

  body(): Buffer {
    if (this.first === undefined) return EMPTY
    if (this.more === undefined) return this.first
    return Buffer.concat([this.first, ...this.more], this.kept)
  }
}

const EMPTY = Buffer.alloc(0)

function jsonProblem(text: string, equals: unknown, path: JsonPath): string | undefined {
  let root: unknown
  try {
    root = JSON.parse(text)
  } catch {
    // The parser's message quotes raw body text; the sanitized snippet says it better.
    return 'body is not JSON'
  }
  const found = lookupJsonPath(root, path)
  const where = formatJsonPath(path)
  if (!found.found) {
    return found.missing === where
      ? `json ${where} is missing (its parent is ${found.parentType})`
      : `json ${where} is missing: no ${found.missing} (its parent is ${found.parentType})`
  }
  if (found.value !== equals) {
    const kind = found.value === null || typeof found.value !== typeof equals ? ` (${jsonType(found.value)})` : ''
    return `json ${where} is ${formatJsonValue(found.value)}${kind}, expected ${formatJsonValue(equals)}`
  }
  return undefined
}
