// The service's own probes, its metrics, and the OpenAPI document with its
// UI: /docs (Swagger UI, served from the package, no network needed),
// /docs/json and /docs/yaml.

import type { FastifyInstance } from 'fastify'
import swaggerUi from '@fastify/swagger-ui'
import Type from 'typebox'
import type { AppContext } from '../context.ts'
import { errors } from '../schemas.ts'
import { SECURITY, TAGS } from '../openapi.ts'

export default async function serviceRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'getLiveness',
        tags: [TAGS.service],
        security: SECURITY.none,
        summary: 'Liveness: the process answers',
        response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'The process is alive' }) },
      },
      // Probed every few seconds by the kubelet: debug, not info (plugins/request-log.ts).
      config: { rateLimit: false, requestLog: 'debug' },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        tags: [TAGS.service],
        security: SECURITY.none,
        summary: 'Readiness: config loaded and the service can do its job',
        response: {
          200: Type.Object(
            { status: Type.Literal('ready'), reason: Type.String() },
            { description: 'Ready: the shared state is loaded' },
          ),
          503: Type.Object(
            { status: Type.Literal('not-ready'), reason: Type.String() },
            { description: 'Not ready; the reason says why (state not loaded, API server silent)' },
          ),
        },
      },
      config: { rateLimit: false, requestLog: 'debug' },
    },
    async (_request, reply) => {
      const r = ctx.readiness()
      if (r.ready) return reply.status(200).send({ status: 'ready' as const, reason: r.reason })
      return reply.status(503).send({ status: 'not-ready' as const, reason: r.reason })
    },
  )

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: [TAGS.service],
        security: SECURITY.none,
        summary: 'Prometheus metrics',
        response: {
          200: {
            description: 'The metrics, in the Prometheus text format (0.0.4)',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...errors(500),
        },
      },
      // Scraped every 15-30 s: debug, not info.
      config: { rateLimit: ctx.config.service.readRateLimit, requestLog: 'debug' },
    },
    async (_request, reply) => {
      const text = await ctx.metrics.registry.metrics()
      return reply
        .type(ctx.metrics.registry.contentType)
        .serializer((p: unknown) => p as string)
        .send(text)
    },
  )

  // Browsers ask for it on every page: an empty answer instead of a 404 in
  // their console (a data: icon would need img-src data: in the CSP).
  app.get(
    '/favicon.ico',
    {
      schema: { hide: true },
      config: { rateLimit: ctx.config.service.readRateLimit },
    },
    async (_request, reply) => reply.header('Cache-Control', 'max-age=86400').code(204).send(),
  )

  // Everything the UI loads comes from this service: its own scripts and
  // styles, no inline script, no third-party origin, nobody may frame it.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP:
      "default-src 'self'; base-uri 'self'; img-src 'self' data:; font-src 'self' data:; object-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    theme: { title: 'kube-recycler API' },
    uiConfig: { deepLinking: true, displayOperationId: true, tryItOutEnabled: false },
  })
}
