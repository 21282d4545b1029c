// The small typed face the rest of the service sees of Kubernetes. Nothing
// outside src/kube/ imports @kubernetes/client-node; these types are ours.

import type { WorkloadKind } from '../config/types.ts'

/** The pod-template annotation that pins the commit the pods run. */
export const COMMIT_ANNOTATION = 'kube-recycler.io/commit'

/**
 * The workload annotation a canary-first rollout keeps (a CanaryMark as
 * JSON): which recycle holds the rest of the pods, how, and what the hold
 * replaced; the next leader finishes or undoes the canary from it.
 */
export const CANARY_ANNOTATION = 'kube-recycler.io/canary'

/**
 * How long a held canary pod must be Ready before a Deployment counts it
 * available: never, in practice. The controller then neither adds a second
 * new pod nor removes an old one (maxSurge 1, maxUnavailable 0).
 */
export const CANARY_HOLD_SECONDS = 86_400

/**
 * A canary's hold, as written on the workload. `surge` (Deployment):
 * rollingUpdate {maxSurge: 1, maxUnavailable: 0} and minReadySeconds
 * CANARY_HOLD_SECONDS (progressDeadlineSeconds one more, as the API server
 * requires). `partition` (StatefulSet): rollingUpdate.partition `held`, so only
 * the highest ordinal is updated. `saved`: the values the hold replaced,
 * restored by the release and by the undo.
 */
export interface CanaryMark {
  recycle: string
  /** holding: one new pod, the rest held; released: the rest follow; undone: the template before is back. */
  phase: 'holding' | 'released' | 'undone'
  hold:
    | {
        kind: 'surge'
        saved: {
          minReadySeconds: number
          progressDeadlineSeconds?: number
          maxSurge?: number | string
          maxUnavailable?: number | string
        }
      }
    | { kind: 'partition'; held: number; saved: { partition: number } }
  /** The template revision before the rollout: what the undo restores. */
  revisionBefore?: number
  /** undone: the canary pod, and what it answered. */
  pod?: string
  answer?: string
}

export interface WorkloadRef {
  kind: WorkloadKind
  namespace: string
  name: string
}

/** `Kind/namespace/name`: a workload as a map key and in log lines. */
export const refKey = (r: WorkloadRef): string => `${r.kind}/${r.namespace}/${r.name}`

export interface Condition {
  type: string
  status: string
  reason?: string
  message?: string
  /** ISO time the condition was last updated (Deployment), or last changed. */
  lastUpdateTime?: string
}

/** What the rollout judge and the lock need to know of a workload. */
export interface WorkloadState {
  ref: WorkloadRef
  uid: string
  resourceVersion: string
  generation: number
  observedGeneration: number
  annotations: Record<string, string>
  templateAnnotations: Record<string, string>
  /** A label selector string (`a=b,c in (d)`), for listing the pods. */
  selector: string
  /** Desired pods: spec.replicas, or desiredNumberScheduled for a DaemonSet. */
  desired: number
  /** status.replicas / currentNumberScheduled. */
  current: number
  updated: number
  ready: number
  available: number
  paused: boolean
  conditions: Condition[]
  updateStrategy?: string
  partition?: number
  currentRevision?: string
  updateRevision?: string
  /** Deployment: spec.progressDeadlineSeconds (the API server defaults it to 600). */
  progressDeadlineSeconds?: number
  /** Deployment: spec.strategy.rollingUpdate as set (absent fields: the API server's 25 %). */
  rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string }
  /** spec.minReadySeconds: Ready this long before a pod counts as available. */
  minReadySeconds: number
  /**
   * How long a healthy new pod of this template may take, once its containers
   * run, to become Ready, from its probes: the startup probe's whole budget
   * plus the readiness probe's initial delay and (failureThreshold +
   * successThreshold) periods, of the slowest container. 0 without probes.
   */
  readyBudgetSeconds: number
  /**
   * Deployment: its `deployment.kubernetes.io/revision` (the revision of the
   * current template), so a rollout knows what a rollback restores without
   * reading the workload again. undefined for other kinds, or before the
   * controller set it.
   */
  revision?: number
  /**
   * The pod template's containers (init containers too): their names, and
   * which env vars each sets with valueFrom. What the restart patch needs to
   * pin the commit env var, read with the state it is applied against.
   */
  containers: TemplateContainer[]
}

export interface TemplateContainer {
  name: string
  init: boolean
  /** Env var names this container sets with valueFrom (not a literal value). */
  valueFromEnv: string[]
}

