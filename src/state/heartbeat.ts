// The leader's heartbeat: one small object for the whole service
// (`kube-recycler-heartbeat`, a ConfigMap in kube-recycler's namespace),
// written at most once a minute, and only when a probe said something again.
// It carries, per site, the last repeat of the site's stored verdict
// (state/freshness.ts), so a healthy site at rest costs no write of its own
// and every replica still shows when its last verdict was taken.
//
// Every replica lists and watches the object (as the state store does the
// sites'); only the leader writes it, with the resourceVersion precondition,
// from the notes it took since the last beat, merged with what the object
// already says (a new leader keeps what the old one wrote). On close the
// leader writes what it noted since, so a restart loses nothing.

import type { Logger } from 'pino'
import { abortableSleep, type Clock } from '../clock.ts'
import { Errors, isAppError } from '../errors.ts'
import type { ObjectStore } from '../kube/types.ts'
import type { Verdict } from '../health/verdict.ts'
import type { SiteState } from './schema.ts'
import {
  decodeHeartbeat,
  encodeHeartbeat,
  fresher,
  noteRepeat,
  sameSites,
  validFor,
  type Confirmation,
  type Confirmations,
  type HeartbeatDoc,
} from './freshness.ts'
import { newer, type WriteResult } from './store.ts'

/** Named statically: the service's Role may update this one ConfigMap by name. */
export const HEARTBEAT_OBJECT = 'kube-recycler-heartbeat'
/** How often the leader writes what its probes said again (the coarseness of "last verdict" on /status at rest). */
export const HEARTBEAT_MS = 60_000

export interface Heartbeat extends Confirmations {
  /** The heartbeat object's confirmation of `s`'s stored verdict: what /status shows, the same on every replica. */
  shown(site: string, s: SiteState): Confirmation | undefined
  /** When and by whom the object was last written; undefined before the first heartbeat. */
  last(): { at: string; by: string } | undefined
  loaded(): boolean
  /** Resolves once the object has been read (or found absent) the first time. */
  whenLoaded(): Promise<void>
  /** Writes the notes now when they add anything and this replica leads. */
  beat(): Promise<'written' | 'unchanged' | 'not-leader' | 'failed'>
  start(): void
  /** Writes the last notes (leader), then stops watching. */
  close(): Promise<void>
}

export interface HeartbeatOptions {
  objects: ObjectStore
  sites: readonly string[]
  /** The site states the notes are checked against (a note of a verdict since replaced is dropped). */
  state: (site: string) => SiteState
  identity: string
  isLeader: () => boolean
  clock: Clock
  logger: Logger
  everyMs?: number
  callTimeoutMs?: number
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  onWrite?: (result: WriteResult) => void
}

