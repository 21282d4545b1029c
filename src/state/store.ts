// The state store: what every replica must agree on, kept in the cluster.
// One object per site (a ConfigMap in kube-recycler's namespace) holds the
// site's SiteState. Every change is a read-modify-write with the object's
// resourceVersion as precondition: two replicas changing one site at once
// cannot both win, the loser reads again and re-applies its change to what
// the winner wrote. A watch keeps each replica's copy current, so /status
// tells the same story everywhere. Changes within one process are queued per
// site, so a replica never races itself.
//
// A store that has not loaded, or whose API server stopped answering, is not
// ready: changes are refused (503, the caller retries), never dropped or
// applied to a copy nobody else sees.

import { Compile } from 'typebox/compile'
import type { Logger } from 'pino'
import { abortableSleep, type Clock } from '../clock.ts'
import type { SiteConfig } from '../config/types.ts'
import { Errors, isAppError } from '../errors.ts'
import type { ObjectStore, StoredObject } from '../kube/types.ts'
import { LIMITS, boundRecord, boundSiteState } from './bounds.ts'
import { recordProblem } from './records.ts'
import { createSlots, type Lane } from './slots.ts'
import { emptySiteState, RecycleRecordSchema, SiteStateSchema, type RecycleRecord, type SiteState } from './schema.ts'

// Compiled once: the interpreted Value.Check of a whole site's state on
// every read of it (each write comes back through the watch) was most of a
// FAILURE report's CPU (docs/benchmarks.md).
const siteStateCheck = Compile(SiteStateSchema)
const checkSiteState = (v: unknown): v is SiteState => siteStateCheck.Check(v)
const recordCheck = Compile(RecycleRecordSchema)

export interface Readiness {
  ready: boolean
  reason: string
}

/** What a change function answers: the new state (absent: nothing to write) and its result. */
export interface Change<R> {
  next?: SiteState
  result: R
}

export type WriteResult = 'ok' | 'conflict' | 'error'

export interface UpdateOptions {
  /** A scheduled probe's verdict, sent again at the next tick: its write waits behind every other (slots.ts). */
  routine?: boolean
}

export interface StateStore {
  /** Kept in the cluster (true), or only in this process (no cluster: dry-run). */
  readonly durable: boolean
  /** This replica's copy of a site's state (current within a watch event). */
  get(site: string): SiteState
  /**
   * Applies `change` to the site's state and writes the result with the
   * precondition; on a conflict reads again and re-applies it, so `change`
   * must be pure. Throws Errors.unavailable when the store cannot be written.
   */
  update<R>(site: string, change: (s: SiteState) => Change<R>, opts?: UpdateOptions): Promise<R>
  /** Called after every change this replica sees, its own and others'. */
  onChange(listener: (site: string, s: SiteState) => void): void
  ready(): Readiness
  /** Resolves once the first load has finished. */
  loaded(): Promise<void>
  start(): void
  close(): Promise<void>
}

export interface StoreOptions {
  objects: ObjectStore
  sites: SiteConfig[]
  clock: Clock
  logger: Logger
  durable: boolean
  /** Proves the API server answers; without a recent answer the store is not ready. */
  ping?: (signal: AbortSignal) => Promise<unknown>
  /**
   * How long ago (ms) the API server last answered any request of this
   * process with a 2xx; undefined: never. An answer within the ping period
   * stands for the ping: the Lease is renewed or read every 2 s, so at rest
   * the pings (half of a replica's requests) are not sent.
   */
  answeredAgoMs?: () => number | undefined
  onWrite?: (result: WriteResult) => void
  /** One API call is aborted after this long (and counts as failed); a write's time waiting for a slot is not counted. */
  callTimeoutMs?: number
  /** State writes in flight at once (slots.ts): as many as the connections that carry them (Kube.writeConnections; 8). */
  writeSlots?: number
  /** How long a write waits for a slot before it fails (Errors.unavailable; 30 s). */
  writeQueueMs?: number
  pingEveryMs?: number
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
}

