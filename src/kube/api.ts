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
// Answers are plain JSON, as Watch gives them: date-time fields are the
// API server's strings, not the Date objects the model types promise;
// every reader in client.ts and lease.ts goes through `new Date(…)`.
//
// Only src/kube/ imports this file; the rest of the house sees types.ts.

import { request } from 'undici'
import { KubeConfig } from '@kubernetes/client-node/dist/config.js'
import { Watch } from '@kubernetes/client-node/dist/watch.js'
import { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js'
import { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js'
import type {
  CoreV1Event, V1ConfigMap, V1ConfigMapList, V1ControllerRevision, V1ControllerRevisionList, V1DaemonSet, V1Deployment,
  V1Eviction, V1Lease, V1PodList, V1ReplicaSet, V1ReplicaSetList, V1StatefulSet, VersionInfo,
} from '@kubernetes/client-node'
import { VERSION } from '../version.ts'

export { ApiException, KubeConfig, Watch }

/** How a PATCH body is read by the API server. */
export type PatchKind = 'merge' | 'strategic' | 'json'
const PATCH_TYPE: Record<PatchKind, string> = { merge: 'application/merge-patch+json', strategic: 'application/strategic-merge-patch+json', json: 'application/json-patch+json' }

interface Named { name: string; namespace: string }
interface Listed { namespace: string; labelSelector?: string }
interface Patched extends Named { body: unknown; fieldManager?: string; kind: PatchKind }

/** The calls on apps/v1 this service makes. */
export interface AppsApi {
  readNamespacedDeployment(p: Named): Promise<V1Deployment>
  readNamespacedStatefulSet(p: Named): Promise<V1StatefulSet>
  readNamespacedDaemonSet(p: Named): Promise<V1DaemonSet>
  readNamespacedReplicaSet(p: Named): Promise<V1ReplicaSet>
  readNamespacedControllerRevision(p: Named): Promise<V1ControllerRevision>
  patchNamespacedDeployment(p: Patched): Promise<V1Deployment>
  patchNamespacedStatefulSet(p: Patched): Promise<V1StatefulSet>
  patchNamespacedDaemonSet(p: Patched): Promise<V1DaemonSet>
  listNamespacedReplicaSet(p: Listed): Promise<V1ReplicaSetList>
  listNamespacedControllerRevision(p: Listed): Promise<V1ControllerRevisionList>
}

/** The calls on core/v1. */
export interface CoreApi {
  listNamespacedPod(p: Listed): Promise<V1PodList>
  createNamespacedPodEviction(p: Named & { body: V1Eviction }): Promise<unknown>
  deleteNamespacedPod(p: Named): Promise<unknown>
  createNamespacedEvent(p: { namespace: string; body: CoreV1Event }): Promise<unknown>
  listNamespacedConfigMap(p: Listed): Promise<V1ConfigMapList>
  readNamespacedConfigMap(p: Named): Promise<V1ConfigMap>
  createNamespacedConfigMap(p: { namespace: string; body: V1ConfigMap; fieldManager?: string }): Promise<V1ConfigMap>
  replaceNamespacedConfigMap(p: Named & { body: V1ConfigMap; fieldManager?: string }): Promise<V1ConfigMap>
}

/** The calls on coordination.k8s.io/v1. */
export interface CoordinationApi {
  readNamespacedLease(p: Named): Promise<V1Lease>
  createNamespacedLease(p: { namespace: string; body: V1Lease }): Promise<V1Lease>
  replaceNamespacedLease(p: Named & { body: V1Lease }): Promise<V1Lease>
}

/** GET /version. */
export interface VersionApi {
  getCode(): Promise<VersionInfo>
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
interface CallOptions { query?: Record<string, string | undefined>; body?: unknown; contentType?: string }
type Call = <T>(method: Method, path: string, opts?: CallOptions) => Promise<T>

const USER_AGENT = `kube-recycler/${VERSION}`

/** `/<group prefix>/namespaces/<ns>/<plural>[/<name>]`, each segment encoded. */
function namespaced(prefix: string, ns: string, plural: string, name?: string): string {
  return `${prefix}/namespaces/${encodeURIComponent(ns)}/${plural}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`
}

/** One authenticated JSON request to the current cluster's API server. */
function caller(kc: KubeConfig): Call {
  return async <T>(method: Method, path: string, opts: CallOptions = {}): Promise<T> => {
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new Error('no current cluster in the kubeconfig')
    const url = new URL(cluster.server.replace(/\/+$/, '') + path)
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v)
    const ctx = new RequestContext(url.toString(), method as never)
    // Credentials (a token that may rotate, a client certificate) and the
    // dispatcher that carries them: KubeConfig's, as for its own requests.
    await kc.applySecurityAuthentication(ctx)
    const res = await request(url, {
      method,
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

export function appsApi(kc: KubeConfig): AppsApi {
  const call = caller(kc)
  const at = (ns: string, plural: string, name?: string): string => namespaced('/apis/apps/v1', ns, plural, name)
  const patch = <T>(plural: string, p: Patched): Promise<T> => call<T>('PATCH', at(p.namespace, plural, p.name), { query: { fieldManager: p.fieldManager }, body: p.body, contentType: PATCH_TYPE[p.kind] })
  return {
    readNamespacedDeployment: (p) => call('GET', at(p.namespace, 'deployments', p.name)),
    readNamespacedStatefulSet: (p) => call('GET', at(p.namespace, 'statefulsets', p.name)),
    readNamespacedDaemonSet: (p) => call('GET', at(p.namespace, 'daemonsets', p.name)),
    readNamespacedReplicaSet: (p) => call('GET', at(p.namespace, 'replicasets', p.name)),
    readNamespacedControllerRevision: (p) => call('GET', at(p.namespace, 'controllerrevisions', p.name)),
    patchNamespacedDeployment: (p) => patch('deployments', p),
    patchNamespacedStatefulSet: (p) => patch('statefulsets', p),
    patchNamespacedDaemonSet: (p) => patch('daemonsets', p),
    listNamespacedReplicaSet: (p) => call('GET', at(p.namespace, 'replicasets'), { query: { labelSelector: p.labelSelector } }),
    listNamespacedControllerRevision: (p) => call('GET', at(p.namespace, 'controllerrevisions'), { query: { labelSelector: p.labelSelector } }),
  }
}

export function coreApi(kc: KubeConfig): CoreApi {
  const call = caller(kc)
  const at = (ns: string, plural: string, name?: string): string => namespaced('/api/v1', ns, plural, name)
  return {
    listNamespacedPod: (p) => call('GET', at(p.namespace, 'pods'), { query: { labelSelector: p.labelSelector } }),
    createNamespacedPodEviction: (p) => call('POST', `${at(p.namespace, 'pods', p.name)}/eviction`, { body: p.body }),
    deleteNamespacedPod: (p) => call('DELETE', at(p.namespace, 'pods', p.name)),
    createNamespacedEvent: (p) => call('POST', at(p.namespace, 'events'), { body: p.body }),
    listNamespacedConfigMap: (p) => call('GET', at(p.namespace, 'configmaps'), { query: { labelSelector: p.labelSelector } }),
    readNamespacedConfigMap: (p) => call('GET', at(p.namespace, 'configmaps', p.name)),
    createNamespacedConfigMap: (p) => call('POST', at(p.namespace, 'configmaps'), { query: { fieldManager: p.fieldManager }, body: p.body }),
    replaceNamespacedConfigMap: (p) => call('PUT', at(p.namespace, 'configmaps', p.name), { query: { fieldManager: p.fieldManager }, body: p.body }),
  }
}

export function coordinationApi(kc: KubeConfig): CoordinationApi {
  const call = caller(kc)
  const at = (ns: string, name?: string): string => namespaced('/apis/coordination.k8s.io/v1', ns, 'leases', name)
  return {
    readNamespacedLease: (p) => call('GET', at(p.namespace, p.name)),
    createNamespacedLease: (p) => call('POST', at(p.namespace), { body: p.body }),
    replaceNamespacedLease: (p) => call('PUT', at(p.namespace, p.name), { body: p.body }),
  }
}

export function versionApi(kc: KubeConfig): VersionApi {
  const call = caller(kc)
  return { getCode: () => call('GET', '/version') }
}