export function createHeartbeat(opts: HeartbeatOptions): Heartbeat {
  const log = opts.logger.child({ component: 'heartbeat' })
  const every = opts.everyMs ?? HEARTBEAT_MS
  const sleep = opts.sleep ?? abortableSleep
  const timeoutMs = opts.callTimeoutMs ?? 5000
  const stop = new AbortController()
  /** This replica's notes since it last wrote (only the leader's probes make them). */
  const notes = new Map<string, Confirmation>()
  let doc: HeartbeatDoc | undefined
  let version: string | undefined
  let isLoaded = false
  let loops: Promise<void>[] = []
  let beating: Promise<unknown> = Promise.resolve()
  let resolveLoaded!: () => void
  const loadedP = new Promise<void>((r) => {
    resolveLoaded = r
  })

  async function call<T>(what: string, p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(Errors.kube(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs)
        }),
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  function set(o: { data: string; version: string } | undefined, force: boolean): void {
    if (o && !force && version !== undefined && !newer(o.version, version)) return
    doc = o ? decodeHeartbeat(o.data) : undefined
    if (o && o.data !== '' && !doc)
      log.warn({ version: o.version }, 'the heartbeat object is not valid; the next heartbeat replaces it')
    version = o?.version
  }

  async function syncLoop(): Promise<void> {
    let backoff = 500
    while (!stop.signal.aborted) {
      let listVersion: string
      try {
        const l = await call('list the heartbeat', opts.objects.list())
        set(l.items.get(HEARTBEAT_OBJECT), true)
        listVersion = l.version
        isLoaded = true
        resolveLoaded()
        backoff = 500
      } catch (e) {
        log.warn(
          { err: e, retryInMs: backoff },
          `could not load the heartbeat: ${isAppError(e) ? e.message : 'unexpected error'}`,
        )
        await sleep(backoff, stop.signal)
        backoff = Math.min(backoff * 2, 10_000)
        continue
      }
      await opts.objects
        .watch(
          listVersion,
          (ev) => {
            if (ev.name === HEARTBEAT_OBJECT) set(ev.object, false)
          },
          stop.signal,
        )
        .catch(() => undefined)
      if (!stop.signal.aborted) await sleep(200, stop.signal)
    }
  }

  async function beatLoop(): Promise<void> {
    while (!stop.signal.aborted) {
      await sleep(every, stop.signal)
      if (!stop.signal.aborted) await beat()
    }
  }

  /** What the object should say now: per site, the freshest valid confirmation of the notes and the object. */
  function wanted(): Map<string, Confirmation> {
    const out = new Map<string, Confirmation>()
    for (const site of opts.sites) {
      const s = opts.state(site)
      const own = validFor(s, notes.get(site))
      if (!own) notes.delete(site)
      const c = fresher(own, validFor(s, doc?.sites.get(site)))
      if (c) out.set(site, c)
    }
    return out
  }

  async function write(): Promise<'written' | 'unchanged' | 'not-leader' | 'failed'> {
    if (!isLoaded) return 'failed'
    if (!opts.isLeader()) return 'not-leader'
    const sites = wanted()
    if (doc ? sameSites(sites, doc.sites) : sites.size === 0) return 'unchanged'
    const next: HeartbeatDoc = { at: opts.clock.now(), by: opts.identity, sites }
    const data = encodeHeartbeat(next)
    try {
      const v = await call('write the heartbeat', opts.objects.write(HEARTBEAT_OBJECT, data, version))
      opts.onWrite?.('ok')
      if (version === undefined || newer(v, version)) {
        doc = next
        version = v
      }
      return 'written'
    } catch (e) {
      if (isAppError(e) && e.code === Errors.kubeConflict.code) {
        // Another replica wrote it (a leader change): read it, merge at the next beat.
        opts.onWrite?.('conflict')
        await call('read the heartbeat', opts.objects.read(HEARTBEAT_OBJECT)).then(
          (o) => set(o, true),
          () => undefined,
        )
      } else {
        opts.onWrite?.('error')
        log.warn(
          { err: e },
          `could not write the heartbeat: ${isAppError(e) ? e.message : 'unexpected error'}; /status shows older verdict times until it can`,
        )
      }
      return 'failed'
    }
  }

  function beat(): Promise<'written' | 'unchanged' | 'not-leader' | 'failed'> {
    const run = beating.then(write, write)
    beating = run.catch(() => undefined)
    return run
  }

  return {
    confirm(site: string, stored: SiteState, v: Verdict) {
      const lv = stored.lastVerdict
      if (!lv || lv.ok !== v.ok || lv.source !== v.source) return
      const prev = fresher(validFor(stored, notes.get(site)), validFor(stored, doc?.sites.get(site)))
      const c = noteRepeat(prev, stored, Date.parse(v.at))
      if (c) notes.set(site, c)
    },
    latest(site, s) {
      return fresher(validFor(s, notes.get(site)), validFor(s, doc?.sites.get(site)))
    },
    shown(site, s) {
      return validFor(s, doc?.sites.get(site))
    },
    last() {
      return doc ? { at: new Date(doc.at).toISOString(), by: doc.by } : undefined
    },
    loaded: () => isLoaded,
    whenLoaded: () => loadedP,
    beat,
    start() {
      if (loops.length > 0) return
      loops = [syncLoop(), beatLoop()]
    },
    async close() {
      if (loops.length > 0 && notes.size > 0) await beat().catch(() => undefined)
      stop.abort()
      await Promise.allSettled([...loops, beating])
    },
  }
}
