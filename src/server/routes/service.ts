// The service's own probes, its metrics and its OpenAPI document.

import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { AppContext } from '../context.ts'
import { errorResponses } from '../schemas.ts'
import { routeLimit } from '../plugins/limits.ts'

export default async function serviceRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get('/healthz', {
    schema: { summary: 'Liveness: the process answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
    config: { rateLimit: false },
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    schema: {
      summary: 'Readiness: config loaded and the service can do its job',
      response: { 200: Type.Object({ status: Type.Literal('ready'), reason: Type.String() }), 503: Type.Object({ status: Type.Literal('not-ready'), reason: Type.String() }) },
    },
    config: { rateLimit: false },
  }, async (_request, reply) => {
    const r = ctx.readiness()
    if (r.ready) return reply.status(200).send({ status: 'ready' as const, reason: r.reason })
    return reply.status(503).send({ status: 'not-ready' as const, reason: r.reason })
  })

  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics', response: { 200: Type.String(), ...errorResponses } },
    config: { rateLimit: routeLimit(ctx.config.service.readRateLimit) },
  }, async (_request, reply) => {
    const text = await ctx.metrics.registry.metrics()
    return reply.type(ctx.metrics.registry.contentType).serializer((p: unknown) => p as string).send(text)
  })

  app.get('/docs', {
    schema: { summary: 'OpenAPI document of this API', hide: true },
    config: { rateLimit: routeLimit(ctx.config.service.readRateLimit) },
  }, async (_request, reply) => {
    return reply.type('application/json').send((app as unknown as { swagger(): unknown }).swagger())
  })
}
