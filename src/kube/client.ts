// The only file that talks to @kubernetes/client-node. It loads a
// kubeconfig (KUBECONFIG, ~/.kube/config, or in-cluster), offers the narrow
// face in types.ts, and maps every API failure to our own error codes
// without ever logging ApiException.message (it carries response headers).

import type * as Model from '@kubernetes/client-node'
import {
  ApiException,
  appsApi,
  coreApi,
  KubeConfig,
  REQUEST_TIMEOUT_MS,
  silenceBoundWatch,
  versionApi,
  type PatchKind,
  type Wire,
} from './api.ts'
import type { Logger } from 'pino'
import { Errors } from '../errors.ts'
import { kubeError } from './errors.ts'
import {
  CANARY_ANNOTATION,
  CANARY_HOLD_SECONDS,
  COMMIT_ANNOTATION,
  type CanaryMark,
  type EvictResult,
  type Kube,
  type KubeEvent,
  type PodState,
  type TemplateContainer,
  type WorkloadCache,
  type WorkloadRef,
  type WorkloadState,
} from './types.ts'
import { createLeaseApi } from './lease.ts'
import { createObjectStore } from './objects.ts'
import { findKubeconfig } from './find.ts'
import { shareOneConnectionPool, WRITE_CONNECTIONS } from './dispatcher.ts'
import { createWorkloadCache } from './cache.ts'

export { findKubeconfig, kubeError }

// The model types as the wire carries them (api.ts: dates are strings).
type V1Container = Wire<Model.V1Container>
type V1DaemonSet = Wire<Model.V1DaemonSet>
type V1Deployment = Wire<Model.V1Deployment>
type V1PodTemplateSpec = Wire<Model.V1PodTemplateSpec>
type V1LabelSelector = Wire<Model.V1LabelSelector>
type V1Pod = Wire<Model.V1Pod>
type V1StatefulSet = Wire<Model.V1StatefulSet>
type AnyWorkload = V1Deployment | V1StatefulSet | V1DaemonSet

export interface KubeOptions {
  /** A kubeconfig file; default KUBECONFIG, ~/.kube/config, then in-cluster. */
  kubeconfig?: string
  logger: Logger
  env?: NodeJS.ProcessEnv
  /** Recorded as the Event source and the field manager. */
  component?: string
  /** Every request is aborted after this long (default api.ts REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number
  /** A watch silent this long (no event, no bookmark) is ended and started again from a fresh read (default WATCH_SILENCE_MS). */
  watchSilenceMs?: number
}

