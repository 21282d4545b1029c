// The validated, normalized configuration the rest of the service sees.
// Durations are milliseconds; defaults are filled in; secrets are not here
// (they come from the environment, see config/secrets.ts).

export type JenkinsStatus = 'SUCCESS' | 'UNSTABLE' | 'FAILURE' | 'ABORTED' | 'NOT_BUILT'
export const JENKINS_STATUSES: readonly JenkinsStatus[] = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'ABORTED', 'NOT_BUILT']

import type { FailureCause } from '../health/verdict.ts'
import type { CompiledMatcher } from './matchers.ts'

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet'

/** The ways of restarting a site's pods: declared here once, everything else derives from it. */
export const STRATEGIES = ['rollout', 'evict', 'delete'] as const
export type StrategyName = (typeof STRATEGIES)[number]

/**
 * The rungs a site's ladder of repairs may list: `replace-pods` (only the
 * pods that fail their per-pod checks) and the strategies. The rollback and
 * the stop after the last rung are not listed: `recycle.rollback` and the
 * did-not-help stop keep them.
 */
export const LADDER_RUNGS = ['replace-pods', ...STRATEGIES] as const
export type LadderRung = (typeof LADDER_RUNGS)[number]

/** A workload named directly, or the pods a label selector picks in a namespace. */
export type Target =
  { kind: WorkloadKind; namespace: string; name: string } | { namespace: string; selector: Record<string, string> }

export interface StatusRange {
  min: number
  max: number
}

export interface CheckConfig {
  name: string
  url: string
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'OPTIONS'
  headers: Record<string, string>
  body?: string
  timeoutMs: number
  /** Status codes that pass; each entry is an inclusive range (200 is {200,200}). */
  expectStatus: StatusRange[]
  bodyContains?: string
  bodyMatches?: string
  /** A dotted JSON path (`$.a.b[0].c`) whose value must equal `equals`. */
  json?: { path: string; equals: string | number | boolean | null }
  maxLatencyMs?: number
  tls: { verify: boolean; caFile?: string }
  /** Alert-only: an expiring certificate never restarts pods. */
  certExpiryWarnDays?: number
  /**
   * Also run this check against each Ready pod of the site's target, on the
   * pod's IP and this container port (default: the first declared TCP port),
   * with the URL's Host header and TLS server name (triggers/pod-check.ts).
   */
  perPod?: { port?: number | string }
}

export interface GitConfig {
  repo: string
  branch: string
  /** Username sent with KUBE_RECYCLER_GIT_TOKEN as the password. */
  username: string
  cacheMs: number
  /** /status links commits here: an http(s) URL with `{commit}` where the commit goes. */
  commitUrl?: string
}

/** `auto` restarts; `notify` does everything but the restart; `approve` waits for an operator. */
export const RECYCLE_MODES = ['auto', 'notify', 'approve'] as const
export type RecycleMode = (typeof RECYCLE_MODES)[number]

/** A window that opens at every `cron` match and stays open `durationMs` (in `timezone`, default UTC). */
export interface WindowConfig {
  cron: string
  durationMs: number
  timezone?: string
}

/** What a notification receiver can be told. */
export const NOTIFY_EVENTS = [
  'site-failing',
  'site-recovered',
  'recycle-requested',
  'recycle-succeeded',
  'recycle-failed',
  'recycle-rolled-back',
  'recycle-did-not-help',
  'recycle-skipped-circuit',
  'recycle-approved',
  'recycle-rejected',
  'recycle-expired',
  'site-reset',
  'approval-needed',
  'jenkins-stale',
  'paused',
  'resumed',
] as const
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number]

export interface NotificationConfig {
  name: string
  format: 'json' | 'slack'
  /** Empty: every event. */
  events: NotifyEvent[]
  /** Where the URL (and, for json, the HMAC key) comes from: never the file itself. */
  urlEnv?: string
  urlFile?: string
  secretEnv?: string
  secretFile?: string
  timeoutMs: number
}

export interface RecycleConfig {
  /** auto | notify | approve. */
  mode: RecycleMode
  /** mode approve: a recycle not approved within this expires. */
  approvalTimeoutMs: number
  strategy: StrategyName
  cooldownMs: number
  /** Circuit breaker: at most this many automatic recycles per window. */
  maxPerWindow: number
  windowMs: number
  /** evict/delete: pods down at once. */
  maxUnavailable: number
  /** How long a recycle may take before it is reported failed. */
  timeoutMs: number
  /** Env var on every container that carries the pinned commit. */
  commitEnv: string
  onGitError: 'skip' | 'recycle-unpinned'
  /** After a recycle, probe the site again: wait, then up to `attempts` runs `interval` apart. */
  verify: { delayMs: number; attempts: number; intervalMs: number }
  /** `auto`: a rollout of this recycle that fails is undone (the revision before it is restored). */
  rollback: 'auto' | 'off'
  /**
   * evict: what to do with a pod that is NOT Ready when a PodDisruptionBudget
   * refuses its eviction (its unhealthy budget is spent). `delete`: delete it
   * (a NotReady pod serves nothing, so deleting it cannot lower availability);
   * `evict`: keep asking the Eviction API until the deadline.
   */
  unhealthyPods: 'delete' | 'evict'
  /** Failure causes outside the pods: a restart cannot help, so alert and do not recycle. */
  skipWhen: SkipCause[]
  /**
   * The ladder of repairs, climbed while a rung fails (recycle/ladder.ts).
   * Default: [replace-pods, strategy] when the site has per-pod checks,
   * [strategy] (one rung, no ladder) when it has none.
   */
  ladder: LadderRung[]
  /**
   * A rollout first brings up ONE pod of the new template, holds the rest,
   * and probes that pod directly (the site's checks, verify.attempts and
   * verify.interval): healthy, the rest follow; failing, the template is
   * undone and the other pods never leave the old revision (strategies/canary.ts).
   */
  canary: boolean
}

