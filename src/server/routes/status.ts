// GET /status: JSON for dashboards, the HTML page for a browser
// (Accept: text/html), optionally behind the operator token.

import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { AppContext } from '../context.ts'
import { errors } from '../schemas.ts'
import { SECURITY, TAGS } from '../openapi.ts'
import { routeLimit } from '../plugins/limits.ts'
import { operatorAuth } from '../plugins/auth.ts'
import { statusModel } from '../../status/model.ts'
import { PAGE_SECURITY_HEADERS, renderStatusPage } from '../../status/page.ts'
import { PauseSchema, TimelineRunSchema } from '../../state/schema.ts'

const Paused = Type.Union([PauseSchema, Type.Null()], { description: 'who paused automatic recycles, why, since and until when; null when not paused' })
const WindowView = Type.Object({
  open: Type.Optional(Type.Object({ from: Type.String(), until: Type.String() })),
  next: Type.Optional(Type.String({ description: 'when the next window opens' })),
})

const StatusBody = Type.Object({
  service: Type.Object({
    version: Type.String(),
    startedAt: Type.String(),
    dryRun: Type.Boolean(),
    cluster: Type.String(),
    note: Type.Optional(Type.String()),
    replica: Type.String(),
    leader: Type.Boolean(),
    ready: Type.Boolean(),
    paused: Paused,
  }),
  sites: Type.Array(Type.Object({
    name: Type.String(),
    target: Type.String(),
    strategy: Type.String(),
    health: Type.Enum(['healthy', 'failing', 'unknown']),
    consecutiveFailures: Type.Integer(),
    lastVerdict: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
    lastRecycle: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
    circuitOpen: Type.Boolean(),
    stale: Type.Boolean(),
    note: Type.Optional(Type.String()),
    git: Type.Optional(Type.Object({
      branch: Type.String(),
      head: Type.Optional(Type.String()),
      running: Type.Optional(Type.String()),
      drift: Type.Boolean(),
      error: Type.Optional(Type.String()),
      checkedAt: Type.Optional(Type.String()),
    })),
    lastReportAt: Type.Optional(Type.String()),
    paused: Paused,
    mode: Type.Enum(['auto', 'notify', 'approve']),
    waiting: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], { description: 'a recycle awaiting approval or a recycle window' }),
    windows: Type.Optional(Type.Object({ maintenance: Type.Optional(WindowView), recycle: Type.Optional(WindowView) })),
    lastReset: Type.Optional(Type.Object({ by: Type.String(), at: Type.String(), reason: Type.Optional(Type.String()) })),
    timeline: Type.Optional(Type.Array(TimelineRunSchema, { description: 'the last verdicts as runs of alike verdicts, oldest first' })),
    commitUrl: Type.Optional(Type.String({ description: 'git.commitUrl: the git host link template, {commit} replaced' })),
  }, { additionalProperties: true })),
  recent: Type.Array(Type.Object({}, { additionalProperties: true })),
}, { title: 'Status' })

export default async function statusRoute(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const statusAuth = ctx.config.service.statusAuth
  const auth = statusAuth ? [operatorAuth(ctx.secrets, ctx.metrics.authFailures)] : []
  app.get('/status', {
    schema: {
      operationId: 'getStatus',
      tags: [TAGS.status],
      summary: 'Sites, health and recent recycles',
      description: 'JSON for dashboards and scripts; the HTML page for a browser (Accept ranking text/html above JSON, or ?format=html). '
        + 'Every replica answers the same (the state is shared). Needs the operator token when service.statusAuth is true.',
      security: statusAuth ? SECURITY.operator : SECURITY.none,
      querystring: Type.Object({ format: Type.Optional(Type.Enum(['json', 'html'], { description: 'overrides the Accept header' })) }, { additionalProperties: false }),
      response: {
        200: {
          description: 'The status, as JSON or as the HTML page',
          content: {
            'application/json': { schema: StatusBody },
            'text/html': { schema: Type.String({ description: 'the status page' }) },
          },
        },
        ...(statusAuth ? errors(400, 401, 500) : errors(400, 500)),
      },
    },
    config: { authenticated: ctx.config.service.statusAuth, rateLimit: routeLimit(ctx.config.service.readRateLimit) },
    onRequest: auth,
  }, async (request, reply) => {
    const model = statusModel(ctx)
    const { format } = request.query as { format?: 'json' | 'html' }
    const wantsHtml = format === 'html' || (format === undefined && prefersHtml(request.headers.accept))
    void reply.header('Vary', 'Accept').header('Cache-Control', 'no-store')
    if (wantsHtml) {
      // The page is not JSON: bypass the JSON serializer for this reply.
      return reply.headers(PAGE_SECURITY_HEADERS).type('text/html; charset=utf-8').serializer((p: unknown) => p as string).send(renderStatusPage(model, ctx.clock.now()))
    }
    return reply.send(model)
  })

  // Browsers ask for it on every page: an empty answer instead of a 404 in
  // their console (a data: icon would need img-src data: in the CSP).
  app.get('/favicon.ico', {
    schema: { hide: true },
    config: { rateLimit: routeLimit(ctx.config.service.readRateLimit) },
  }, async (_request, reply) => reply.header('Cache-Control', 'max-age=86400').code(204).send())
}

// True when the Accept header ranks text/html above JSON (a browser); any-type means JSON.
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false
  let html = 0
  let json = 0
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';')
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='))
    const q = qp ? Number(qp.slice(2)) : 1
    if (!Number.isFinite(q)) continue
    if (type === 'text/html') html = Math.max(html, q)
    else if (type === 'application/json') json = Math.max(json, q)
  }
  return html > 0 && html > json
}