function selectorString(sel: V1LabelSelector | undefined): string {
  if (!sel) return ''
  const parts: string[] = []
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`)
  for (const ex of sel.matchExpressions ?? []) {
    const values = (ex.values ?? []).join(',')
    switch (ex.operator) {
      case 'In':
        parts.push(`${ex.key} in (${values})`)
        break
      case 'NotIn':
        parts.push(`${ex.key} notin (${values})`)
        break
      case 'Exists':
        parts.push(ex.key)
        break
      case 'DoesNotExist':
        parts.push(`!${ex.key}`)
        break
    }
  }
  return parts.join(',')
}

export function toWorkloadState(ref: WorkloadRef, w: AnyWorkload): WorkloadState {
  const meta = w.metadata ?? {}
  const base = {
    ref,
    uid: meta.uid ?? '',
    resourceVersion: meta.resourceVersion ?? '',
    generation: meta.generation ?? 0,
    annotations: { ...(meta.annotations ?? {}) },
    templateAnnotations: { ...(w.spec?.template?.metadata?.annotations ?? {}) },
    selector: selectorString(w.spec?.selector),
    conditions: (
      (
        w.status as
          | {
              conditions?: {
                type: string
                status: string
                reason?: string
                message?: string
                lastUpdateTime?: string
                lastTransitionTime?: string
              }[]
            }
          | undefined
      )?.conditions ?? []
    ).map((c) => {
      const at = c.lastUpdateTime ?? c.lastTransitionTime
      return {
        type: c.type,
        status: c.status,
        ...(c.reason ? { reason: c.reason } : {}),
        ...(c.message ? { message: c.message } : {}),
        ...(at ? { lastUpdateTime: new Date(at).toISOString() } : {}),
      }
    }),
    minReadySeconds: (w.spec as { minReadySeconds?: number } | undefined)?.minReadySeconds ?? 0,
    readyBudgetSeconds: readyBudgetSeconds(w.spec?.template),
    containers: templateContainers(w.spec?.template),
  }
  if (ref.kind === 'Deployment') {
    const d = w as V1Deployment
    const revision = Number(meta.annotations?.[DEPLOYMENT_REVISION])
    return {
      ...base,
      ...(Number.isInteger(revision) && revision > 0 ? { revision } : {}),
      observedGeneration: d.status?.observedGeneration ?? 0,
      desired: d.spec?.replicas ?? 1,
      current: d.status?.replicas ?? 0,
      updated: d.status?.updatedReplicas ?? 0,
      ready: d.status?.readyReplicas ?? 0,
      available: d.status?.availableReplicas ?? 0,
      paused: d.spec?.paused === true,
      updateStrategy: d.spec?.strategy?.type ?? 'RollingUpdate',
      ...(d.spec?.strategy?.rollingUpdate
        ? {
            rollingUpdate: {
              ...(d.spec.strategy.rollingUpdate.maxSurge !== undefined
                ? { maxSurge: d.spec.strategy.rollingUpdate.maxSurge }
                : {}),
              ...(d.spec.strategy.rollingUpdate.maxUnavailable !== undefined
                ? { maxUnavailable: d.spec.strategy.rollingUpdate.maxUnavailable }
                : {}),
            },
          }
        : {}),
      progressDeadlineSeconds: d.spec?.progressDeadlineSeconds ?? 600,
    }
  }
  if (ref.kind === 'StatefulSet') {
    const s = w as V1StatefulSet
    return {
      ...base,
      observedGeneration: s.status?.observedGeneration ?? 0,
      desired: s.spec?.replicas ?? 1,
      current: s.status?.replicas ?? 0,
      updated: s.status?.updatedReplicas ?? 0,
      ready: s.status?.readyReplicas ?? 0,
      available: s.status?.availableReplicas ?? 0,
      paused: false,
      updateStrategy: s.spec?.updateStrategy?.type ?? 'RollingUpdate',
      partition: s.spec?.updateStrategy?.rollingUpdate?.partition ?? 0,
      ...(s.status?.currentRevision ? { currentRevision: s.status.currentRevision } : {}),
      ...(s.status?.updateRevision ? { updateRevision: s.status.updateRevision } : {}),
    }
  }
  const d = w as V1DaemonSet
  return {
    ...base,
    observedGeneration: d.status?.observedGeneration ?? 0,
    desired: d.status?.desiredNumberScheduled ?? 0,
    current: d.status?.currentNumberScheduled ?? 0,
    updated: d.status?.updatedNumberScheduled ?? 0,
    ready: d.status?.numberReady ?? 0,
    available: d.status?.numberAvailable ?? 0,
    paused: false,
    updateStrategy: d.spec?.updateStrategy?.type ?? 'RollingUpdate',
  }
}

const DEPLOYMENT_REVISION = 'deployment.kubernetes.io/revision'

function templateContainers(template: V1PodTemplateSpec | undefined): TemplateContainer[] {
  const of = (c: V1Container, init: boolean): TemplateContainer => ({
    name: c.name,
    init,
    valueFromEnv: (c.env ?? []).filter((e) => e.valueFrom !== undefined).map((e) => e.name),
  })
  return [
    ...(template?.spec?.containers ?? []).map((c) => of(c, false)),
    ...(template?.spec?.initContainers ?? []).map((c) => of(c, true)),
  ]
}

/** See WorkloadState.readyBudgetSeconds; the API server's probe defaults apply. */
export function readyBudgetSeconds(template: V1PodTemplateSpec | undefined): number {
  const containers: V1Container[] = [
    ...(template?.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'),
    ...(template?.spec?.containers ?? []),
  ]
  let worst = 0
  for (const c of containers) {
    const st = c.startupProbe
    const startup = st
      ? (st.initialDelaySeconds ?? 0) + (st.periodSeconds ?? 10) * (st.failureThreshold ?? 3) + (st.timeoutSeconds ?? 1)
      : 0
    const r = c.readinessProbe
    const ready = r
      ? (r.initialDelaySeconds ?? 0) +
        (r.periodSeconds ?? 10) * ((r.failureThreshold ?? 3) + (r.successThreshold ?? 1)) +
        (r.timeoutSeconds ?? 1)
      : 0
    worst = Math.max(worst, startup + ready)
  }
  return worst
}

export function toPodState(p: V1Pod): PodState {
  const statuses = p.status?.containerStatuses ?? []
  // An init container that cannot finish holds every container in
  // PodInitializing: its own state (kubectl's Init:CrashLoopBackOff) and
  // restarts are what say the pod is stuck.
  const inits = p.status?.initContainerStatuses ?? []
  const waiting = [...inits, ...statuses].map((c) => c.state?.waiting?.reason).find((r) => r !== undefined)
  const starts = statuses
    .map((c) => c.state?.running?.startedAt)
    .filter((d) => d !== undefined && d !== null)
    .map((d) => new Date(d!).getTime())
  const readyCond = (p.status?.conditions ?? []).find((c) => c.type === 'Ready')
  const owner = (p.metadata?.ownerReferences ?? []).find((o) => o.controller)
  return {
    name: p.metadata?.name ?? '',
    namespace: p.metadata?.namespace ?? '',
    uid: p.metadata?.uid ?? '',
    phase: p.status?.phase ?? 'Unknown',
    ready: readyCond?.status === 'True',
    terminating: p.metadata?.deletionTimestamp !== undefined && p.metadata?.deletionTimestamp !== null,
    ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
    createdAt: p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).toISOString() : '',
    restarts: [...inits, ...statuses].reduce((n, c) => n + (c.restartCount ?? 0), 0),
    ...(starts.length > 0 ? { startedAt: new Date(Math.max(...starts)).toISOString() } : {}),
    ...(waiting ? { waitingReason: waiting } : {}),
    ...(p.metadata?.annotations?.[COMMIT_ANNOTATION]
      ? { templateCommit: p.metadata.annotations[COMMIT_ANNOTATION] }
      : {}),
    labels: { ...(p.metadata?.labels ?? {}) },
    ...(owner ? { owner: { kind: owner.kind, name: owner.name } } : {}),
    ...(p.status?.podIP ? { ip: p.status.podIP } : {}),
    ports: (p.spec?.containers ?? []).flatMap((c) =>
      (c.ports ?? []).map((port) => ({
        container: c.name,
        ...(port.name ? { name: port.name } : {}),
        containerPort: port.containerPort,
        protocol: port.protocol ?? 'TCP',
      })),
    ),
  }
}

/** The spec fields a canary's hold sets (in the template's own request). */
export function canaryHoldSpec(mark: CanaryMark): Record<string, unknown> {
  return mark.hold.kind === 'surge'
    ? {
        minReadySeconds: CANARY_HOLD_SECONDS,
        progressDeadlineSeconds: CANARY_HOLD_SECONDS + 1,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      }
    : { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: mark.hold.held } } }
}

/** The spec fields that end a canary's hold: what it replaced (null: the API server's default). */
export function canaryReleaseSpec(mark: CanaryMark): Record<string, unknown> {
  if (mark.hold.kind === 'partition')
    return { updateStrategy: { rollingUpdate: { partition: mark.hold.saved.partition } } }
  const s = mark.hold.saved
  return {
    minReadySeconds: s.minReadySeconds,
    progressDeadlineSeconds: s.progressDeadlineSeconds ?? null,
    strategy: { rollingUpdate: { maxSurge: s.maxSurge ?? null, maxUnavailable: s.maxUnavailable ?? null } },
  }
}

const PLURAL: Record<WorkloadRef['kind'], string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
}

export function createKube(opts: KubeOptions): Kube {
  const log = opts.logger.child({ component: 'kube' })
  const component = opts.component ?? 'kube-recycler'
  const kc = new KubeConfig()
  const where = findKubeconfig(opts)
  if (!where) throw Errors.kube('no kubeconfig: set KUBECONFIG, create ~/.kube/config, or run in a cluster')
  if (where.kind === 'file') kc.loadFromFile(where.path)
  else kc.loadFromCluster()
  // A PING every half deadline: a connection whose peer stopped answering
  // (unacked at the next PING) is closed, and the next request connects afresh.
  const pool = shareOneConnectionPool(kc, {
    pingIntervalMs: Math.max(1000, Math.floor((opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS) / 2)),
  })
  const apps = appsApi(kc, opts.requestTimeoutMs)
  const core = coreApi(kc, opts.requestTimeoutMs)
  const version = versionApi(kc, opts.requestTimeoutMs)
  const watcher = silenceBoundWatch(kc, opts.watchSilenceMs)
  const caches = new Set<WorkloadCache>()

  const label = (ref: WorkloadRef): string => `${ref.kind} ${ref.namespace}/${ref.name}`

  async function read(ref: WorkloadRef): Promise<AnyWorkload> {
    const p = { name: ref.name, namespace: ref.namespace }
    switch (ref.kind) {
      case 'Deployment':
        return apps.readNamespacedDeployment(p)
      case 'StatefulSet':
        return apps.readNamespacedStatefulSet(p)
      case 'DaemonSet':
        return apps.readNamespacedDaemonSet(p)
    }
  }

  async function patch(ref: WorkloadRef, body: unknown, kind: PatchKind): Promise<AnyWorkload> {
    const p = { name: ref.name, namespace: ref.namespace, body, fieldManager: component, kind }
    switch (ref.kind) {
      case 'Deployment':
        return apps.patchNamespacedDeployment(p)
      case 'StatefulSet':
        return apps.patchNamespacedStatefulSet(p)
      case 'DaemonSet':
        return apps.patchNamespacedDaemonSet(p)
    }
  }

  /** The workload's own ReplicaSets (Deployment) or ControllerRevisions, by revision number. */
  async function history(
    ref: WorkloadRef,
    w: AnyWorkload,
  ): Promise<Map<number, { commit?: string; name?: string; apply: (end?: CanaryMark) => Promise<AnyWorkload> }>> {
    const uid = w.metadata?.uid
    const labelSelector = selectorString(w.spec?.selector)
    const out = new Map<number, { commit?: string; name?: string; apply: (end?: CanaryMark) => Promise<AnyWorkload> }>()
    // A canary's undo: the hold ends and the mark is written in the template's own request.
    const mark = (end: CanaryMark) => ({ annotations: { [CANARY_ANNOTATION]: JSON.stringify(end) } })
    if (ref.kind === 'Deployment') {
      const list = await apps.listNamespacedReplicaSet({ namespace: ref.namespace, labelSelector })
      for (const rs of list.items) {
        if (!(rs.metadata?.ownerReferences ?? []).some((o) => o.uid === uid)) continue
        const n = Number(rs.metadata?.annotations?.[DEPLOYMENT_REVISION])
        if (!Number.isInteger(n) || !rs.spec?.template) continue
        // As `kubectl rollout undo`: the ReplicaSet's template without the
        // label the controller adds, replacing the Deployment's whole template.
        const template = structuredClone(rs.spec.template)
        if (template.metadata?.labels) delete template.metadata.labels['pod-template-hash']
        const commit = template.metadata?.annotations?.[COMMIT_ANNOTATION]
        out.set(n, {
          ...(commit ? { commit } : {}),
          apply: (end) =>
            patch(
              ref,
              [
                { op: 'replace', path: '/spec/template', value: template },
                ...(end
                  ? [
                      ...Object.entries(canaryReleaseSpec(end)).map(([k, v]) => ({
                        op: 'add',
                        path: `/spec/${k}`,
                        value: k === 'strategy' ? { ...(w as V1Deployment).spec?.strategy, ...(v as object) } : v,
                      })),
                      {
                        op: 'add',
                        path: `/metadata/annotations/${CANARY_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}`,
                        value: JSON.stringify(end),
                      },
                    ]
                  : []),
              ].map((op) =>
                // JSON patch has no null-means-default: a field to reset is removed.
                op.value === null ? { op: 'remove', path: op.path } : op,
              ),
              'json',
            ),
        })
      }
      return out
    }
    const list = await apps.listNamespacedControllerRevision({ namespace: ref.namespace, labelSelector })
    for (const cr of list.items) {
      if (!(cr.metadata?.ownerReferences ?? []).some((o) => o.uid === uid)) continue
      // The revision's data is a strategic merge patch of spec.template with
      // `$patch: replace`: the same patch `kubectl rollout undo` sends.
      const data = cr.data as { spec?: { template?: V1PodTemplateSpec } } | undefined
      const commit = data?.spec?.template?.metadata?.annotations?.[COMMIT_ANNOTATION]
      out.set(cr.revision, {
        ...(commit ? { commit } : {}),
        ...(cr.metadata?.name ? { name: cr.metadata.name } : {}),
        apply: (end) => {
          if (!end) return patch(ref, cr.data, 'strategic')
          const data = (cr.data ?? {}) as { spec?: Record<string, unknown> }
          return patch(
            ref,
            { ...data, metadata: mark(end), spec: { ...data.spec, ...canaryReleaseSpec(end) } },
            'strategic',
          )
        },
      })
    }
    return out
  }

  return {
    async currentRevision(ref, known) {
      if (ref.kind === 'Deployment' && known) return known.revision
      try {
        const w = await read(ref)
        // One reading of the Deployment's revision: toWorkloadState's.
        if (ref.kind === 'Deployment') return toWorkloadState(ref, w).revision
        if (ref.kind === 'StatefulSet') {
          const name = (w as V1StatefulSet).status?.updateRevision
          if (!name) return undefined
          return (await apps.readNamespacedControllerRevision({ name, namespace: ref.namespace })).revision
        }
        const revs = [...(await history(ref, w)).keys()]
        return revs.length > 0 ? Math.max(...revs) : undefined
      } catch (e) {
        throw kubeError(e, `read the revision of ${label(ref)}`)
      }
    },

    async undoRollout(ref, toRevision) {
      try {
        const w = await read(ref)
        const rev = (await history(ref, w)).get(toRevision)
        if (!rev)
          throw Errors.kubeNotFound(`${label(ref)} has no revision ${toRevision} to restore (revisionHistoryLimit?)`)
        const out = toWorkloadState(ref, await rev.apply())
        log.info(
          { workload: label(ref), toRevision, commit: rev.commit, generation: out.generation },
          'pod template restored',
        )
        return {
          workload: out,
          restored: {
            revision: toRevision,
            ...(rev.commit ? { commit: rev.commit } : {}),
            ...(rev.name ? { name: rev.name } : {}),
          },
        }
      } catch (e) {
        throw kubeError(e, `roll back ${label(ref)} to revision ${toRevision}`)
      }
    },

    async endCanary(ref, mark, undo) {
      try {
        if (!undo) {
          const body = {
            metadata: { annotations: { [CANARY_ANNOTATION]: JSON.stringify(mark) } },
            spec: canaryReleaseSpec(mark),
          }
          const out = toWorkloadState(ref, await patch(ref, body, 'merge'))
          log.info({ workload: label(ref), recycle: mark.recycle, phase: mark.phase }, 'canary hold ended')
          return { workload: out }
        }
        const to = mark.revisionBefore
        if (to === undefined) throw Errors.kubeNotFound(`${label(ref)}: no revision before the canary to restore`)
        const w = await read(ref)
        const rev = (await history(ref, w)).get(to)
        if (!rev) throw Errors.kubeNotFound(`${label(ref)} has no revision ${to} to restore (revisionHistoryLimit?)`)
        const out = toWorkloadState(ref, await rev.apply(mark))
        log.info({ workload: label(ref), recycle: mark.recycle, toRevision: to }, 'canary undone')
        return {
          workload: out,
          restored: {
            revision: to,
            ...(rev.commit ? { commit: rev.commit } : {}),
            ...(rev.name ? { name: rev.name } : {}),
          },
        }
      } catch (e) {
        throw kubeError(e, `end the canary of ${label(ref)}`)
      }
    },

    async getWorkload(ref) {
      try {
        return toWorkloadState(ref, await read(ref))
      } catch (e) {
        throw kubeError(e, `read ${label(ref)}`)
      }
    },

    async patchAnnotations(ref, annotations, resourceVersion) {
      const body = { metadata: { annotations, ...(resourceVersion ? { resourceVersion } : {}) } }
      try {
        return toWorkloadState(ref, await patch(ref, body, 'merge'))
      } catch (e) {
        throw kubeError(e, `annotate ${label(ref)}`)
      }
    },

    async replaceAnnotationIf(ref, key, expected, value) {
      const at = `/metadata/annotations/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`
      try {
        await patch(
          ref,
          [
            { op: 'test', path: at, value: expected },
            { op: 'replace', path: at, value },
          ],
          'json',
        )
        return 'replaced'
      } catch (e) {
        // 422: the test failed (another value) or the path is gone.
        if (e instanceof ApiException && e.code === 422) return 'changed'
        throw kubeError(e, `annotate ${label(ref)}`)
      }
    },

    async restartWorkload(ref, r) {
      const templateAnnotations: Record<string, string> = { 'kubectl.kubernetes.io/restartedAt': r.restartedAt }
      if (r.commit) templateAnnotations[COMMIT_ANNOTATION] = r.commit
      const spec: Record<string, unknown> = {
        template: { metadata: { annotations: templateAnnotations } },
        ...(r.canary ? canaryHoldSpec(r.canary) : {}),
      }
      if (r.commit && r.commitEnv) {
        // The env var goes on every container: a strategic merge keyed by
        // container name and env name leaves everything else alone. The
        // names come with the state the patch's resourceVersion was read
        // at; only a caller without them makes us read the workload.
        const all =
          r.containers ??
          toWorkloadState(
            ref,
            await read(ref).catch((e: unknown) => {
              throw kubeError(e, `read ${label(ref)}`)
            }),
          ).containers
        // A container that declares the variable with valueFrom (e.g. from the
        // commit annotation through the downward API) already gets it: adding
        // `value` beside `valueFrom` would be refused by the API server.
        const pin = (init: boolean) =>
          all
            .filter((c) => c.init === init && !c.valueFromEnv.includes(r.commitEnv!))
            .map((c) => ({ name: c.name, env: [{ name: r.commitEnv!, value: r.commit! }] }))
        const containers = pin(false)
        const inits = pin(true)
        if (containers.length > 0 || inits.length > 0)
          (spec.template as Record<string, unknown>).spec = {
            ...(containers.length > 0 ? { containers } : {}),
            ...(inits.length > 0 ? { initContainers: inits } : {}),
          }
      }
      const annotations = {
        ...r.annotations,
        ...(r.canary ? { [CANARY_ANNOTATION]: JSON.stringify(r.canary) } : {}),
      }
      const body = {
        metadata: {
          ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
          ...(r.resourceVersion ? { resourceVersion: r.resourceVersion } : {}),
        },
        spec,
      }
      try {
        const out = toWorkloadState(ref, await patch(ref, body, 'strategic'))
        log.info({ workload: label(ref), commit: r.commit, generation: out.generation }, 'pod template patched')
        return out
      } catch (e) {
        throw kubeError(e, `restart ${label(ref)}`)
      }
    },

    async watchWorkload(ref, onState, signal, from) {
      const path = `/apis/apps/v1/namespaces/${encodeURIComponent(ref.namespace)}/${PLURAL[ref.kind]}`
      let known = from
      while (!signal.aborted) {
        let rv: string
        try {
          // The first time from the state in hand, if any; after a drop, read again.
          const s = known ?? toWorkloadState(ref, await read(ref))
          known = undefined
          rv = s.resourceVersion
          onState(s)
        } catch (e) {
          throw kubeError(e, `read ${label(ref)}`)
        }
        if (signal.aborted) return
        // One watch until it drops (server timeout, network); then read again and resume.
        await new Promise<void>((resolve) => {
          let controller: AbortController | undefined
          const onAbort = (): void => {
            controller?.abort()
            resolve()
          }
          signal.addEventListener('abort', onAbort, { once: true })
          watcher
            .watch(
              path,
              { fieldSelector: `metadata.name=${ref.name}`, resourceVersion: rv, allowWatchBookmarks: true },
              (phase, obj) => {
                if (phase === 'ADDED' || phase === 'MODIFIED') onState(toWorkloadState(ref, obj as AnyWorkload))
              },
              (err) => {
                signal.removeEventListener('abort', onAbort)
                if (err && !signal.aborted)
                  log.debug({ workload: label(ref), err: (err as Error).name }, 'watch ended; resuming')
                resolve()
              },
            )
            .then(
              (c) => {
                controller = c
                if (signal.aborted) c.abort()
              },
              () => {
                signal.removeEventListener('abort', onAbort)
                resolve()
              },
            )
        })
        if (!signal.aborted) await new Promise((r) => setTimeout(r, 200))
      }
    },

    async listPods(namespace, selector) {
      try {
        const list = await core.listNamespacedPod({ namespace, labelSelector: selector })
        return list.items.map(toPodState)
      } catch (e) {
        throw kubeError(e, `list pods in ${namespace} (${selector})`)
      }
    },

    async evictPod(namespace, name): Promise<EvictResult> {
      try {
        await core.createNamespacedPodEviction({
          name,
          namespace,
          body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } },
        })
        return 'evicted'
      } catch (e) {
        if (e instanceof ApiException && e.code === 429) return 'blocked'
        if (e instanceof ApiException && e.code === 404) return 'gone'
        throw kubeError(e, `evict pod ${namespace}/${name}`)
      }
    },

    async deletePod(namespace, name) {
      try {
        await core.deleteNamespacedPod({ name, namespace })
        return 'deleted'
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return 'gone'
        throw kubeError(e, `delete pod ${namespace}/${name}`)
      }
    },

    async ownerWorkload(pod) {
      if (!pod.owner) return undefined
      if (pod.owner.kind === 'StatefulSet' || pod.owner.kind === 'DaemonSet')
        return { kind: pod.owner.kind, namespace: pod.namespace, name: pod.owner.name }
      if (pod.owner.kind !== 'ReplicaSet') return undefined
      try {
        const rs = await apps.readNamespacedReplicaSet({ name: pod.owner.name, namespace: pod.namespace })
        const o = (rs.metadata?.ownerReferences ?? []).find((r) => r.controller && r.kind === 'Deployment')
        return o ? { kind: 'Deployment', namespace: pod.namespace, name: o.name } : undefined
      } catch (e) {
        throw kubeError(e, `read ReplicaSet ${pod.namespace}/${pod.owner.name}`)
      }
    },

    async recordEvent(on, ev: KubeEvent) {
      const now = new Date().toISOString()
      try {
        await core.createNamespacedEvent({
          namespace: on.ref.namespace,
          body: {
            metadata: { generateName: `${on.ref.name}.`, namespace: on.ref.namespace },
            involvedObject: {
              apiVersion: 'apps/v1',
              kind: on.ref.kind,
              namespace: on.ref.namespace,
              name: on.ref.name,
              uid: on.uid,
            },
            reason: ev.reason,
            message: ev.message.slice(0, 1000),
            type: ev.type,
            source: { component },
            reportingComponent: component,
            reportingInstance: process.env.HOSTNAME ?? component,
            action: ev.reason,
            firstTimestamp: now,
            lastTimestamp: now,
            eventTime: undefined,
            count: 1,
          },
        })
      } catch (e) {
        // An Event is a record, not the work: log and go on.
        const err = kubeError(e, `record event ${ev.reason} on ${label(on.ref)}`)
        log.warn({ err }, err.message)
      }
    },

    async ping(signal) {
      try {
        const v = await version.getCode({ signal })
        return v.gitVersion
      } catch (e) {
        throw kubeError(e, 'GET /version')
      }
    },

    lease(namespace, name) {
      return createLeaseApi(kc, namespace, name, opts.requestTimeoutMs)
    },

    objects(namespace, kind) {
      return createObjectStore(kc, namespace, kind, {
        requestTimeoutMs: opts.requestTimeoutMs,
        watchSilenceMs: opts.watchSilenceMs,
      })
    },

    requestCounts() {
      return pool.requests()
    },

    answeredAgoMs() {
      return pool.answeredAgoMs()
    },

    writeConnections: WRITE_CONNECTIONS,

    cacheWorkloads(refs, keep) {
      const cache: WorkloadCache = createWorkloadCache({
        kc,
        silenceMs: opts.watchSilenceMs,
        refs,
        keep,
        logger: opts.logger,
        onClose: () => caches.delete(cache),
      })
      caches.add(cache)
      return cache
    },

    close() {
      // Watches stop with their signals (a cache's with its close); the shared connection pool goes here.
      for (const c of [...caches]) void c.close()
      pool.close()
    },
  }
}
