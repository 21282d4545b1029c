// Builds the Fastify app from its dependencies. Tests build this; only
// main.ts makes a process of it (listening, signals, exit). Order matters and
// is commented where it does.

import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import type { Logger } from 'pino'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { systemClock, type Clock } from './clock.ts'
import type { Secrets } from './config/secrets.ts'
import type { Config, SiteConfig } from './config/types.ts'
import { Errors } from './errors.ts'
import { createHealthBook, type HealthBook } from './health/state.ts'
import type { Executor } from './recycle/executor.ts'
import { createRecycler, type CommitResolver, type Recycler } from './recycle/service.ts'
import type { AppContext, Readiness } from './server/context.ts'
import { registerJsonBody } from './server/plugins/body.ts'
import { registerErrorHandling } from './server/plugins/errors.ts'
import { registerFailedAuthLimit } from './server/plugins/auth-limit.ts'
import { limitConnectionsPerClient, serverLimitOptions } from './server/plugins/limits.ts'
import recycleRoutes from './server/routes/recycle.ts'
import serviceRoutes from './server/routes/service.ts'
import statusRoute from './server/routes/status.ts'
import webhookJenkins from './server/routes/webhook-jenkins.ts'
import { validatorCompiler } from './server/validation.ts'
import { createHistory, type History } from './status/history.ts'
import { createMetrics, type Metrics } from './status/metrics.ts'
import { createIntake, type Intake } from './triggers/intake.ts'
import type { Prober } from './triggers/probe.ts'
import { createScheduler, type Scheduler } from './triggers/schedule.ts'
import { createSiteFacts, type SiteFactsBook } from './status/facts.ts'

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

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
  readiness?: () => Readiness
  /** The probe engine: enables verification after recycles and, with `schedule`, the cron. */
  prober?: Prober
  /** Start the per-site cron schedules (main does; tests opt in). */
  schedule?: boolean
  /** Only the Lease leader runs the cron probes. */
  isLeader?: () => boolean
  /** Waits inside recycles (verification); tests pass a fast one. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
}

export interface Core {
  health: HealthBook
  history: History
  metrics: Metrics
  recycler: Recycler
  intake: Intake
  scheduler?: Scheduler
  facts: SiteFactsBook
}

declare module 'fastify' {
  interface FastifyInstance {
    core: Core
  }
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const clock = opts.clock ?? systemClock
  const { config, logger } = opts
  const health = createHealthBook(config.sites.map((s) => s.name))
  const history = createHistory(config.service.historySize)
  const metrics = createMetrics({ defaultMetrics: opts.defaultMetrics ?? false })
  const facts = createSiteFacts({ clock, logger, ...(opts.executor ? { executor: opts.executor } : {}), ...(opts.commits ? { commits: opts.commits } : {}) })
  // The scheduler and the recycler need each other (ticks feed the intake,
  // recycles are verified by probing); the late binding is this one variable.
  let scheduler: Scheduler | undefined
  const recycler = createRecycler({
    config, history, health, metrics, clock, logger,
    ...(opts.executor ? { executor: opts.executor } : {}),
    ...(opts.commits ? { commits: opts.commits } : {}),
    ...(opts.prober ? { verify: (site: SiteConfig) => scheduler!.probe(site) } : {}),
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
    onFinished: (site: SiteConfig) => { void facts.refresh(site).catch(() => undefined) },
  })
  const intake = createIntake({ health, recycler, metrics, clock, logger })
  if (opts.prober) {
    scheduler = createScheduler({
      sites: config.sites, prober: opts.prober, intake, clock, logger, metrics,
      ...(opts.isLeader ? { isLeader: opts.isLeader } : {}),
      onProbe: (site) => facts.refreshIfStale(site, 30_000),
    })
  }
  const ctx: AppContext = {
    config,
    secrets: opts.secrets,
    logger,
    clock,
    version: VERSION,
    startedAt: new Date(clock.now()).toISOString(),
    health, history, metrics, recycler, intake, facts,
    ...(scheduler ? { scheduler } : {}),
    readiness: opts.readiness ?? (() => ({ ready: true, reason: opts.executor ? 'cluster connected' : 'no cluster: dry-run' })),
    mode: { cluster: opts.executor ? 'connected' : 'none', ...(opts.note ? { note: opts.note } : {}) },
  }

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
  })
  limitConnectionsPerClient(app, config.service)
  app.decorate('core', { health, history, metrics, recycler, intake, facts, ...(scheduler ? { scheduler } : {}) })
  app.setValidatorCompiler(validatorCompiler)

  // 1. Errors first, so every later failure answers { code, message }.
  registerErrorHandling(app)
  // 2. JSON arrives as bytes; routes parse it after authentication.
  registerJsonBody(app)
  // 3. Failed authentication is counted by the app's own hooks, which run
  // before any route's auth hook. Rate limits are per route (webhook and
  // recycle; the read routes have their own); probes of the service are exempt.
  registerFailedAuthLimit(app, config.service.failedAuthLimit, clock)
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, c) => Errors.rateLimited(`too many requests: at most ${c.max} per ${Math.round(c.ttl / 1000)} s; retry after ${Math.ceil(c.ttl / 1000)} s`),
  })
  // 4. The OpenAPI document is built from the route schemas registered after it.
  await app.register(swagger, {
    openapi: {
      info: { title: 'kube-recycler', version: VERSION },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  })
  // 5. Routes, each given the context it calls.
  await app.register(webhookJenkins, ctx)
  await app.register(recycleRoutes, ctx)
  await app.register(statusRoute, ctx)
  await app.register(serviceRoutes, ctx)

  if (opts.executor && !config.service.dryRun) {
    // A recycle this replica left running before a restart is watched again.
    app.addHook('onReady', async () => {
      void recycler.resumeInFlight().then((n) => { if (n > 0) logger.info({ resumed: n }, 'resumed in-flight recycles') }, () => undefined)
    })
  }
  if (scheduler && opts.schedule) {
    app.addHook('onReady', async () => { scheduler!.start() })
  }
  // Shutdown order: stop new ticks, then let running recycles settle, then
  // drop the probe connections.
  app.addHook('onClose', async () => {
    await scheduler?.stop()
    await recycler.close()
    await facts.idle()
    await opts.prober?.close()
  })
  return app
}