/** The failure causes `recycle.skipWhen` may name. */
export type SkipCause = Extract<
  FailureCause,
  'tls-expired' | 'tls-not-yet-valid' | 'tls-untrusted' | 'tls-hostname' | 'dns-not-found'
>

/** A site's Alertmanager alerts: which ones are its, and whether to silence them while repairing. */
export interface SiteAlertmanagerConfig {
  /** An alert is the site's when every matcher matches its labels. */
  matchers: CompiledMatcher[]
  /** Hold a silence (Alertmanager API v2) on the alert while a recycle it asked for runs; needs the top-level `alertmanager.url`. */
  silence: boolean
}

/** Where the silences go: Alertmanager's API (the bearer token, if any, from KUBE_RECYCLER_ALERTMANAGER_TOKEN). */
export interface AlertmanagerApiConfig {
  url: string
  timeoutMs: number
}

export interface SiteConfig {
  name: string
  target: Target
  jenkins: {
    jobs: string[]
    failingStatuses: JenkinsStatus[]
    expectEveryMs?: number
    /**
     * A payload's commit (GIT_COMMIT, scm.commit) is the commit of the JOB's
     * repository; true says it is the site's own commit and may be pinned.
     */
    commitIsSite: boolean
  }
  checks: CheckConfig[]
  schedule?: { cron: string; timezone?: string }
  failureThreshold: number
  successThreshold: number
  recycle: RecycleConfig
  git?: GitConfig
  /** No automatic recycle inside any of these. */
  maintenance: WindowConfig[]
  /** When set, automatic recycles only inside one of these; outside, a request waits. */
  recycleWindows: WindowConfig[]
  alertmanager?: SiteAlertmanagerConfig
}

export interface RateLimit {
  max: number
  windowMs: number
}

export interface ServiceConfig {
  /** Plan and record recycles, change nothing in the cluster. */
  dryRun: boolean
  /** Require the operator token for GET /status. */
  statusAuth: boolean
  bodyLimitBytes: number
  /** Per client: the webhook and POST /recycle. */
  rateLimit: RateLimit
  /** Per client: GET /status, /recycles/:id, /metrics, /docs. */
  readRateLimit: RateLimit
  /** Per client: answers 401 on any route; past it every request is 429 until the window ends. */
  failedAuthLimit: RateLimit
  /** Proxies (addresses or CIDRs) whose X-Forwarded-For names the client; empty: the socket's peer is the client. */
  trustProxy: string[]
  /** Server timeouts (ms): all headers, the whole request, an idle socket, an idle keep-alive socket. */
  timeouts: { headersMs: number; requestMs: number; idleMs: number; keepAliveMs: number }
  /** Open connections one client address may hold (trusted proxies are exempt). */
  maxConnectionsPerClient: number
  /** Namespace of kube-recycler itself (Lease, Events). */
  namespace: string
  /** Probe concurrency across all checks. */
  probeConcurrency: number
  /**
   * The most a scheduled probe waits after its cron's time, each site its
   * own share from its name (at most the period less a tenth and its checks' timeout), so that sites on
   * one schedule do not all probe in the same second. 0: on the second.
   */
  probeSpreadMs: number
  /**
   * Lease election of the one replica that probes and runs recycles. `auto`
   * and `on`: whenever there is a cluster. `off`: this process always leads
   * (one replica only; two would both act).
   */
  leaderElection: 'auto' | 'on' | 'off'
  /** The lease duration of the leader election (triggers/leader.ts); its renew deadline and retry period follow from it. */
  leaseDurationMs: number
  /**
   * How often the leader writes its heartbeat: what its probes said again
   * without a write of the site. The freshness of an unchanged site's last
   * verdict on /status; one small write per interval for the whole service.
   */
  heartbeatMs: number
  /** The service's address for people (links in Slack messages), e.g. https://recycler.example.com. */
  publicUrl?: string
}

export interface Config {
  service: ServiceConfig
  sites: SiteConfig[]
  notifications: NotificationConfig[]
  alertmanager?: AlertmanagerApiConfig
}

export function targetLabel(t: Target): string {
  if ('name' in t) return `${t.kind}/${t.namespace}/${t.name}`
  return `${t.namespace}/{${Object.entries(t.selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}}`
}
