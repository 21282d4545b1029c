// GET /status: JSON for dashboards, the HTML page for a browser
// (Accept: text/html). With service.statusAuth app.ts registers it in the
// operators' authenticated scope.

import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { AppContext } from '../context.ts'
import { errors } from '../schemas.ts'
import { SECURITY, TAGS } from '../openapi.ts'
import { statusModel } from '../../status/model.ts'
import { renderStatusPage } from '../../status/page.ts'
import { FormatQuery, jsonOrPage, sendPage, wantsPage } from '../html.ts'
import { PauseSchema, TimelineRunSchema } from '../../state/schema.ts'

const Paused = Type.Union([PauseSchema, Type.Null()], {
  description: 'who paused automatic recycles, why, since and until when; null when not paused',
})
const WindowView = Type.Object({
  open: Type.Optional(Type.Object({ from: Type.String(), until: Type.String() })),
  next: Type.Optional(Type.String({ description: 'when the next window opens' })),
})

const StatusBody = Type.Object(
  {
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
      heartbeat: Type.Optional(
        Type.Union([Type.Object({ at: Type.String(), by: Type.String() }), Type.Null()], {
          description:
            "the leader's last heartbeat: a site whose probes keep saying the same is not written again; its lastVerdict.at is the last repeat this heartbeat carries (at most a minute old, plus the probe interval)",
        }),
      ),
    }),
    sites: Type.Array(
      Type.Object(
        {
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
          git: Type.Optional(
            Type.Object({
              branch: Type.String(),
              head: Type.Optional(Type.String()),
              running: Type.Optional(Type.String()),
              drift: Type.Boolean(),
              error: Type.Optional(Type.String()),
              checkedAt: Type.Optional(Type.String()),
            }),
          ),
          lastReportAt: Type.Optional(Type.String()),
          paused: Paused,
          mode: Type.Enum(['auto', 'notify', 'approve']),
          waiting: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
            description: 'a recycle awaiting approval or a recycle window',
          }),
          windows: Type.Optional(
            Type.Object({ maintenance: Type.Optional(WindowView), recycle: Type.Optional(WindowView) }),
          ),
          lastReset: Type.Optional(
            Type.Object({ by: Type.String(), at: Type.String(), reason: Type.Optional(Type.String()) }),
          ),
          timeline: Type.Optional(
            Type.Array(TimelineRunSchema, { description: 'the last verdicts as runs of alike verdicts, oldest first' }),
          ),
          commitUrl: Type.Optional(
            Type.String({ description: 'git.commitUrl: the git host link template, {commit} replaced' }),
          ),
        },
        { additionalProperties: true },
      ),
    ),
    recent: Type.Array(Type.Object({}, { additionalProperties: true })),
  },
  { title: 'Status' },
)

export default async function statusRoute(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const statusAuth = ctx.config.service.statusAuth
  app.get(
    '/status',
    {
      schema: {
        operationId: 'getStatus',
        tags: [TAGS.status],
        summary: 'Sites, health and recent recycles',
        description:
          'JSON for dashboards and scripts; the HTML page for a browser (Accept ranking text/html above JSON, or ?format=html). ' +
          'Every replica answers the same (the state is shared). Needs the operator token when service.statusAuth is true.',
        security: statusAuth ? SECURITY.operator : SECURITY.none,
        querystring: FormatQuery,
        response: {
          200: jsonOrPage('The status, as JSON or as the HTML page', StatusBody, 'the status page'),
          ...(statusAuth ? errors(400, 401, 500) : errors(400, 500)),
        },
      },
      config: { rateLimit: ctx.config.service.readRateLimit },
    },
    async (request, reply) => {
      const model = statusModel(ctx)
      if (wantsPage(request, reply)) return sendPage(reply, renderStatusPage(model, ctx.clock.now()))
      return reply.header('Cache-Control', 'no-store').send(model)
    },
  )
}
