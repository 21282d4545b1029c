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
import type { Config } from './config/types.ts'
import { Errors } from './errors.ts'
import { createHealthBook, type HealthBook } from './health/state.ts'
import type { Executor } from './recycle/executor.ts'
import { createRecycler, type CommitResolver, type Recycler } from './recycle/service.ts'
import type { AppContext, Readiness } from './server/context.ts'
import { registerJsonBody } from './server/plugins/body.ts'
import { registerErrorHandling } from './server/plugins/errors.ts'
import recycleRoutes from './server/routes/recycle.ts'
import serviceRoutes from './server/routes/service.ts'
import statusRoute from './server/routes/status.ts'
import webhookJenkins from './server/routes/webhook-jenkins.ts'
import { validatorCompiler } from './server/validation.ts'
import { createHistory, type History } from './status/history.ts'
import { createMetrics, type Metrics } from './status/metrics.ts'
import { createIntake, type Intake } from './triggers/intake.ts'

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
}

export interface Core {
  health: HealthBook
  history: History
  metrics: Metrics
  recycler: Recycler
  intake: Intake
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
  const recycler = createRecycler({
    config, history, health, metrics, clock, logger,
    ...(opts.executor ? { executor: opts.executor } : {}),
    ...(opts.commits ? { commits: opts.commits } : {}),
  })
  const intake = createIntake({ health, recycler, metrics, clock, logger })
  const ctx: AppContext = {
    config,
    secrets: opts.secrets,
    logger,
    clock,
    version: VERSION,
    startedAt: new Date(clock.now()).toISOString(),
    health, history, metrics, recycler, intake,
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
  })
  app.decorate('core', { health, history, metrics, recycler, intake })
  app.setValidatorCompiler(validatorCompiler)

  // 1. Errors first, so every later failure answers { code, message }.
  registerErrorHandling(app)
  // 2. JSON arrives as bytes; routes parse it after authentication.
  registerJsonBody(app)
  // 3. Rate limits are per route (webhook, recycle); probes of the service are exempt.
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

  app.addHook('onClose', async () => {
    await recycler.close()
  })
  return app
}
