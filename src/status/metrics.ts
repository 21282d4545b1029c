// Prometheus metrics, one registry per app (no global default registry, so
// tests can build many apps in one process).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  registry: Registry
  webhooks: Counter<'result'>
  verdicts: Counter<'site' | 'source' | 'ok'>
  recycles: Counter<'site' | 'strategy' | 'outcome'>
  recycleSeconds: Histogram<'site' | 'strategy'>
  health: Gauge<'site'>
  circuitOpen: Gauge<'site'>
  probes: Counter<'site' | 'check' | 'ok'>
  stateWrites: Counter<'result'>
  /** 1 while automatic recycles are paused: scope site (the site's own pause) or service. */
  paused: Gauge<'site' | 'scope'>
  /** Set by the operator module: recomputes the pause gauges at each scrape (a pause with `until` ends without a write). */
  refreshPaused?: () => void
  notifications: Counter<'receiver' | 'result'>
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry()
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'kube_recycler_' })
  const registers = [registry]
  const out: Metrics = {
    registry,
    webhooks: new Counter({ name: 'kube_recycler_webhooks_total', help: 'Jenkins webhook deliveries by result', labelNames: ['result'], registers }),
    verdicts: new Counter({ name: 'kube_recycler_verdicts_total', help: 'Verdicts by site, source and outcome', labelNames: ['site', 'source', 'ok'], registers }),
    recycles: new Counter({ name: 'kube_recycler_recycles_total', help: 'Recycles by site, strategy and outcome', labelNames: ['site', 'strategy', 'outcome'], registers }),
    recycleSeconds: new Histogram({ name: 'kube_recycler_recycle_duration_seconds', help: 'Time from start to the outcome of a recycle', labelNames: ['site', 'strategy'], buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200], registers }),
    health: new Gauge({ name: 'kube_recycler_site_health', help: '1 healthy, 0 failing, -1 unknown', labelNames: ['site'], registers }),
    circuitOpen: new Gauge({ name: 'kube_recycler_circuit_open', help: '1 while automatic recycles of the site are stopped', labelNames: ['site'], registers }),
    probes: new Counter({ name: 'kube_recycler_probes_total', help: 'Probe results by site and check', labelNames: ['site', 'check', 'ok'], registers }),
    stateWrites: new Counter({ name: 'kube_recycler_state_writes_total', help: 'Writes of the shared service state (ConfigMaps) by result: ok, conflict (another replica wrote first; retried), error', labelNames: ['result'], registers }),
    paused: new Gauge({ name: 'kube_recycler_paused', help: '1 while an operator paused automatic recycles of the site (scope="site") or of the whole service (scope="service")', labelNames: ['site', 'scope'], registers, collect() { out.refreshPaused?.() } }),
    notifications: new Counter({ name: 'kube_recycler_notifications_total', help: 'Notifications by receiver and result: sent, retried (an attempt failed), failed (given up), dropped (queue full)', labelNames: ['receiver', 'result'], registers }),
  }
  return out
}