export interface PodState {
  name: string
  namespace: string
  uid: string
  phase: string
  ready: boolean
  terminating: boolean
  node?: string
  createdAt: string
  restarts: number
  /** When its containers last started running (the latest start of any container). */
  startedAt?: string
  /** e.g. CrashLoopBackOff, ImagePullBackOff, from container statuses. */
  waitingReason?: string
  templateCommit?: string
  labels: Record<string, string>
  owner?: { kind: string; name: string }
  /** status.podIP: where a per-pod check reaches this pod (absent until the kubelet reports one). */
  ip?: string
  /** The ports its containers declare (spec.containers[].ports), for a per-pod check's `port`. */
  ports?: PodPort[]
}

export interface PodPort {
  container: string
  name?: string
  containerPort: number
  protocol: string
}

export type EvictResult = 'evicted' | 'blocked' | 'gone'

/** A revision a workload's template can be restored to. */
export interface Revision {
  revision: number
  /** The pinned commit (kube-recycler.io/commit) of that template, if any. */
  commit?: string
  /** StatefulSet/DaemonSet: the ControllerRevision's name, the pods' controller-revision-hash label. */
  name?: string
}

export interface RestartPatch {
  /** RFC 3339 with milliseconds, so two restarts in one second both act. */
  restartedAt: string
  commit?: string
  commitEnv?: string
  /** Workload annotations to set in the same request (the lock). */
  annotations?: Record<string, string>
  /** Precondition: fail with a conflict when the workload changed. */
  resourceVersion?: string
  /** A canary-first rollout: the hold goes in the same request as the template (and the annotation with it). */
  canary?: CanaryMark
  /**
   * The template's containers as read at `resourceVersion` (WorkloadState.containers):
   * the commit env var goes on each without reading the workload again.
   * Without them the workload is read first.
   */
  containers?: TemplateContainer[]
}

export interface KubeEvent {
  type: 'Normal' | 'Warning'
  reason: string
  message: string
}

/** What a WorkloadCache keeps of one workload: the kept annotations' values, nothing else. */
export interface WorkloadFacts {
  annotations: Record<string, string>
  templateAnnotations: Record<string, string>
}

/** Named workloads kept current by watches (kube/cache.ts); owned by its maker, stopped by close(). */
export interface WorkloadCache {
  /** The workload as last seen by its watch; undefined when not seen (absent, forbidden, not watched). */
  get(ref: WorkloadRef): WorkloadFacts | undefined
  /** Whether this cache watches ref at all. */
  watches(ref: WorkloadRef): boolean
  /**
   * Resolves once ref's watch has first answered (the workload seen, or found
   * not visible), or a few seconds after the cache started, or at close: a
   * reader at start waits for it rather than reading. At once for a ref not watched.
   */
  settled(ref: WorkloadRef): Promise<void>
  /** Called when a kept value changes, or the workload appears or goes; returns the unsubscribe. */
  onChange(listener: (ref: WorkloadRef) => void): () => void
  /** Workloads seen now. */
  readonly size: number
  close(): Promise<void>
}

/** Requests sent to the API server with one verb (GET, WATCH, PATCH, ...), resource (its plural) and answer (HTTP code, or `error`). */
export interface KubeRequestCount {
  verb: string
  resource: string
  code: string
  count: number
}

