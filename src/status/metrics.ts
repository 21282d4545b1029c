// Prometheus metrics, one registry per app (no global default registry, so
// tests can build many apps in one process).
//
// Naming: every counter ends in _total, units are in the name (_seconds),
// labels are low-cardinality (site, check, strategy, outcome, source, a route
// *pattern*, never a raw URL). Node.js' default metrics keep their stock
// names (process_*, nodejs_*) so the usual Node.js dashboards work.
//
// Most series are pushed where things happen. The state gauges (last Jenkins
// report, stale, drift, leader) are pulled at scrape time from what the
// service already knows (`observeState`), so they can never disagree with
// /status and need no bookkeeping elsewhere.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { KubeRequestCount } from '../kube/types.ts'

/** What the state gauges read at scrape time; built from the /status model. */
export interface ScrapeState {
  /** This replica runs the cron probes (holds the Lease, or runs alone). */
  leader: boolean
  sites: Array<{
    name: string
    /** Unix ms of the last Jenkins report for the site; absent: none since start. */
    lastReportAtMs?: number
    /** Jenkins silent past jenkins.expectEvery. Absent: the site has no expectEvery. */
    stale?: boolean
    /** Production head and running commit both known and different. Absent: unknown. */
    drift?: boolean
  }>
}

export interface Metrics {
  registry: Registry
  webhooks: Counter<'result'>
  verdicts: Counter<'site' | 'source' | 'ok'>
  recycles: Counter<'site' | 'strategy' | 'outcome'>
  recycleSeconds: Histogram<'site' | 'strategy'>
  health: Gauge<'site'>
  circuitOpen: Gauge<'site'>
  probes: Counter<'site' | 'check' | 'ok'>
  /** Pods failing a per-pod check at the last probe run: one series per site, never one per pod. */
  failingPods: Gauge<'site'>
  ticksSkipped: Counter<'site'>
  stateWrites: Counter<'result'>
  probeSeconds: Histogram<'site' | 'check'>
  httpSeconds: Histogram<'method' | 'route' | 'status_code'>
  authFailures: Counter<'route' | 'reason'>
  /** Sets where the state gauges read from at scrape time (once, by the app). */
  observeState(read: () => ScrapeState): void
  /** 1 while automatic recycles are paused: scope site (the site's own pause) or service. */
  paused: Gauge<'site' | 'scope'>
  /** Set by the operator module: recomputes the pause gauges at each scrape (a pause with `until` ends without a write). */
  refreshPaused?: () => void
  notifications: Counter<'receiver' | 'result'>
  /** Sets where the API request counts are read at scrape time (once, by the app; absent without a cluster). */
  observeKubeRequests(read: () => readonly KubeRequestCount[]): void
}

/** Recycle outcomes the alert rules look for (charts/kube-recycler/files/alerts.yaml). */
export const ALERTED_OUTCOMES = ['failed', 'did-not-help', 'rolled-back', 'canary-failed'] as const
/** Why a request was refused (kube_recycler_auth_failures_total{reason}). */
export const AUTH_FAILURE_REASONS = [
  'missing',
  'malformed',
  'not-configured',
  'bad-token',
  'bad-signature',
  'stale-signature',
] as const
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number]
const AUTHENTICATED_ROUTES = ['/webhooks/jenkins', '/webhooks/alertmanager', '/recycle'] as const

/**
 * Exports the counters the alert rules take increase() of at 0 from the
 * start. A labelled counter otherwise appears with its first event at 1, and
 * Prometheus sees no increase in a series' first sample: the first failed
 * recycle of a site would never alert.
 */
export function primeMetrics(
  metrics: Metrics,
  sites: ReadonlyArray<{ name: string; recycle: { strategy: string } }>,
): void {
  for (const s of sites) {
    for (const outcome of ALERTED_OUTCOMES)
      metrics.recycles.inc({ site: s.name, strategy: s.recycle.strategy, outcome }, 0)
  }
  for (const route of AUTHENTICATED_ROUTES)
    for (const reason of AUTH_FAILURE_REASONS) metrics.authFailures.inc({ route, reason }, 0)
  metrics.webhooks.inc({ result: 'rejected' }, 0)
  metrics.stateWrites.inc({ result: 'error' }, 0)
}

