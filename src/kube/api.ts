// The part of @kubernetes/client-node this service uses, loaded module by
// module: KubeConfig (kubeconfig files, in-cluster accounts, exec and OIDC
// credentials, TLS), Watch, and ApiException. The package's entry, and
// KubeConfig's own import of its generated index, load every API group twice
// over (Promise and Observable wrappers, 14 MB of source) and every model
// with its serializer: ~40 MB of RSS for the life of the process, for the
// 21 calls below (docs/benchmarks.md). Each call here is one REST request,
// authenticated by KubeConfig exactly as client-node's own requests and
// watches are (its headers, its dispatcher: one HTTP/2 connection, see
// client.ts), its answer parsed as JSON; a status outside 2xx throws
// client-node's ApiException, as the generated client does. load.ts keeps
// KubeConfig from loading the generated index.
//
// Answers are plain JSON, as Watch gives them, and bodies are sent as
// JSON.stringify writes them: date-time fields are the API server's strings,
// not the Date objects client-node's model types promise. So every type here
// is the model type with each Date made a string (Wire<T>): what the wire
// carries.
//
// Every request has a deadline: it is aborted (and its stream or socket
// closed) when the caller's signal aborts or REQUEST_TIMEOUT_MS has passed,
// whichever is first; a stalled API server never holds a caller for
// undici's default 300 s.
//
// Only src/kube/ imports this file; the rest of the house sees types.ts.

