// Builds the Fastify app from its dependencies. Tests build this; only
// main.ts makes a process of it (listening, signals, exit). Order matters and
// is commented where it does.

import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import type { Logger } from 'pino'
import { randomUUID } from 'node:crypto'
import { systemClock, type Clock } from './clock.ts'
import { VERSION } from './version.ts'
import type { Secrets } from './config/secrets.ts'
import type { Config } from './config/types.ts'
import type { KubeRequestCount, ObjectStore } from './kube/types.ts'
import type { Executor } from './recycle/executor.ts'
import { circuitOpen } from './recycle/policy.ts'
import { createRunner, type CommitResolver, type Runner } from './recycle/runner.ts'
import { createRecycler, type Recycler } from './recycle/service.ts'
import { createOperator } from './recycle/operator.ts'
import { createNotifier } from './notify/queue.ts'
import type { NotifyTarget } from './notify/targets.ts'
import type { Notifier } from './notify/types.ts'
import operatorRoutes from './server/routes/operator.ts'
import type { AppContext, Readiness } from './server/context.ts'
import { registerJsonBody } from './server/plugins/body.ts'
import { registerErrorHandling } from './server/plugins/errors.ts'
import { createFailureBook } from './server/plugins/auth-limit.ts'
import { operatorAuth, webhookAuth } from './server/plugins/auth.ts'
import { authenticatedScope } from './server/plugins/authenticated.ts'
import { registerRateLimit } from './server/plugins/rate-limit.ts'
import { limitConnectionsPerClient, requireClientAddress, serverLimitOptions } from './server/plugins/limits.ts'
import { RouteLevelLogController } from './server/plugins/request-log.ts'
import { openapiOptions } from './server/openapi.ts'
import recycleReadRoute, { recycleRequestRoute } from './server/routes/recycle.ts'
import serviceRoutes from './server/routes/service.ts'
import statusRoute from './server/routes/status.ts'
import webhookJenkins from './server/routes/webhook-jenkins.ts'
import webhookAlertmanager from './server/routes/alertmanager.ts'
import { createAlertmanagerApi } from './alerts/api.ts'
import { createSilencer } from './alerts/silencer.ts'
import { validatorCompiler } from './server/validation.ts'
import { memoryObjectStore } from './state/memory.ts'
import { createStore, type StateStore } from './state/store.ts'
import { createHeartbeat, type Heartbeat } from './state/heartbeat.ts'
import { createMetrics, primeMetrics, type Metrics } from './status/metrics.ts'
import { createIntake, type Intake } from './triggers/intake.ts'
import type { Prober } from './triggers/probe.ts'
import { perPodChecks, probePod, probePods, type PodLister } from './triggers/pod-probe.ts'
import { createScheduler, probeOnce, type Scheduler } from './triggers/schedule.ts'
import { createSiteFacts, type SiteFactsBook } from './status/facts.ts'
import { registerHttpMetrics } from './server/plugins/metrics.ts'
import { scrapeState } from './status/scrape.ts'

export { VERSION }

export interface AppOptions {
  config: Config
  secrets: Secrets
  logger: Logger
  clock?: Clock
  /** The cluster side; absent means no cluster: recycles are planned only. */
  executor?: Executor
  commits?: CommitResolver
  /** Why there is no executor, shown on /status. */
  note?: string
  defaultMetrics?: boolean
  /** Extra readiness (tests); the store's own readiness always counts. */
  readiness?: () => Readiness
  /** The probe engine: enables verification after recycles and, with `schedule`, the cron. */
  prober?: Prober
  /** Start the per-site cron schedules (main does; tests opt in). */
  schedule?: boolean
  /**
   * Where the service's state lives: the cluster's ConfigMaps (main), or,
   * by default, an object store in this process (no cluster; tests, where
   * two apps sharing one behave as two replicas).
   */
  objects?: ObjectStore
  /** Where the leader's heartbeat lives (main: its own labelled ConfigMap); default: `objects`. */
  heartbeatObjects?: ObjectStore
  /** Proves the API server answers (the store is not ready without it). */
  ping?: (signal: AbortSignal) => Promise<unknown>
  /** Milliseconds since any request of this process was answered 2xx: a recent one stands for the ping. */
  answeredAgoMs?: () => number | undefined
  /** State writes in flight at once (the store's slots): the API client's write connections. */
  writeSlots?: number
  /** True while this replica holds the Lease; absent: it is alone and leads. */
  isLeader?: () => boolean
  /** This replica's name in records and on the Lease. */
  identity?: string
  /** Waits inside recycles (verification); tests pass a fast one. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** How often the leader looks for recycles to run or adopt (tests: faster). */
  sweepEveryMs?: number
  /** Notification receivers, resolved from the environment (main: notify/targets.ts). */
  notifyTargets?: NotifyTarget[]
  /** Retries of a notification: the first backoff (tests: shorter). */
  notifyBackoffMs?: number
  /** The site's pods for the per-pod checks; default: the executor's (the cluster's), none without one. */
  pods?: PodLister
  /** What this process sent to the API server so far (kube_recycler_kube_requests_total); absent without a cluster. */
  kubeRequests?: () => readonly KubeRequestCount[]
}