export function createMetrics(opts: { defaultMetrics?: boolean; version?: string } = {}): Metrics {
  const registry = new Registry()
  // No prefix: process_cpu_seconds_total, nodejs_heap_size_used_bytes, ... as
  // every Node.js dashboard expects.
  if (opts.defaultMetrics) {
    collectDefaultMetrics({ register: registry })
    // prom-client names three gauges *_total, which Prometheus reserves for
    // counters (promtool check metrics refuses them). The same numbers are
    // nodejs_active_{handles,requests,resources}{type}: sum() them.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      registry.removeSingleMetric(name)
  }
  const registers = [registry]
  let read: (() => ScrapeState) | undefined
  let kubeRequests: (() => readonly KubeRequestCount[]) | undefined
  // Each gauge reads the state in its own collect(): four cheap reads of a
  // few sites per scrape, and a scrape never fails because one read did.
  const state = (): ScrapeState | undefined => {
    try {
      return read?.()
    } catch {
      return undefined
    }
  }

  const buildInfo = new Gauge({
    name: 'kube_recycler_build_info',
    help: 'Always 1; the labels say which version runs',
    labelNames: ['version', 'nodejs_version'],
    registers,
  })
  buildInfo.set({ version: opts.version ?? 'unknown', nodejs_version: process.versions.node }, 1)

  new Gauge({
    name: 'kube_recycler_last_report_timestamp_seconds',
    help: 'Unix time of the last Jenkins report for the site (absent until the first one since start)',
    labelNames: ['site'],
    registers,
    collect() {
      this.reset()
      for (const s of state()?.sites ?? [])
        if (s.lastReportAtMs !== undefined) this.set({ site: s.name }, s.lastReportAtMs / 1000)
    },
  })
  new Gauge({
    name: 'kube_recycler_report_stale',
    help: '1 while Jenkins has not reported for the site within jenkins.expectEvery (sites with expectEvery only)',
    labelNames: ['site'],
    registers,
    collect() {
      this.reset()
      for (const s of state()?.sites ?? []) if (s.stale !== undefined) this.set({ site: s.name }, s.stale ? 1 : 0)
    },
  })
  new Gauge({
    name: 'kube_recycler_commit_drift',
    help: '1 while the workload does not run the production branch head (sites whose both commits are known)',
    labelNames: ['site'],
    registers,
    collect() {
      this.reset()
      for (const s of state()?.sites ?? []) if (s.drift !== undefined) this.set({ site: s.name }, s.drift ? 1 : 0)
    },
  })
  new Gauge({
    name: 'kube_recycler_leader',
    help: '1 on the replica that runs the cron probes (holds the Lease), 0 on the others',
    registers,
    collect() {
      const s = state()
      if (s) this.set(s.leader ? 1 : 0)
      else this.reset()
    },
  })

  const out: Metrics = {
    registry,
    webhooks: new Counter({
      name: 'kube_recycler_webhooks_total',
      help: 'Webhook deliveries by result (Jenkins: one per report; Alertmanager: one per alert and site)',
      labelNames: ['result'],
      registers,
    }),
    verdicts: new Counter({
      name: 'kube_recycler_verdicts_total',
      help: 'Verdicts by site, source and outcome',
      labelNames: ['site', 'source', 'ok'],
      registers,
    }),
    recycles: new Counter({
      name: 'kube_recycler_recycles_total',
      help: 'Recycles by site, strategy and outcome',
      labelNames: ['site', 'strategy', 'outcome'],
      registers,
    }),
    recycleSeconds: new Histogram({
      name: 'kube_recycler_recycle_duration_seconds',
      help: 'Time from start to the outcome of a recycle',
      labelNames: ['site', 'strategy'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200],
      registers,
    }),
    health: new Gauge({
      name: 'kube_recycler_site_health',
      help: '1 healthy, 0 failing, -1 unknown',
      labelNames: ['site'],
      registers,
    }),
    circuitOpen: new Gauge({
      name: 'kube_recycler_circuit_open',
      help: '1 while automatic recycles of the site are stopped',
      labelNames: ['site'],
      registers,
    }),
    probes: new Counter({
      name: 'kube_recycler_probes_total',
      help: 'Probe results by site and check',
      labelNames: ['site', 'check', 'ok'],
      registers,
    }),
    failingPods: new Gauge({
      name: 'kube_recycler_failing_pods',
      help: "Pods of the site's target that failed a per-pod check at the leader's last probe run",
      labelNames: ['site'],
      registers,
    }),
    ticksSkipped: new Counter({
      name: 'kube_recycler_probe_ticks_skipped_total',
      help: "Cron ticks of a site not run because the site's last tick was still running (its probe and the verdict's write)",
      labelNames: ['site'],
      registers,
    }),
    stateWrites: new Counter({
      name: 'kube_recycler_state_writes_total',
      help: 'Writes of the shared service state (ConfigMaps) by result: ok, conflict (another replica wrote first; retried), error',
      labelNames: ['result'],
      registers,
    }),
    probeSeconds: new Histogram({
      name: 'kube_recycler_probe_duration_seconds',
      help: 'Latency of one probe check, request to verdict',
      labelNames: ['site', 'check'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    httpSeconds: new Histogram({
      name: 'kube_recycler_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route pattern',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    authFailures: new Counter({
      name: 'kube_recycler_auth_failures_total',
      help: 'Requests refused for authentication, by route pattern and reason',
      labelNames: ['route', 'reason'],
      registers,
    }),
    observeState(fn) {
      read = fn
    },
    paused: new Gauge({
      name: 'kube_recycler_paused',
      help: '1 while an operator paused automatic recycles of the site (scope="site") or of the whole service (scope="service")',
      labelNames: ['site', 'scope'],
      registers,
      collect() {
        out.refreshPaused?.()
      },
    }),
    notifications: new Counter({
      name: 'kube_recycler_notifications_total',
      help: 'Notifications by receiver and result: sent, retried (an attempt failed), failed (given up), dropped (queue full)',
      labelNames: ['receiver', 'result'],
      registers,
    }),
    observeKubeRequests(fn) {
      kubeRequests = fn
    },
  }
  // Counted where they are sent (kube/dispatcher.ts); copied here at each scrape.
  new Counter({
    name: 'kube_recycler_kube_requests_total',
    help: 'Requests this replica sent to the Kubernetes API server, by verb (WATCH: a watch started), resource and answer (HTTP code, or error: none)',
    labelNames: ['verb', 'resource', 'code'],
    registers,
    collect() {
      this.reset()
      for (const c of kubeRequests?.() ?? []) this.inc({ verb: c.verb, resource: c.resource, code: c.code }, c.count)
    },
  })
  return out
}