import { request } from 'undici'
import { KubeConfig } from '@kubernetes/client-node/dist/config.js'
import { Watch } from '@kubernetes/client-node/dist/watch.js'
import { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js'
import { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js'
import type {
  CoreV1Event,
  V1ConfigMap,
  V1ConfigMapList,
  V1ControllerRevision,
  V1ControllerRevisionList,
  V1DaemonSet,
  V1Deployment,
  V1Eviction,
  V1Lease,
  V1PodList,
  V1ReplicaSet,
  V1ReplicaSetList,
  V1StatefulSet,
  VersionInfo,
} from '@kubernetes/client-node'
import { VERSION } from '../version.ts'

export { ApiException, KubeConfig, Watch }

/** A client-node model type as the wire carries it: every Date a string (RFC 3339; MicroTime with 6 digits). */
export type Wire<T> = T extends Date
  ? string
  : T extends (infer U)[]
    ? Wire<U>[]
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T

/**
 * A watch that has said nothing for this long (no event, no bookmark) is
 * taken for dead: it is ended, and its owner reads again and watches anew.
 * Watches ask for bookmarks, which the API server sends about once a
 * minute on a quiet watch, so a healthy one is never cut.
 */
export const WATCH_SILENCE_MS = 90_000

/**
 * client-node's Watch with our silence bound. Its own (30 s, a field its
 * types call private but its constructor sets as a plain property) is
 * shorter than a bookmark's interval, so it would end every quiet watch and
 * make its owner list everything again twice a minute.
 */
export function silenceBoundWatch(kc: KubeConfig, silenceMs = WATCH_SILENCE_MS): Watch {
  const w = new Watch(kc)
  ;(w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = silenceMs
  return w
}

/** The longest any request may take, unless the caller's signal ends it sooner (KubeOptions.requestTimeoutMs). */
export const REQUEST_TIMEOUT_MS = 10_000

/** How a PATCH body is read by the API server. */
export type PatchKind = 'merge' | 'strategic' | 'json'
const PATCH_TYPE: Record<PatchKind, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
}

/** Ends a request before its own deadline (REQUEST_TIMEOUT_MS). */
interface Deadline {
  signal?: AbortSignal | undefined
}
interface Named extends Deadline {
  name: string
  namespace: string
}
interface Listed extends Deadline {
  namespace: string
  labelSelector?: string
}
interface Patched extends Named {
  body: unknown
  fieldManager?: string
  kind: PatchKind
}

/** The calls on apps/v1 this service makes. */
export interface AppsApi {
  readNamespacedDeployment(p: Named): Promise<Wire<V1Deployment>>
  readNamespacedStatefulSet(p: Named): Promise<Wire<V1StatefulSet>>
  readNamespacedDaemonSet(p: Named): Promise<Wire<V1DaemonSet>>
  readNamespacedReplicaSet(p: Named): Promise<Wire<V1ReplicaSet>>
  readNamespacedControllerRevision(p: Named): Promise<Wire<V1ControllerRevision>>
  patchNamespacedDeployment(p: Patched): Promise<Wire<V1Deployment>>
  patchNamespacedStatefulSet(p: Patched): Promise<Wire<V1StatefulSet>>
  patchNamespacedDaemonSet(p: Patched): Promise<Wire<V1DaemonSet>>
  listNamespacedReplicaSet(p: Listed): Promise<Wire<V1ReplicaSetList>>
  listNamespacedControllerRevision(p: Listed): Promise<Wire<V1ControllerRevisionList>>
}

/** The calls on core/v1. */
export interface CoreApi {
  listNamespacedPod(p: Listed): Promise<Wire<V1PodList>>
  createNamespacedPodEviction(p: Named & { body: Wire<V1Eviction> }): Promise<unknown>
  deleteNamespacedPod(p: Named): Promise<unknown>
  createNamespacedEvent(p: Deadline & { namespace: string; body: Wire<CoreV1Event> }): Promise<unknown>
  listNamespacedConfigMap(p: Listed): Promise<Wire<V1ConfigMapList>>
  readNamespacedConfigMap(p: Named): Promise<Wire<V1ConfigMap>>
  createNamespacedConfigMap(
    p: Deadline & { namespace: string; body: Wire<V1ConfigMap>; fieldManager?: string },
  ): Promise<Wire<V1ConfigMap>>
  replaceNamespacedConfigMap(p: Named & { body: Wire<V1ConfigMap>; fieldManager?: string }): Promise<Wire<V1ConfigMap>>
}

/** The calls on coordination.k8s.io/v1. */
export interface CoordinationApi {
  readNamespacedLease(p: Named): Promise<Wire<V1Lease>>
  createNamespacedLease(p: Deadline & { namespace: string; body: Wire<V1Lease> }): Promise<Wire<V1Lease>>
  replaceNamespacedLease(p: Named & { body: Wire<V1Lease> }): Promise<Wire<V1Lease>>
}

/** GET /version. */
export interface VersionApi {
  getCode(p?: Deadline): Promise<Wire<VersionInfo>>
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
interface CallOptions extends Deadline {
  query?: Record<string, string | undefined>
  body?: unknown
  contentType?: string
}
type Call = <T>(method: Method, path: string, opts?: CallOptions) => Promise<T>

const USER_AGENT = `kube-recycler/${VERSION}`

/** `/<group prefix>/namespaces/<ns>/<plural>[/<name>]`, each segment encoded. */
function namespaced(prefix: string, ns: string, plural: string, name?: string): string {
  return `${prefix}/namespaces/${encodeURIComponent(ns)}/${plural}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`
}

/** One authenticated JSON request to the current cluster's API server. */
function caller(kc: KubeConfig, timeoutMs = REQUEST_TIMEOUT_MS): Call {
  return async <T>(method: Method, path: string, opts: CallOptions = {}): Promise<T> => {
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new Error('no current cluster in the kubeconfig')
    const url = new URL(cluster.server.replace(/\/+$/, '') + path)
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v)
    const ctx = new RequestContext(url.toString(), method as never)
    // The deadline counts from here. An exec credential plugin that hangs is
    // not ended by it (client-node runs the plugin without a deadline or a
    // signal); the request is not sent after the deadline has passed.
    const deadline = AbortSignal.timeout(timeoutMs)
    const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline
    // Credentials (a token that may rotate, a client certificate) and the
    // dispatcher that carries them: KubeConfig's, as for its own requests.
    await kc.applySecurityAuthentication(ctx)
    signal.throwIfAborted()
    const res = await request(url, {
      method,
      signal,
      // undici's own timers (300 s by default) as a second net under the signal.
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      headers: {
        ...ctx.getHeaders(),
        accept: 'application/json',
        'user-agent': USER_AGENT,
        ...(opts.body !== undefined ? { 'content-type': opts.contentType ?? 'application/json' } : {}),
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      dispatcher: ctx.getDispatcher() as never,
    })
    const text = await res.body.text()
    if (res.statusCode < 200 || res.statusCode > 299) {
      // The API server's Status object; kubeError reads only its message.
      throw new ApiException(res.statusCode, `HTTP ${res.statusCode}`, text, {})
    }
    return (text === '' ? {} : JSON.parse(text)) as T
  }
}

/**
 * One watch as lean as a request: GET ?watch=true on the shared connection,
 * each line of the answer parsed and handed to onEvent, until the server
 * ends it, the signal aborts, or nothing (no event, no bookmark) came for
 * silenceMs. client-node's Watch goes through fetch and web streams and a
 * readline per watch (about 38 KB of RSS each): fine for a few, not for one
 * per site. `done` is called once, with the error if it failed (a status
 * outside 2xx is an ApiException, as for every call here).
 */
export function leanWatch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | undefined>,
  onEvent: (type: string, object: unknown) => void,
  done: (err?: unknown) => void,
  opts: { signal: AbortSignal; silenceMs?: number },
): void {
  const silenceMs = opts.silenceMs ?? WATCH_SILENCE_MS
  const stop = new AbortController()
  const signal = AbortSignal.any([opts.signal, stop.signal])
  let timer: NodeJS.Timeout | undefined
  let ended = false
  const end = (err?: unknown): void => {
    if (ended) return
    ended = true
    clearTimeout(timer)
    stop.abort()
    done(err)
  }
  const quiet = (): void => {
    clearTimeout(timer)
    timer = setTimeout(
      () => end(new DOMException(`the watch was silent for ${silenceMs} ms`, 'TimeoutError')),
      silenceMs,
    )
    timer.unref()
  }
  void (async () => {
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new Error('no current cluster in the kubeconfig')
    const url = new URL(cluster.server.replace(/\/+$/, '') + path)
    url.searchParams.set('watch', 'true')
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v)
    const ctx = new RequestContext(url.toString(), 'GET' as never)
    await kc.applySecurityAuthentication(ctx)
    signal.throwIfAborted()
    quiet()
    const res = await request(url, {
      method: 'GET',
      signal,
      headersTimeout: silenceMs,
      bodyTimeout: 0,
      headers: { ...ctx.getHeaders(), accept: 'application/json', 'user-agent': USER_AGENT },
      dispatcher: ctx.getDispatcher() as never,
    })
    if (res.statusCode < 200 || res.statusCode > 299) {
      const text = await res.body.text()
      throw new ApiException(res.statusCode, `HTTP ${res.statusCode}`, text, {})
    }
    let rest = ''
    res.body.setEncoding('utf8')
    for await (const chunk of res.body as AsyncIterable<string>) {
      quiet()
      rest += chunk
      let nl: number
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl)
        rest = rest.slice(nl + 1)
        if (line.trim() === '') continue
        let ev: { type?: string; object?: unknown }
        try {
          ev = JSON.parse(line) as { type?: string; object?: unknown }
        } catch {
          continue
        }
        if (ev.type) onEvent(ev.type, ev.object)
      }
    }
  })().then(
    () => end(),
    (e: unknown) => end(opts.signal.aborted ? undefined : e),
  )
}