export interface Kube {
  /** Requests sent so far by this process (all its clients share one connection pool). */
  requestCounts(): KubeRequestCount[]
  getWorkload(ref: WorkloadRef): Promise<WorkloadState>
  /** Merge-patches workload annotations (null deletes), with an optional resourceVersion precondition. */
  patchAnnotations(
    ref: WorkloadRef,
    annotations: Record<string, string | null>,
    resourceVersion?: string,
  ): Promise<WorkloadState>
  /** Patches the pod template so the controller rolls every pod. */
  restartWorkload(ref: WorkloadRef, patch: RestartPatch): Promise<WorkloadState>
  /**
   * The revision of the workload's current pod template: the Deployment's
   * `deployment.kubernetes.io/revision`, the StatefulSet's updateRevision, the
   * DaemonSet's newest ControllerRevision. undefined before the controller set one.
   * `known`: a state just read; a Deployment's revision is in it (no request).
   */
  currentRevision(ref: WorkloadRef, known?: WorkloadState): Promise<number | undefined>
  /**
   * Restores the pod template of `toRevision` as `kubectl rollout undo
   * --to-revision` does (a Deployment from its ReplicaSet, a StatefulSet or
   * DaemonSet from its ControllerRevision); the template's own pin
   * annotation and env var come back with it. kube-not-found when that
   * revision is gone (revisionHistoryLimit).
   */
  undoRollout(ref: WorkloadRef, toRevision: number): Promise<{ workload: WorkloadState; restored: Revision }>
  /**
   * Ends a canary's hold: restores what `mark.hold.saved` says and writes
   * the mark with its new phase, in one request. `undo`: the template of
   * `mark.revisionBefore` comes back in that same request (undoRollout's).
   */
  endCanary(
    ref: WorkloadRef,
    mark: CanaryMark,
    undo: boolean,
  ): Promise<{ workload: WorkloadState; restored?: Revision }>
  /**
   * Calls `onState` on every change until `signal` aborts; re-establishes the
   * watch when it drops. `from`: a state already in hand (the restart
   * patch's answer): given to onState and watched from, instead of a read.
   */
  watchWorkload(
    ref: WorkloadRef,
    onState: (s: WorkloadState) => void,
    signal: AbortSignal,
    from?: WorkloadState,
  ): Promise<void>
  /**
   * Sets one workload annotation to `value` only if it still holds exactly
   * `expected` (a JSON patch test + replace: one request, no read first, no
   * resourceVersion to race on). 'changed': it holds something else, or is gone.
   */
  replaceAnnotationIf(ref: WorkloadRef, key: string, expected: string, value: string): Promise<'replaced' | 'changed'>
  listPods(namespace: string, selector: string): Promise<PodState[]>
  /** Eviction API (policy/v1): 'blocked' when a PodDisruptionBudget says 429. */
  evictPod(namespace: string, name: string): Promise<EvictResult>
  deletePod(namespace: string, name: string): Promise<'deleted' | 'gone'>
  /** Finds the workload that owns a pod (ReplicaSet → Deployment). */
  ownerWorkload(pod: PodState): Promise<WorkloadRef | undefined>
  recordEvent(on: WorkloadState, event: KubeEvent): Promise<void>
  /** A cheap call that proves the API answers (GET /version). */
  ping(signal?: AbortSignal): Promise<string>
  /** Milliseconds since the API server last answered a request of this process with a 2xx; undefined: not yet. */
  answeredAgoMs(): number | undefined
  /** How many requests with a body (writes) are sent at once; more wait in the HTTP client's queue. */
  readonly writeConnections: number
  /** The Lease used to elect the replica that runs the cron probes. */
  lease(namespace: string, name: string): LeaseApi
  /** kube-recycler's own state objects (ConfigMaps) in its namespace: the sites' (default), or the leader's heartbeat. */
  objects(namespace: string, kind?: 'site' | 'heartbeat'): ObjectStore
  /**
   * Watches each named workload and keeps only the given annotations
   * (metadata and pod template). Stopped by its close(), or by this Kube's.
   */
  cacheWorkloads(
    refs: readonly WorkloadRef[],
    keep: { annotations: readonly string[]; templateAnnotations: readonly string[] },
  ): WorkloadCache
  close(): void
}

export interface LeaseRecord {
  holder?: string
  /** As the holder wrote it (its own wall clock): for people; never compared with this replica's time. */
  renewTime?: string
  durationSeconds: number
  transitions: number
  resourceVersion?: string
}

/**
 * A request may carry a signal that ends it sooner than the Kubernetes side's
 * own deadline (every request has one).
 */
export interface LeaseApi {
  read(signal?: AbortSignal): Promise<LeaseRecord | undefined>
  /**
   * Creates or replaces the lease for `holder` (undefined: released), with
   * `prev`'s resourceVersion as precondition; `now` is written as renewTime.
   * Throws Errors.kubeConflict when someone else wrote first.
   */
  write(
    holder: string | undefined,
    prev: LeaseRecord | undefined,
    now: number,
    durationSeconds: number,
    signal?: AbortSignal,
  ): Promise<LeaseRecord>
}

/** One stored object: its text and its resourceVersion (the write precondition). */
export interface StoredObject {
  data: string
  version: string
}

export type ObjectEvent = { name: string; object: StoredObject | undefined }

/**
 * A small keyed store of text objects with optimistic concurrency, as the
 * state store needs it. In a cluster these are ConfigMaps labelled as ours.
 */
export interface ObjectStore {
  /** Every object of ours, and the collection's version to watch from. */
  list(signal?: AbortSignal): Promise<{ items: Map<string, StoredObject>; version: string }>
  read(name: string, signal?: AbortSignal): Promise<StoredObject | undefined>
  /** Creates (no version) or replaces (version precondition); throws Errors.kubeConflict when it moved. Returns the new version. */
  write(name: string, data: string, version: string | undefined, signal?: AbortSignal): Promise<string>
  /** Calls `onEvent` for every change after `version`; resolves when the watch ends (the caller lists again). */
  watch(version: string, onEvent: (e: ObjectEvent) => void, signal: AbortSignal): Promise<void>
}
