// The operator's brakes (operator token; the token's name is recorded as
// `by`): pause and resume a site or the whole service, reset a site's
// circuit breaker and did-not-help stop, approve or reject a recycle that
// waits for approval. Registered in the operators' authenticated scope,
// which checks the token and limits failures for every route here.

import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type, { type Static, type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { AppContext } from '../context.ts'
import { errors, RecycleRecordSchema } from '../schemas.ts'
import { SECURITY, TAGS } from '../openapi.ts'
import { parseJsonBody } from '../plugins/body.ts'
import { steps } from '../plugins/hooks.ts'
import { formatSchemaErrors } from '../../config/errors.ts'
import { Errors } from '../../errors.ts'
import { PauseSchema } from '../../state/schema.ts'

const Reason = Type.String({ minLength: 1, maxLength: 500 })
const PauseBody = Type.Object(
  {
    reason: Reason,
    until: Type.Optional(
      Type.String({ minLength: 1, maxLength: 40, description: 'ISO 8601 date-time; the pause ends by itself then' }),
    ),
  },
  { additionalProperties: false, title: 'PauseRequest' },
)
const NoteBody = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false, title: 'OperatorNote' })
const SiteParams = Type.Object({ site: Type.String({ minLength: 1, maxLength: 63 }) })
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
const PausedAnswer = Type.Object(
  {
    site: Type.Optional(Type.String()),
    paused: Type.Union([PauseSchema, Type.Null()]),
    was: Type.Optional(Type.Union([PauseSchema, Type.Null()])),
  },
  { title: 'PauseState' },
)
const ResetAnswer = Type.Object(
  {
    site: Type.String(),
    reset: Type.Object({ by: Type.String(), at: Type.String(), reason: Type.Optional(Type.String()) }),
    circuitOpen: Type.Boolean(),
  },
  { title: 'ResetState' },
)

/**
 * The optional `{ reason }` body: absent, or valid; 400 names the field.
 * (A route schema cannot say "no body, or this one".)
 */
function optionalBody<S extends TSchema>(schema: S): (request: FastifyRequest) => Static<S> | Record<string, never> {
  const check = Compile(schema)
  return (request) => {
    if (request.body === undefined || request.body === null) return {}
    if (!check.Check(request.body))
      throw Errors.invalidField(formatSchemaErrors(check.Errors(request.body), 'body').slice(0, 10).join('; '))
    return request.body
  }
}

const until = (u: string | undefined): string | undefined => {
  if (u === undefined) return undefined
  const t = Date.parse(u)
  if (!Number.isFinite(t)) throw Errors.invalidField('body.until: must be an ISO 8601 date-time')
  return new Date(t).toISOString()
}

export default async function operatorRoutes(scope: FastifyInstance, ctx: AppContext): Promise<void> {
  const app = scope.withTypeProvider<TypeBoxTypeProvider>()
  const common = {
    config: { rateLimit: ctx.config.service.rateLimit },
    preValidation: steps(parseJsonBody(scope)),
  }
  const note = optionalBody(NoteBody)
  const by = (request: FastifyRequest): string => request.operator ?? 'operator'
  const op = ctx.operator

  app.post(
    '/pause',
    {
      schema: {
        operationId: 'pauseService',
        tags: [TAGS.operator],
        summary: 'Pause automatic recycles of every site (operator)',
        security: SECURITY.operator,
        body: PauseBody,
        response: {
          200: { ...PausedAnswer, description: 'The pause now in force (null: none), as every replica sees it' },
          ...errors(400, 401, 404, 429, 503),
        },
      },
      ...common,
    },
    async (request) => {
      const b = request.body
      return { paused: await op.pause(undefined, { by: by(request), reason: b.reason }, until(b.until)) }
    },
  )

  app.post(
    '/resume',
    {
      schema: {
        operationId: 'resumeService',
        tags: [TAGS.operator],
        summary: 'Resume automatic recycles of the service (operator; body optional: { reason })',
        security: SECURITY.operator,
        response: {
          200: { ...PausedAnswer, description: 'The pause now in force (null: none), as every replica sees it' },
          ...errors(400, 401, 404, 429, 503),
        },
      },
      ...common,
    },
    async (request) => {
      const b = note(request)
      const { was } = await op.resume(undefined, { by: by(request), ...(b.reason ? { reason: b.reason } : {}) })
      return { paused: null, was }
    },
  )

  app.post(
    '/sites/:site/pause',
    {
      schema: {
        operationId: 'pauseSite',
        tags: [TAGS.operator],
        summary: 'Pause automatic recycles of one site (operator)',
        security: SECURITY.operator,
        params: SiteParams,
        body: PauseBody,
        response: {
          200: { ...PausedAnswer, description: 'The pause now in force (null: none), as every replica sees it' },
          ...errors(400, 401, 404, 429, 503),
        },
      },
      ...common,
    },
    async (request) => {
      const { site } = request.params
      const b = request.body
      return { site, paused: await op.pause(site, { by: by(request), reason: b.reason }, until(b.until)) }
    },
  )

  app.post(
    '/sites/:site/resume',
    {
      schema: {
        operationId: 'resumeSite',
        tags: [TAGS.operator],
        summary: 'Resume automatic recycles of one site (operator; body optional: { reason })',
        security: SECURITY.operator,
        params: SiteParams,
        response: {
          200: { ...PausedAnswer, description: 'The pause now in force (null: none), as every replica sees it' },
          ...errors(400, 401, 404, 429, 503),
        },
      },
      ...common,
    },
    async (request) => {
      const { site } = request.params
      const b = note(request)
      const { was } = await op.resume(site, { by: by(request), ...(b.reason ? { reason: b.reason } : {}) })
      return { site, paused: null, was }
    },
  )

  app.post(
    '/sites/:site/reset',
    {
      schema: {
        operationId: 'resetSite',
        tags: [TAGS.operator],
        summary:
          'Close the circuit breaker and lift the did-not-help stop, without restarting pods (operator; body optional: { reason })',
        security: SECURITY.operator,
        params: SiteParams,
        response: {
          200: { ...ResetAnswer, description: "The site's brakes after the reset" },
          ...errors(400, 401, 404, 429, 503),
        },
      },
      ...common,
    },
    async (request) => {
      const { site } = request.params
      const b = note(request)
      await op.reset(site, { by: by(request), ...(b.reason ? { reason: b.reason } : {}) })
      return { site, reset: ctx.store.get(site).lastReset!, circuitOpen: ctx.recycler.circuitOpen(site) }
    },
  )

  for (const verb of ['approve', 'reject'] as const) {
    app.post(
      `/recycles/:id/${verb}`,
      {
        schema: {
          operationId: `${verb}Recycle`,
          tags: [TAGS.operator],
          summary: `${verb === 'approve' ? 'Approve' : 'Reject'} a recycle that awaits approval (recycle.mode approve; operator; body optional: { reason })`,
          security: SECURITY.operator,
          params: IdParams,
          response: {
            200: { ...RecycleRecordSchema, description: 'The recycle with its decision recorded' },
            ...errors(400, 401, 404, 409, 429, 503),
          },
        },
        ...common,
      },
      async (request) => {
        const { id } = request.params
        const b = note(request)
        const actor = { by: by(request), ...(b.reason ? { reason: b.reason } : {}) }
        return verb === 'approve' ? op.approve(id, actor) : op.reject(id, actor)
      },
    )
  }
}