export function appsApi(kc: KubeConfig, timeoutMs?: number): AppsApi {
  const call = caller(kc, timeoutMs)
  const at = (ns: string, plural: string, name?: string): string => namespaced('/apis/apps/v1', ns, plural, name)
  const patch = <T>(plural: string, p: Patched): Promise<T> =>
    call<T>('PATCH', at(p.namespace, plural, p.name), {
      signal: p.signal,
      query: { fieldManager: p.fieldManager },
      body: p.body,
      contentType: PATCH_TYPE[p.kind],
    })
  return {
    readNamespacedDeployment: (p) => call('GET', at(p.namespace, 'deployments', p.name), { signal: p.signal }),
    readNamespacedStatefulSet: (p) => call('GET', at(p.namespace, 'statefulsets', p.name), { signal: p.signal }),
    readNamespacedDaemonSet: (p) => call('GET', at(p.namespace, 'daemonsets', p.name), { signal: p.signal }),
    readNamespacedReplicaSet: (p) => call('GET', at(p.namespace, 'replicasets', p.name), { signal: p.signal }),
    readNamespacedControllerRevision: (p) =>
      call('GET', at(p.namespace, 'controllerrevisions', p.name), { signal: p.signal }),
    patchNamespacedDeployment: (p) => patch('deployments', p),
    patchNamespacedStatefulSet: (p) => patch('statefulsets', p),
    patchNamespacedDaemonSet: (p) => patch('daemonsets', p),
    listNamespacedReplicaSet: (p) =>
      call('GET', at(p.namespace, 'replicasets'), { signal: p.signal, query: { labelSelector: p.labelSelector } }),
    listNamespacedControllerRevision: (p) =>
      call('GET', at(p.namespace, 'controllerrevisions'), {
        signal: p.signal,
        query: { labelSelector: p.labelSelector },
      }),
  }
}

