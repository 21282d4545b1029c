// kube-recycler's state objects: ConfigMaps in its own namespace, labelled
// as ours (one per site; and the leader's heartbeat, labelled apart so
// `-l kube-recycler.io/state=site` lists the sites only), the text in one data key. Written with the
// resourceVersion precondition (409 = another replica wrote first); watched
// so every replica sees every write.

import type * as Model from '@kubernetes/client-node'
import { ApiException, coreApi, silenceBoundWatch, type KubeConfig, type Wire } from './api.ts'
import { Errors } from '../errors.ts'
import { kubeError } from './errors.ts'
import type { ObjectStore, StoredObject } from './types.ts'

type V1ConfigMap = Wire<Model.V1ConfigMap>

export const STATE_LABEL = 'kube-recycler.io/state'
export type ObjectKind = 'site' | 'heartbeat'
const DATA_KEY: Record<ObjectKind, string> = { site: 'state.json', heartbeat: 'heartbeat.json' }

export function createObjectStore(
  kc: KubeConfig,
  namespace: string,
  kind: ObjectKind = 'site',
  opts: { requestTimeoutMs?: number | undefined; watchSilenceMs?: number | undefined } = {},
): ObjectStore {
  const SELECTOR = `${STATE_LABEL}=${kind}`
  const key = DATA_KEY[kind]
  const stored = (cm: V1ConfigMap): StoredObject => ({
    data: cm.data?.[key] ?? '',
    version: cm.metadata?.resourceVersion ?? '',
  })
  const core = coreApi(kc, opts.requestTimeoutMs)
  const watcher = silenceBoundWatch(kc, opts.watchSilenceMs)
  const body = (name: string, data: string, version: string | undefined): V1ConfigMap => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace,
      labels: { [STATE_LABEL]: kind, 'app.kubernetes.io/managed-by': 'kube-recycler' },
      ...(version ? { resourceVersion: version } : {}),
    },
    data: { [key]: data },
  })
  return {
    async list(signal) {
      try {
        const l = await core.listNamespacedConfigMap({ namespace, labelSelector: SELECTOR, signal })
        const items = new Map<string, StoredObject>()
        for (const cm of l.items) if (cm.metadata?.name) items.set(cm.metadata.name, stored(cm))
        return { items, version: l.metadata?.resourceVersion ?? '' }
      } catch (e) {
        throw kubeError(e, `list state ConfigMaps in ${namespace}`)
      }
    },
    async read(name, signal) {
      try {
        return stored(await core.readNamespacedConfigMap({ name, namespace, signal }))
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return undefined
        throw kubeError(e, `read ConfigMap ${namespace}/${name}`)
      }
    },
    async write(name, data, version, signal) {
      try {
        const out = version
          ? await core.replaceNamespacedConfigMap({
              name,
              namespace,
              body: body(name, data, version),
              fieldManager: 'kube-recycler',
              signal,
            })
          : await core.createNamespacedConfigMap({
              namespace,
              body: body(name, data, undefined),
              fieldManager: 'kube-recycler',
              signal,
            })
        return out.metadata?.resourceVersion ?? ''
      } catch (e) {
        // 409 on create (it exists) or on replace (it moved): read again and retry.
        if (e instanceof ApiException && e.code === 409)
          throw Errors.kubeConflict(`ConfigMap ${namespace}/${name}: written by another replica first`)
        // Replacing an object someone deleted: say conflict too, so the caller reads (and creates) again.
        if (e instanceof ApiException && e.code === 404 && version)
          throw Errors.kubeConflict(`ConfigMap ${namespace}/${name}: deleted underneath us`)
        throw kubeError(e, `write ConfigMap ${namespace}/${name}`)
      }
    },
    async watch(version, onEvent, signal) {
      if (signal.aborted) return
      await new Promise<void>((resolve) => {
        let controller: AbortController | undefined
        const onAbort = (): void => {
          controller?.abort()
          resolve()
        }
        signal.addEventListener('abort', onAbort, { once: true })
        const done = (): void => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        }
        watcher
          .watch(
            `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`,
            { labelSelector: SELECTOR, resourceVersion: version, allowWatchBookmarks: true },
            (phase, obj) => {
              const cm = obj as V1ConfigMap
              const name = cm.metadata?.name
              if (!name) return
              if (phase === 'ADDED' || phase === 'MODIFIED') onEvent({ name, object: stored(cm) })
              else if (phase === 'DELETED') onEvent({ name, object: undefined })
            },
            () => done(),
          )
          .then(
            (c) => {
              controller = c
              if (signal.aborted) c.abort()
            },
            () => done(),
          )
      })
    },
  }
}
