// POST /recycle (an operator's manual trigger; registered in the operators'
// authenticated scope) and GET /recycles/:id (follow it; open to read).

import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { AppContext } from '../context.ts'
import { errors, RecycleRecordSchema } from '../schemas.ts'
import { SECURITY, TAGS } from '../openapi.ts'
import { parseJsonBody } from '../plugins/body.ts'
import { steps } from '../plugins/hooks.ts'
import { Errors } from '../../errors.ts'
import type { RecycleRecord } from '../../state/schema.ts'
import { STRATEGIES } from '../../config/types.ts'
import { renderRecyclePage } from '../../status/page.ts'
import { FormatQuery, jsonOrPage, sendPage, wantsPage } from '../html.ts'

export const RecycleSummary = Type.Object(
  {
    id: Type.String(),
    site: Type.String(),
    state: Type.String(),
    strategy: Type.String(),
    dryRun: Type.Boolean(),
    reason: Type.Optional(Type.String()),
    commit: Type.Optional(Type.String()),
    /** The same refusal, merged into one record: how many times. */
    repeats: Type.Optional(Type.Integer()),
    url: Type.String(),
  },
  { title: 'RecycleSummary' },
)

export function recycleSummary(r: RecycleRecord): {
  id: string
  site: string
  state: string
  strategy: string
  dryRun: boolean
  reason?: string
  commit?: string
  repeats?: number
  url: string
} {
  return {
    id: r.id,
    site: r.site,
    state: r.state,
    strategy: r.strategy,
    dryRun: r.dryRun,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    ...(r.commit !== undefined ? { commit: r.commit } : {}),
    ...(r.repeats !== undefined ? { repeats: r.repeats } : {}),
    url: `/recycles/${r.id}`,
  }
}

const RecycleBody = Type.Object(
  {
    site: Type.String({ minLength: 1, maxLength: 63 }),
    reason: Type.String({ minLength: 1, maxLength: 500 }),
    strategy: Type.Optional(Type.Enum(STRATEGIES)),
    dryRun: Type.Optional(Type.Boolean()),
    commit: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{7,64}$' })),
  },
  { additionalProperties: false, title: 'RecycleRequest' },
)

/** POST /recycle: inside the operators' authenticated scope. */
export async function recycleRequestRoute(scope: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>()
  app.post(
    '/recycle',
    {
      schema: {
        operationId: 'requestRecycle',
        tags: [TAGS.operator],
        summary: 'Recycle a site now (operator)',
        description:
          'The policy still applies (one recycle per site at a time, the cooldown); an open circuit breaker does not stop an operator. ' +
          'The answer is the new record: `pending` (the leader runs it), `planned` (dry-run) or `skipped` with the reason. Follow it with GET /recycles/{id}.',
        security: SECURITY.operator,
        body: RecycleBody,
        response: {
          202: { ...RecycleSummary, description: 'Accepted: the new recycle record (without its steps)' },
          ...errors(400, 401, 404, 413, 415, 429, 500, 503),
        },
      },
      config: { rateLimit: ctx.config.service.rateLimit },
      preValidation: steps(parseJsonBody(scope)),
    },
    async (request, reply) => {
      const body = request.body
      const r = await ctx.recycler.request({
        site: body.site,
        source: 'operator',
        reason: body.reason,
        ...(request.operator ? { by: request.operator } : {}),
        ...(body.strategy ? { strategy: body.strategy } : {}),
        ...(body.dryRun !== undefined ? { dryRun: body.dryRun } : {}),
        ...(body.commit ? { commit: body.commit.toLowerCase() } : {}),
      })
      return reply.status(202).send(recycleSummary(r))
    },
  )
}

/** GET /recycles/:id: no credentials (the read limit). */
export default async function recycleReadRoute(scope: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>()
  app.get(
    '/recycles/:id',
    {
      schema: {
        operationId: 'getRecycle',
        tags: [TAGS.status],
        summary: 'Follow one recycle',
        description:
          'Its steps, plan, outcome and verification; the same on every replica. ' +
          'JSON by default; an HTML page for a browser (Accept ranking text/html above JSON, or ?format=html).',
        security: SECURITY.none,
        params: Type.Object({
          id: Type.String({ minLength: 1, maxLength: 64, description: 'the id POST /recycle or the webhook answered' }),
        }),
        querystring: FormatQuery,
        response: {
          200: jsonOrPage('The recycle, as JSON or as an HTML page', RecycleRecordSchema, 'the recycle page'),
          ...errors(400, 404, 500),
        },
      },
      config: { rateLimit: ctx.config.service.readRateLimit },
    },
    async (request, reply) => {
      const { id } = request.params
      const r = ctx.recycler.get(id)
      if (!r)
        throw Errors.notFound(
          `no recycle with id "${id}" (the service keeps the recycles of the circuit-breaker window and the last 50 per site)`,
        )
      if (wantsPage(request, reply)) {
        const commitUrl = ctx.config.sites.find((s) => s.name === r.site)?.git?.commitUrl
        return sendPage(reply, renderRecyclePage(r, ctx.clock.now(), commitUrl))
      }
      return reply.send(r)
    },
  )
}