export const objectName = (site: string): string => `kube-recycler-site-${site}`

interface Entry {
  state: SiteState
  version: string | undefined
}

/** resourceVersions are opaque, but etcd's are integers: an older watch event never replaces a newer copy. */
export function newer(a: string, b: string | undefined): boolean {
  if (b === undefined) return true
  const x = Number(a)
  const y = Number(b)
  return Number.isFinite(x) && Number.isFinite(y) ? x > y : a !== b
}

export function createStore(opts: StoreOptions): StateStore {
  const log = opts.logger.child({ component: 'state' })
  const sites = new Map(opts.sites.map((s) => [s.name, s]))
  const byObject = new Map(opts.sites.map((s) => [objectName(s.name), s.name]))
  const entries = new Map<string, Entry>(
    opts.sites.map((s) => [s.name, { state: emptySiteState(s.name), version: undefined }]),
  )
  const queues = new Map<string, Promise<unknown>>()
  const listeners: ((site: string, s: SiteState) => void)[] = []
  const stop = new AbortController()
  const sleep = opts.sleep ?? abortableSleep
  const timeoutMs = opts.callTimeoutMs ?? 5000
  const slots = createSlots(opts.writeSlots ?? 8)
  const queueMs = opts.writeQueueMs ?? 30_000
  const pingEvery = opts.pingEveryMs ?? 2000
  /** No answer from the API server for this long: not ready (two missed pings). */
  const silentMs = pingEvery * 2 + 1000
  let isLoaded = false
  let lastOk = 0
  let lastError = 'loading the state from the cluster'
  let loops: Promise<void>[] = []
  let resolveLoaded!: () => void
  const loadedP = new Promise<void>((r) => {
    resolveLoaded = r
  })

  /**
   * A call to the API server with a deadline: the request itself is aborted
   * then (its stream closed), so a stopped server never holds a write, and
   * nothing runs on after the caller has given up.
   */
  async function call<T>(what: string, request: (signal: AbortSignal) => Promise<T>, ms = timeoutMs): Promise<T> {
    const deadline = new AbortController()
    const timer = setTimeout(
      () => deadline.abort(new DOMException(`${what}: no answer within ${ms} ms`, 'TimeoutError')),
      ms,
    )
    try {
      const out = await request(AbortSignal.any([deadline.signal, stop.signal]))
      lastOk = opts.clock.now()
      return out
    } catch (e) {
      // A conflict is an answer: the API server is there.
      if (isAppError(e) && e.code === Errors.kubeConflict.code) lastOk = opts.clock.now()
      else lastError = isAppError(e) ? e.message : `${what} failed`
      throw e
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * A stored state is trusted only as far as it checks: anyone who can write
   * ConfigMaps in the namespace can write it. A record that fails its schema
   * or does not fit the site (recordProblem) is dropped and said, never run;
   * the rest of the state is kept, bounded as the service would have written it.
   */
  function parse(site: string, o: StoredObject | undefined): SiteState {
    if (!o || o.data === '') return emptySiteState(site)
    const cfg = sites.get(site)!
    try {
      const v: unknown = JSON.parse(o.data)
      if (typeof v === 'object' && v !== null && Array.isArray((v as { recycles?: unknown }).recycles)) {
        const stored = (v as { recycles: unknown[] }).recycles
        const rest = { ...(v as object), recycles: [] }
        if (checkSiteState(rest) && rest.site === site) {
          const recycles: RecycleRecord[] = []
          for (const r of stored) {
            const problem = recordCheck.Check(r) ? recordProblem(r, cfg) : 'it does not match the recycle record schema'
            if (problem === undefined) recycles.push(boundRecord(r as RecycleRecord))
            else
              log.error(
                { site, version: o.version, recycle: (r as { id?: unknown } | null)?.id },
                `a stored recycle record is not valid (${problem}); dropped, never run`,
              )
          }
          const loaded: SiteState = { ...rest, recycles }
          // Sized only when the text is over the bound: bounding only shrinks.
          return Buffer.byteLength(o.data) > LIMITS.siteBytes
            ? boundSiteState(loaded, { now: opts.clock.now(), windowMs: cfg.recycle.windowMs })
            : loaded
        }
      }
    } catch {
      // fall through
    }
    // A hand-edited or foreign object: start the site afresh and say so; the
    // next write replaces it (with the precondition, so nothing newer is lost).
    log.error({ site, version: o.version }, 'the stored state of this site is not valid; starting it afresh')
    return emptySiteState(site)
  }

  // What this replica is writing, per site: its own write, coming back
  // through the watch (often before the write's answer), is not parsed and
  // checked again: a state near its bound is ~256 KB of JSON.
  const writing = new Map<string, { data: string; state: SiteState }>()

  function set(site: string, o: StoredObject | undefined, force: boolean): void {
    const cur = entries.get(site)!
    if (o && !force && !newer(o.version, cur.version)) return
    const own = writing.get(site)
    const state = own && o && o.data === own.data ? own.state : parse(site, o)
    entries.set(site, { state, version: o?.version })
    for (const l of listeners) l(site, state)
  }

  async function load(): Promise<string> {
    const { items, version } = await call('list the state', (signal) => opts.objects.list(signal))
    for (const name of sites.keys()) set(name, items.get(objectName(name)), true)
    return version
  }

  /** List, then watch from the list's version; on any end, list again (backoff on errors). */
  async function syncLoop(): Promise<void> {
    let backoff = 500
    while (!stop.signal.aborted) {
      let version: string
      try {
        version = await load()
        backoff = 500
        if (!isLoaded) {
          isLoaded = true
          log.info({ sites: sites.size, durable: opts.durable }, 'state loaded')
          resolveLoaded()
        }
      } catch (e) {
        log.warn(
          { err: e, retryInMs: backoff },
          `could not load the state: ${isAppError(e) ? e.message : 'unexpected error'}`,
        )
        await sleep(backoff, stop.signal)
        backoff = Math.min(backoff * 2, 10_000)
        continue
      }
      await opts.objects
        .watch(
          version,
          (ev) => {
            const site = byObject.get(ev.name)
            if (site) set(site, ev.object, false)
          },
          stop.signal,
        )
        .catch(() => undefined)
      if (!stop.signal.aborted) await sleep(200, stop.signal)
    }
  }

  async function pingLoop(): Promise<void> {
    while (!stop.signal.aborted && opts.ping) {
      const ago = opts.answeredAgoMs?.()
      if (ago !== undefined && ago < pingEvery) lastOk = Math.max(lastOk, opts.clock.now() - ago)
      else await call('GET /version', (signal) => opts.ping!(signal), pingEvery).catch(() => undefined)
      await sleep(pingEvery, stop.signal)
    }
  }

  /** Runs `send` once a write slot is free (slots.ts); a write that waited queueMs in vain fails unsent. */
  async function inSlot<T>(lane: Lane, send: () => Promise<T>): Promise<T> {
    const release = await slots
      .acquire(lane, AbortSignal.any([AbortSignal.timeout(queueMs), stop.signal]))
      .catch(() => {
        throw Errors.unavailable(
          stop.signal.aborted
            ? 'the store is closing'
            : `no write slot free within ${queueMs} ms; ${slots.waiting} other writes waiting`,
        )
      })
    try {
      return await send()
    } finally {
      release()
    }
  }

  /** `first`: the change already applied to a state; used while that is still the state in hand. */
  async function write<R>(
    site: string,
    change: (s: SiteState) => Change<R>,
    first: { on: SiteState; change: Change<R> } | undefined,
    lane: Lane,
  ): Promise<R> {
    const cfg = sites.get(site)
    if (!cfg) throw Errors.unknownSite(`no site named "${site}"`)
    for (let attempt = 0; ; attempt++) {
      if (!isLoaded) throw Errors.unavailable(`the service state is not loaded yet (${lastError}); retry shortly`)
      const cur = entries.get(site)!
      const { next, result } = attempt === 0 && first?.on === cur.state ? first.change : change(cur.state)
      if (!next) return result
      const now = opts.clock.now()
      const bounded = boundSiteState(next, { now, windowMs: cfg.recycle.windowMs })
      try {
        const data = JSON.stringify(bounded)
        const version = await inSlot(lane, () => {
          writing.set(site, { data, state: bounded })
          return call(`write the state of ${site}`, (signal) =>
            opts.objects.write(objectName(site), data, cur.version, signal),
          )
        }).finally(() => writing.delete(site))
        opts.onWrite?.('ok')
        if (newer(version, entries.get(site)!.version)) {
          entries.set(site, { state: bounded, version })
          for (const l of listeners) l(site, bounded)
        }
        return result
      } catch (e) {
        if (isAppError(e) && e.code === Errors.kubeConflict.code && attempt < 8) {
          opts.onWrite?.('conflict')
          // Another replica wrote first: apply our change to what it wrote.
          // After a short, growing, jittered pause (as client-go's
          // RetryOnConflict): a replica writing a burst needs one request
          // per change, the loser two, so without it the loser can lose
          // every round of the burst.
          await sleep(Math.min(5 * 2 ** attempt, 200) * (0.5 + Math.random()), stop.signal)
          const fresh = await call(`read the state of ${site}`, (signal) =>
            opts.objects.read(objectName(site), signal),
          ).catch((re: unknown) => {
            throw Errors.unavailable(
              `the service state could not be read (${isAppError(re) ? re.message : 'error'}); retry shortly`,
            )
          })
          set(site, fresh, true)
          continue
        }
        opts.onWrite?.('error')
        throw Errors.unavailable(
          `the service state could not be written (${isAppError(e) ? e.message : 'error'}); retry shortly`,
        )
      }
    }
  }

  return {
    durable: opts.durable,
    get(site) {
      return entries.get(site)?.state ?? emptySiteState(site)
    },
    update(site, change, options = {}) {
      const lane: Lane = options.routine ? 'routine' : 'first'
      let first: { on: SiteState; change: ReturnType<typeof change> } | undefined
      if (!queues.has(site) && isLoaded && sites.has(site)) {
        // Nothing of this site in flight: decided at once on the state in
        // hand, as the queue would decide it. Most reports change nothing
        // and end here, without a turn of the queue (docs/benchmarks.md).
        const on = entries.get(site)!.state
        try {
          first = { on, change: change(on) }
        } catch (e) {
          return Promise.reject(e as Error)
        }
        if (!first.change.next) return Promise.resolve(first.change.result)
      }
      const prev = queues.get(site) ?? Promise.resolve()
      const run = prev.then(
        () => write(site, change, first, lane),
        () => write(site, change, first, lane),
      )
      const tail = run.then(
        () => undefined,
        () => undefined,
      )
      queues.set(site, tail)
      void tail.then(() => {
        if (queues.get(site) === tail) queues.delete(site)
      })
      return run
    },
    onChange(l) {
      listeners.push(l)
    },
    ready() {
      if (!isLoaded) return { ready: false, reason: `state not loaded: ${lastError}` }
      if (opts.ping && opts.clock.now() - lastOk > silentMs) {
        return {
          ready: false,
          reason: `the Kubernetes API has not answered for ${Math.round((opts.clock.now() - lastOk) / 1000)} s (${lastError})`,
        }
      }
      return {
        ready: true,
        reason: opts.durable ? 'state loaded from the cluster' : 'no cluster: dry-run, state in this process only',
      }
    },
    loaded: () => loadedP,
    start() {
      if (loops.length > 0) return
      loops = [syncLoop(), pingLoop()]
    },
    async close() {
      stop.abort()
      await Promise.allSettled([...loops, ...queues.values()])
    },
  }
}
