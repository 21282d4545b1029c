// The part of @kubernetes/client-node this service calls, loaded module by
// module. The package's entry (and KubeConfig's own import of its generated
// index) loads every API group twice over (the Promise and Observable
// wrappers, 14 MB of source) and every model: ~24 MB of RSS for the life of
// the process, for the 21 calls below (docs/benchmarks.md). Here each call
// is the generated request factory and response processor of its group,
// run the way the generated wrapper runs them (middleware in, send,
// middleware out, the processor's typed answer or its ApiException); load.ts
// keeps KubeConfig from loading the generated index.
//
// Only src/kube/ imports this file; the rest of the house sees types.ts.

import { KubeConfig } from '@kubernetes/client-node/dist/config.js'
import { Watch } from '@kubernetes/client-node/dist/watch.js'
import { PatchStrategy } from '@kubernetes/client-node/dist/patch.js'
import { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js'
import { AppsV1ApiRequestFactory, AppsV1ApiResponseProcessor } from '@kubernetes/client-node/dist/gen/apis/AppsV1Api.js'
import { CoreV1ApiRequestFactory, CoreV1ApiResponseProcessor } from '@kubernetes/client-node/dist/gen/apis/CoreV1Api.js'
import { CoordinationV1ApiRequestFactory, CoordinationV1ApiResponseProcessor } from '@kubernetes/client-node/dist/gen/apis/CoordinationV1Api.js'
import { VersionApiRequestFactory, VersionApiResponseProcessor } from '@kubernetes/client-node/dist/gen/apis/VersionApi.js'
import type { Configuration } from '@kubernetes/client-node/dist/gen/configuration.js'
import type { HttpInfo, RequestContext, ResponseContext } from '@kubernetes/client-node/dist/gen/http/http.js'
import type {
  CoreV1Event, V1ConfigMap, V1ConfigMapList, V1ControllerRevision, V1ControllerRevisionList, V1DaemonSet, V1Deployment,
  V1Eviction, V1Lease, V1PodList, V1ReplicaSet, V1ReplicaSetList, V1StatefulSet, VersionInfo,
} from '@kubernetes/client-node'

export { ApiException, KubeConfig, Watch }

/** How a PATCH body is read by the API server. */
export type PatchKind = 'merge' | 'strategic' | 'json'
const PATCH_TYPE: Record<PatchKind, string> = { merge: PatchStrategy.MergePatch, strategic: PatchStrategy.StrategicMergePatch, json: PatchStrategy.JsonPatch }

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

type Call = <T>(make: (config: Configuration) => Promise<RequestContext>, take: (response: ResponseContext) => Promise<HttpInfo<T>>, contentType?: string) => Promise<T>

/**
 * The configuration KubeConfig gives an API client (its server, its
 * authentication, its User-Agent middleware), taken by handing makeApiClient
 * a class that only keeps it; and one call run as client-node's generated
 * wrapper runs it.
 */
function caller(kc: KubeConfig): { config: Configuration; call: Call } {
  const { config } = kc.makeApiClient(class {
    config: Configuration
    constructor(config: Configuration) { this.config = config }
  })
  const call: Call = async (make, take, contentType) => {
    let request = await make(config)
    // What client-node's setHeaderOptions middleware does for a patch.
    if (contentType) request.setHeaderParam('Content-Type', contentType)
    for (const m of config.middleware) request = await m.pre(request).toPromise()
    let response = await config.httpApi.send(request).toPromise()
    for (const m of [...config.middleware].reverse()) response = await m.post(response).toPromise()
    return (await take(response)).data
  }
  return { config, call }
}

export function appsApi(kc: KubeConfig): AppsApi {
  const { config, call } = caller(kc)
  const f = new AppsV1ApiRequestFactory(config)
  const r = new AppsV1ApiResponseProcessor()
  return {
    readNamespacedDeployment: (p) => call((c) => f.readNamespacedDeployment(p.name, p.namespace, undefined, c), (x) => r.readNamespacedDeploymentWithHttpInfo(x)),
    readNamespacedStatefulSet: (p) => call((c) => f.readNamespacedStatefulSet(p.name, p.namespace, undefined, c), (x) => r.readNamespacedStatefulSetWithHttpInfo(x)),
    readNamespacedDaemonSet: (p) => call((c) => f.readNamespacedDaemonSet(p.name, p.namespace, undefined, c), (x) => r.readNamespacedDaemonSetWithHttpInfo(x)),
    readNamespacedReplicaSet: (p) => call((c) => f.readNamespacedReplicaSet(p.name, p.namespace, undefined, c), (x) => r.readNamespacedReplicaSetWithHttpInfo(x)),
    readNamespacedControllerRevision: (p) => call((c) => f.readNamespacedControllerRevision(p.name, p.namespace, undefined, c), (x) => r.readNamespacedControllerRevisionWithHttpInfo(x)),
    patchNamespacedDeployment: (p) => call((c) => f.patchNamespacedDeployment(p.name, p.namespace, p.body, undefined, undefined, p.fieldManager, undefined, undefined, c), (x) => r.patchNamespacedDeploymentWithHttpInfo(x), PATCH_TYPE[p.kind]),
    patchNamespacedStatefulSet: (p) => call((c) => f.patchNamespacedStatefulSet(p.name, p.namespace, p.body, undefined, undefined, p.fieldManager, undefined, undefined, c), (x) => r.patchNamespacedStatefulSetWithHttpInfo(x), PATCH_TYPE[p.kind]),
    patchNamespacedDaemonSet: (p) => call((c) => f.patchNamespacedDaemonSet(p.name, p.namespace, p.body, undefined, undefined, p.fieldManager, undefined, undefined, c), (x) => r.patchNamespacedDaemonSetWithHttpInfo(x), PATCH_TYPE[p.kind]),
    // (namespace, pretty, allowWatchBookmarks, _continue, fieldSelector, labelSelector, …)
    listNamespacedReplicaSet: (p) => call((c) => f.listNamespacedReplicaSet(p.namespace, undefined, undefined, undefined, undefined, p.labelSelector, undefined, undefined, undefined, undefined, undefined, undefined, undefined, c), (x) => r.listNamespacedReplicaSetWithHttpInfo(x)),
    listNamespacedControllerRevision: (p) => call((c) => f.listNamespacedControllerRevision(p.namespace, undefined, undefined, undefined, undefined, p.labelSelector, undefined, undefined, undefined, undefined, undefined, undefined, undefined, c), (x) => r.listNamespacedControllerRevisionWithHttpInfo(x)),
  }
}

export function coreApi(kc: KubeConfig): CoreApi {
  const { config, call } = caller(kc)
  const f = new CoreV1ApiRequestFactory(config)
  const r = new CoreV1ApiResponseProcessor()
  return {
    listNamespacedPod: (p) => call((c) => f.listNamespacedPod(p.namespace, undefined, undefined, undefined, undefined, p.labelSelector, undefined, undefined, undefined, undefined, undefined, undefined, undefined, c), (x) => r.listNamespacedPodWithHttpInfo(x)),
    createNamespacedPodEviction: (p) => call((c) => f.createNamespacedPodEviction(p.name, p.namespace, p.body, undefined, undefined, undefined, undefined, c), (x) => r.createNamespacedPodEvictionWithHttpInfo(x)),
    deleteNamespacedPod: (p) => call((c) => f.deleteNamespacedPod(p.name, p.namespace, undefined, undefined, undefined, undefined, undefined, undefined, undefined, c), (x) => r.deleteNamespacedPodWithHttpInfo(x)),
    createNamespacedEvent: (p) => call((c) => f.createNamespacedEvent(p.namespace, p.body, undefined, undefined, undefined, undefined, c), (x) => r.createNamespacedEventWithHttpInfo(x)),
    listNamespacedConfigMap: (p) => call((c) => f.listNamespacedConfigMap(p.namespace, undefined, undefined, undefined, undefined, p.labelSelector, undefined, undefined, undefined, undefined, undefined, undefined, undefined, c), (x) => r.listNamespacedConfigMapWithHttpInfo(x)),
    readNamespacedConfigMap: (p) => call((c) => f.readNamespacedConfigMap(p.name, p.namespace, undefined, c), (x) => r.readNamespacedConfigMapWithHttpInfo(x)),
    createNamespacedConfigMap: (p) => call((c) => f.createNamespacedConfigMap(p.namespace, p.body, undefined, undefined, p.fieldManager, undefined, c), (x) => r.createNamespacedConfigMapWithHttpInfo(x)),
    replaceNamespacedConfigMap: (p) => call((c) => f.replaceNamespacedConfigMap(p.name, p.namespace, p.body, undefined, undefined, p.fieldManager, undefined, c), (x) => r.replaceNamespacedConfigMapWithHttpInfo(x)),
  }
}

export function coordinationApi(kc: KubeConfig): CoordinationApi {
  const { config, call } = caller(kc)
  const f = new CoordinationV1ApiRequestFactory(config)
  const r = new CoordinationV1ApiResponseProcessor()
  return {
    readNamespacedLease: (p) => call((c) => f.readNamespacedLease(p.name, p.namespace, undefined, c), (x) => r.readNamespacedLeaseWithHttpInfo(x)),
    createNamespacedLease: (p) => call((c) => f.createNamespacedLease(p.namespace, p.body, undefined, undefined, undefined, undefined, c), (x) => r.createNamespacedLeaseWithHttpInfo(x)),
    replaceNamespacedLease: (p) => call((c) => f.replaceNamespacedLease(p.name, p.namespace, p.body, undefined, undefined, undefined, undefined, c), (x) => r.replaceNamespacedLeaseWithHttpInfo(x)),
  }
}

export function versionApi(kc: KubeConfig): VersionApi {
  const { config, call } = caller(kc)
  const f = new VersionApiRequestFactory(config)
  const r = new VersionApiResponseProcessor()
  return { getCode: () => call((c) => f.getCode(c), (x) => r.getCodeWithHttpInfo(x)) }
}