export function coreApi(kc: KubeConfig, timeoutMs?: number): CoreApi {
  const call = caller(kc, timeoutMs)
  const at = (ns: string, plural: string, name?: string): string => namespaced('/api/v1', ns, plural, name)
  return {
    listNamespacedPod: (p) =>
      call('GET', at(p.namespace, 'pods'), { signal: p.signal, query: { labelSelector: p.labelSelector } }),
    createNamespacedPodEviction: (p) =>
      call('POST', `${at(p.namespace, 'pods', p.name)}/eviction`, { signal: p.signal, body: p.body }),
    deleteNamespacedPod: (p) => call('DELETE', at(p.namespace, 'pods', p.name), { signal: p.signal }),
    createNamespacedEvent: (p) => call('POST', at(p.namespace, 'events'), { signal: p.signal, body: p.body }),
    listNamespacedConfigMap: (p) =>
      call('GET', at(p.namespace, 'configmaps'), { signal: p.signal, query: { labelSelector: p.labelSelector } }),
    readNamespacedConfigMap: (p) => call('GET', at(p.namespace, 'configmaps', p.name), { signal: p.signal }),
    createNamespacedConfigMap: (p) =>
      call('POST', at(p.namespace, 'configmaps'), {
        signal: p.signal,
        query: { fieldManager: p.fieldManager },
        body: p.body,
      }),
    replaceNamespacedConfigMap: (p) =>
      call('PUT', at(p.namespace, 'configmaps', p.name), {
        signal: p.signal,
        query: { fieldManager: p.fieldManager },
        body: p.body,
      }),
  }
}

export function coordinationApi(kc: KubeConfig, timeoutMs?: number): CoordinationApi {
  const call = caller(kc, timeoutMs)
  const at = (ns: string, name?: string): string => namespaced('/apis/coordination.k8s.io/v1', ns, 'leases', name)
  return {
    readNamespacedLease: (p) => call('GET', at(p.namespace, p.name), { signal: p.signal }),
    createNamespacedLease: (p) => call('POST', at(p.namespace), { signal: p.signal, body: p.body }),
    replaceNamespacedLease: (p) => call('PUT', at(p.namespace, p.name), { signal: p.signal, body: p.body }),
  }
}

export function versionApi(kc: KubeConfig, timeoutMs?: number): VersionApi {
  const call = caller(kc, timeoutMs)
  return { getCode: (p) => call('GET', '/version', { signal: p?.signal }) }
}
