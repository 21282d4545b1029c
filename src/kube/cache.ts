// The few annotations /status needs of each named workload, kept by a watch
// instead of read again and again: at rest a read per site every half
// minute on every replica was most of the service's API requests and of
// its memory churn per site, for facts that change only with a recycle or
// a deploy.
//
// One watch per workload, by name (fieldSelector metadata.name=<name>): the
// site Role grants get/patch/watch on the named workloads only, and the API
// server authorizes such a watch against resourceNames; a list of the
// namespace's workloads would need `list` on all of them. A watch started
// without a resourceVersion begins with the workload as it is (ADDED), so
// one request gives the state and every change; after a drop it resumes
// from the last resourceVersion seen (bookmarks keep it fresh), after 410
// Gone it starts afresh. Each entry holds the kept annotations' values
// only, never the object.
//
// A workload the watch cannot see (not there, forbidden, the watch down)
// has no entry: its reader falls back to a GET, as before.
//
// At start every watch is opened at once and answers within a second or
// so; a reader that asks before (the first probes, /status polled by a
// page or the bench) waits for that first answer, up to FIRST_ANSWER_MS,
// instead of reading: /status polled at start by 1,000 sites' service
// read 900 of their Deployments, whole, all at once.

import type { Logger } from 'pino'
import { leanWatch, type KubeConfig } from './api.ts'
import { refKey, type WorkloadCache, type WorkloadFacts, type WorkloadRef } from './types.ts'

const PLURAL = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets' } as const

/** Waits after a watch that failed: doubling from 1 s up to 60 s, so a forbidden one asks once a minute. */
const RETRY_FIRST_MS = 1_000
const RETRY_MAX_MS = 60_000
/** How long a reader waits at start for a watch's first answer before it reads instead (a workload that does not exist sends none). */
const FIRST_ANSWER_MS = 5_000

interface WatchedObject {
  metadata?: { resourceVersion?: string; annotations?: Record<string, string> }
  spec?: { template?: { metadata?: { annotations?: Record<string, string> } } }
  code?: number
}

export function createWorkloadCache(opts: {
  kc: KubeConfig
  /** A watch silent this long is ended and resumed (default api.ts WATCH_SILENCE_MS). */
  silenceMs?: number | undefined
  refs: readonly WorkloadRef[]
  keep: { annotations: readonly string[]; templateAnnotations: readonly string[] }
  logger: Logger
  /** Told when the cache is closed (its maker forgets it). */
  onClose?: () => void
  /** How long settled() waits at most for a watch's first answer (default FIRST_ANSWER_MS). */
  firstAnswerMs?: number
}): WorkloadCache {
  const log = opts.logger.child({ component: 'kube-cache' })
  const entries = new Map<string, WorkloadFacts>()
  const listeners = new Set<(ref: WorkloadRef) => void>()
  const stop = new AbortController()
  const loops: Promise<void>[] = []
  // The workloads watched, each with its first answer (seen, or found not visible); one timer bounds them all.
  const answered = new Map<string, { promise: Promise<void>; resolve: () => void }>()
  let patienceTimer: NodeJS.Timeout | undefined
  const patience = new Promise<void>((resolve) => {
    patienceTimer = setTimeout(resolve, opts.firstAnswerMs ?? FIRST_ANSWER_MS)
  })
  const answer = (key: string) => answered.get(key)?.resolve()

  function pick(from: Record<string, string> | undefined, keys: readonly string[]): Record<string, string> {
    const out: Record<string, string> = {}
    for (const k of keys) if (from?.[k] !== undefined) out[k] = from[k]
    return out
  }

  function store(ref: WorkloadRef, key: string, obj: WatchedObject): void {
    const next: WorkloadFacts = {
      annotations: pick(obj.metadata?.annotations, opts.keep.annotations),
      templateAnnotations: pick(obj.spec?.template?.metadata?.annotations, opts.keep.templateAnnotations),
    }
    const prev = entries.get(key)
    entries.set(key, next)
    // Most events (status, replicas, bookmarks' neighbours) change none of the kept values: no news.
    if (prev && JSON.stringify(prev) === JSON.stringify(next)) return
    for (const l of listeners) l(ref)
  }

  async function follow(ref: WorkloadRef): Promise<void> {
    const key = refKey(ref)
    const path = `/apis/apps/v1/namespaces/${encodeURIComponent(ref.namespace)}/${PLURAL[ref.kind]}`
    const signal = stop.signal
    let rv: string | undefined
    let retryMs = RETRY_FIRST_MS
    while (!signal.aborted) {
      let heard = false
      const failed = await new Promise<unknown>((resolve) => {
        leanWatch(
          opts.kc,
          path,
          {
            fieldSelector: `metadata.name=${ref.name}`,
            allowWatchBookmarks: 'true',
            resourceVersion: rv,
          },
          (phase, raw) => {
            const obj = raw as WatchedObject
            if (phase === 'ERROR') {
              // 410 Gone: too old to resume from; start afresh (ADDED again).
              rv = undefined
              return
            }
            heard = true
            if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion
            if (phase === 'ADDED' || phase === 'MODIFIED') store(ref, key, obj)
            else if (phase === 'DELETED') {
              entries.delete(key)
              for (const l of listeners) l(ref)
            }
            answer(key)
          },
          resolve,
          { signal, ...(opts.silenceMs !== undefined ? { silenceMs: opts.silenceMs } : {}) },
        )
      })
      if (signal.aborted) return
      // Silence is not a failure: a watch of a workload that does not exist (yet) may hear nothing.
      const silent = failed instanceof DOMException && failed.name === 'TimeoutError'
      if (failed && !heard && !silent) {
        // Not seen at all (forbidden, unreachable): no entry, readers GET.
        if (entries.delete(key)) for (const l of listeners) l(ref)
        answer(key)
        if (retryMs === RETRY_FIRST_MS)
          log.warn(
            { workload: key, err: (failed as Error).message },
            'cannot watch the workload; its facts are read on demand until the watch is back',
          )
        await sleepUnlessStopped(retryMs, signal)
        retryMs = Math.min(RETRY_MAX_MS, retryMs * 2)
      } else {
        // Ended by the server's timeout or the silence bound: resume at once from rv.
        retryMs = RETRY_FIRST_MS
        await sleepUnlessStopped(200, signal)
      }
    }
  }

  for (const ref of opts.refs) {
    const key = refKey(ref)
    if (answered.has(key)) continue
    let resolve!: () => void
    const first = new Promise<void>((r) => (resolve = r))
    answered.set(key, { promise: Promise.race([first, patience]), resolve })
    loops.push(follow(ref).catch((e: unknown) => log.error({ err: e, workload: key }, 'workload watch stopped')))
  }

  return {
    get(ref) {
      return entries.get(refKey(ref))
    },
    watches(ref) {
      return answered.has(refKey(ref))
    },
    settled(ref) {
      return answered.get(refKey(ref))?.promise ?? Promise.resolve()
    },
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    get size() {
      return entries.size
    },
    async close() {
      opts.onClose?.()
      stop.abort()
      clearTimeout(patienceTimer)
      for (const a of answered.values()) a.resolve()
      listeners.clear()
      await Promise.allSettled(loops)
      entries.clear()
    },
  }
}

function sleepUnlessStopped(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