export interface Core {
  store: StateStore
  heartbeat: Heartbeat
  metrics: Metrics
  recycler: Recycler
  intake: Intake
  notifier: Notifier
  runner?: Runner
  scheduler?: Scheduler
  facts: SiteFactsBook
}

declare module 'fastify' {
  interface FastifyInstance {
    core: Core
  }
}

const HEALTH_VALUE = { healthy: 1, failing: 0, unknown: -1 } as const

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const clock = opts.clock ?? systemClock
  const { config, logger } = opts
  const identity = opts.identity ?? 'kube-recycler'
  const metrics = createMetrics({ defaultMetrics: opts.defaultMetrics ?? false, version: VERSION })
  primeMetrics(metrics, config.sites)
  if (opts.kubeRequests) metrics.observeKubeRequests(opts.kubeRequests)
  const objects = opts.objects ?? memoryObjectStore()
  const store = createStore({
    objects,
    durable: opts.objects !== undefined,
    sites: config.sites,
    clock,
    logger,
    ...(opts.ping ? { ping: opts.ping } : {}),
    ...(opts.answeredAgoMs ? { answeredAgoMs: opts.answeredAgoMs } : {}),
    ...(opts.writeSlots ? { writeSlots: opts.writeSlots } : {}),
    onWrite: (result) => metrics.stateWrites.inc({ result }),
  })
  // Every replica's site gauges follow the shared state, so they agree.
  store.onChange((name, s) => {
    const site = config.sites.find((x) => x.name === name)
    metrics.health.set({ site: name }, HEALTH_VALUE[s.health])
    if (site) metrics.circuitOpen.set({ site: name }, circuitOpen(s, site, clock.now()) ? 1 : 0)
  })
  const isLeader = (): boolean => (opts.isLeader?.() ?? true) && store.ready().ready
  // What the leader's probes said again, written once a minute for every replica to read.
  const heartbeat = createHeartbeat({
    objects: opts.heartbeatObjects ?? objects,
    sites: config.sites.map((s) => s.name),
    state: (site) => store.get(site),
    identity,
    isLeader,
    clock,
    logger,
    everyMs: config.service.heartbeatMs,
    onWrite: (result) => metrics.stateWrites.inc({ result }),
  })
  const notifier: Notifier = createNotifier({
    targets: opts.notifyTargets ?? [],
    clock,
    logger,
    counter: metrics.notifications,
    ...(config.service.publicUrl ? { publicUrl: config.service.publicUrl } : {}),
    ...(opts.notifyBackoffMs !== undefined ? { backoffMs: opts.notifyBackoffMs } : {}),
  })
  const podLister: PodLister | undefined =
    opts.pods ?? (opts.executor?.pods ? { pods: (site) => opts.executor!.pods!(site) } : undefined)
  const facts = createSiteFacts({
    clock,
    logger,
    ...(opts.executor ? { executor: opts.executor } : {}),
    ...(opts.commits ? { commits: opts.commits } : {}),
  })
  // A watched workload changed (a deploy, a recycle's end): its sites' facts
  // now, so `running` and `drift` follow within seconds at no cost at rest.
  const unwatchFacts = opts.executor?.onFactsChanged?.((ref) => {
    for (const site of config.sites) {
      const t = site.target
      if ('name' in t && t.kind === ref.kind && t.namespace === ref.namespace && t.name === ref.name)
        void facts.refresh(site).catch(() => undefined)
    }
  })
  const runner =
    opts.executor && !config.service.dryRun
      ? createRunner({
          config,
          store,
          executor: opts.executor,
          clock,
          logger,
          metrics,
          identity,
          isLeader,
          ...(opts.commits ? { commits: opts.commits } : {}),
          ...(opts.prober
            ? {
                verifier: {
                  probe: (site) => probeOnce(opts.prober!, site, clock, metrics, podLister),
                  ...(podLister
                    ? {
                        probePods: (site) => probePods(opts.prober!, site, podLister),
                        probePod: (site, pod) => probePod(opts.prober!, perPodChecks(site), pod),
                      }
                    : {}),
                },
              }
            : {}),
          ...(opts.sleep ? { sleep: opts.sleep } : {}),
          ...(opts.sweepEveryMs ? { sweepEveryMs: opts.sweepEveryMs } : {}),
          onFinished: (site) => {
            void facts.refresh(site).catch(() => undefined)
          },
          notifier,
        })
      : undefined
  const recycler = createRecycler({
    config,
    store,
    metrics,
    clock,
    logger,
    notifier,
    ...(opts.executor ? { executor: opts.executor } : {}),
    ...(runner ? { runner } : {}),
  })
  const intake = createIntake({ store, recycler, metrics, clock, logger, notifier, heartbeat })
  const operator = createOperator({
    config,
    store,
    recycler,
    clock,
    logger,
    metrics,
    notifier,
    ...(opts.executor ? { executor: opts.executor } : {}),
  })
  const scheduler = opts.prober
    ? createScheduler({
        sites: config.sites,
        prober: opts.prober,
        intake,
        clock,
        logger,
        metrics,
        // Only the leader probes on the schedule: one replica, one verdict per tick.
        isLeader,
        onProbe: (site) => facts.refreshIfStale(site, 30_000),
        spreadMs: config.service.probeSpreadMs,
        ...(podLister ? { pods: podLister } : {}),
      })
    : undefined
  // Silences only when the service acts: a dry-run repairs nothing to silence.
  const silencer =
    config.alertmanager && runner
      ? createSilencer({
          config,
          api: createAlertmanagerApi(config.alertmanager, opts.secrets.alertmanagerToken),
          store,
          clock,
          logger,
          isLeader,
          ...(opts.sweepEveryMs ? { sweepEveryMs: opts.sweepEveryMs } : {}),
        })
      : undefined
  const readiness = (): Readiness => {
    const own = store.ready()
    if (!own.ready) return own
    // /status reads the last verdict times from it: the same answer on every replica.
    if (!heartbeat.loaded()) return { ready: false, reason: 'the heartbeat object is not loaded yet' }
    return opts.readiness?.() ?? own
  }
  const ctx: AppContext = {
    config,
    secrets: opts.secrets,
    logger,
    clock,
    version: VERSION,
    startedAt: new Date(clock.now()).toISOString(),
    identity,
    isLeader,
    store,
    heartbeat,
    metrics,
    recycler,
    operator,
    intake,
    facts,
    ...(scheduler ? { scheduler } : {}),
    ...(silencer ? { silencer } : {}),
    readiness,
    mode: { cluster: opts.executor ? 'connected' : 'none', ...(opts.note ? { note: opts.note } : {}) },
  }
  store.start()
  heartbeat.start()
  // The dead-man's switch of a site that never had a report counts from when
  // the service first watched it, not from this process's start.
  // A site new to the service also takes the service's pause, if one is on.
  void store.loaded().then(() => {
    const paused = operator.servicePause()
    return Promise.all(
      config.sites.map((site) =>
        store
          .update(site.name, (s) =>
            s.since
              ? { result: undefined }
              : {
                  next: {
                    ...s,
                    since: new Date(clock.now()).toISOString(),
                    ...(paused && !s.servicePause ? { servicePause: paused } : {}),
                  },
                  result: undefined,
                },
          )
          .catch(() => undefined),
      ),
    )
  })

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.service.bodyLimitBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID()
    },
    // Refuse deeply crafted URLs and absurd headers early.
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // Timeouts, trusted proxies, and { code, message } for errors before routing.
    ...serverLimitOptions(config.service),
    // Probe and scrape requests log at debug (routes say so), the rest at info.
    logController: new RouteLevelLogController(),
  })
  limitConnectionsPerClient(app, config.service)
  app.decorate('core', {
    store,
    heartbeat,
    metrics,
    recycler,
    intake,
    facts,
    notifier,
    ...(runner ? { runner } : {}),
    ...(scheduler ? { scheduler } : {}),
  })
  // The state gauges read the /status model at scrape time.
  metrics.observeState(() => scrapeState(ctx))
  app.setValidatorCompiler(validatorCompiler)

  // 1. Errors first, so every later failure answers { code, message }.
  registerErrorHandling(app)
  // 2. JSON arrives as bytes; routes parse it after authentication.
  registerJsonBody(app)
  // Request durations by route pattern, for every answer (errors too).
  registerHttpMetrics(app, metrics)
  // 3. Behind trusted proxies, a client named by something that is not an
  // address is refused before anything keys a limit on it.
  requireClientAddress(app, config.service)
  // Rate limits are per route, after the route's scope's hooks (the
  // credentials are checked first); probes of the service are exempt.
  // (onRoute: before the routes.)
  registerRateLimit(app, clock, config.service)
  // 4. The OpenAPI document is built from the route schemas registered after it.
  await app.register(swagger, openapiOptions({ version: VERSION }))
  // 5. Routes, each given the context it calls. Every route that takes
  // credentials is registered in an authenticated scope, whose hooks check
  // them and limit failures per client before any hook of the route: one
  // scope per kind of credential, one failure count per client for all.
  const failures = createFailureBook(config.service.failedAuthLimit)
  await app.register(
    authenticatedScope({
      auth: webhookAuth(opts.secrets, clock, metrics.authFailures),
      failures,
      clock,
      routes: async (webhooks) => {
        await webhooks.register(webhookJenkins, ctx)
        await webhooks.register(webhookAlertmanager, ctx)
      },
    }),
    { prefix: '/webhooks' },
  )
  await app.register(
    authenticatedScope({
      auth: operatorAuth(opts.secrets, metrics.authFailures),
      failures,
      clock,
      routes: async (operators) => {
        await operators.register(recycleRequestRoute, ctx)
        await operators.register(operatorRoutes, ctx)
        if (config.service.statusAuth) await operators.register(statusRoute, ctx)
      },
    }),
  )
  if (!config.service.statusAuth) await app.register(statusRoute, ctx)
  await app.register(recycleReadRoute, ctx)
  await app.register(serviceRoutes, ctx)

  // Without a cluster the state is in this process: loaded at once, and the
  // app is ready when it says so. With one, the process listens while the
  // store loads (and /readyz says why it is not ready yet).
  if (!store.durable)
    app.addHook('onReady', async () => {
      await store.loaded()
      await heartbeat.whenLoaded()
    })
  if (runner)
    app.addHook('onReady', async () => {
      runner.start()
    })
  if (silencer)
    app.addHook('onReady', async () => {
      silencer.start()
    })
  if (scheduler && opts.schedule) {
    app.addHook('onReady', async () => {
      scheduler.start()
    })
  }
  // Shutdown order: stop new ticks; write what they said again (the
  // heartbeat, while this replica still leads); let go of running recycles
  // (they stay `running` in the store, and the next leader adopts them);
  // drop the probe connections; stop watching the state.
  app.addHook('onClose', async () => {
    unwatchFacts?.()
    await scheduler?.stop()
    await silencer?.stop()
    await heartbeat.close()
    await recycler.close()
    await notifier.close()
    await facts.idle()
    await opts.prober?.close()
    await store.close()
  })
  return app
}
