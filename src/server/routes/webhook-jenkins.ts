// POST /webhooks/jenkins: the hourly integrity job's result. Registered in
// the webhooks' authenticated scope (prefix /webhooks), whose hooks check
// the credentials before the body is parsed; the body is one of two formats
// (see triggers/jenkins.ts); the answer says what was decided.

import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { AppContext } from '../context.ts'
import { errors, VerdictSchema } from '../schemas.ts'
import { SECURITY, TAGS } from '../openapi.ts'
import { ACTIONS } from '../../triggers/intake.ts'
import { boundVerdict } from '../../state/bounds.ts'
import { JenkinsPayload, jenkinsVerdict, parseJenkinsPayload } from '../../triggers/jenkins.ts'
import { parseJsonBody } from '../plugins/body.ts'
import { steps } from '../plugins/hooks.ts'
import { toAppError } from '../plugins/errors.ts'
import { recycleSummary, RecycleSummary } from './recycle.ts'

const Accepted = Type.Object(
  {
    site: Type.String(),
    verdict: Type.Union([VerdictSchema, Type.Null()]),
    action: Type.Enum(ACTIONS),
    reason: Type.String(),
    health: Type.Enum(['healthy', 'failing', 'unknown']),
    recycle: Type.Optional(RecycleSummary),
  },
  { title: 'WebhookDecision' },
)

export default async function webhookJenkins(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const parse = parseJsonBody(app)
  app.post(
    '/jenkins',
    {
      schema: {
        operationId: 'receiveJenkinsResult',
        tags: [TAGS.webhooks],
        summary: 'Receive a Jenkins integrity result',
        description:
          "One site per delivery, in the project's own format or the Jenkins Notification plugin's. " +
          'Authenticated by an HMAC signature over the raw body (X-Recycler-Timestamp and X-Recycler-Signature), a bearer token, ' +
          'or Basic with the token as password. The same job and build delivered twice, to any replica, acts once (`duplicate`).',
        security: SECURITY.webhook,
        body: JenkinsPayload,
        response: {
          202: { ...Accepted, description: 'Accepted: what was decided for the site' },
          ...errors(400, 401, 403, 404, 413, 415, 429, 500, 503),
        },
      },
      // The body is one of two formats; parseJenkinsPayload tells them apart
      // and names the bad field, which a plain union cannot do.
      validatorCompiler: () => (data: unknown) => {
        try {
          return { value: parseJenkinsPayload(data) }
        } catch (e) {
          return { error: toAppError(e) }
        }
      },
      config: { rateLimit: ctx.config.service.rateLimit },
      // After the scope's signature check: an unauthenticated caller learns nothing from parse errors.
      preValidation: steps(parse),
    },
    async (request, reply) => {
      const parsed = request.body as unknown as ReturnType<typeof parseJenkinsPayload>
      try {
        const v = jenkinsVerdict(ctx.config, parsed, new Date(ctx.clock.now()))
        if (v.kind === 'ignored') {
          const d = ctx.intake.ignore(v.site, v.key, v.reason)
          ctx.metrics.webhooks.inc({ result: d.action })
          return reply
            .status(202)
            .send({ site: d.site, verdict: null, action: d.action, reason: d.reason, health: d.health })
        }
        const d = await ctx.intake.submit(v.site, v.verdict, v.status ? { status: v.status } : {})
        ctx.metrics.webhooks.inc({ result: d.action })
        return reply.status(202).send({
          site: d.site,
          // What was recorded, as stored: bounded, whatever the size of the report.
          verdict: d.action === 'duplicate' ? null : boundVerdict(v.verdict),
          action: d.action,
          reason: d.reason,
          health: d.health,
          ...(d.recycle ? { recycle: recycleSummary(d.recycle) } : {}),
        })
      } catch (e) {
        ctx.metrics.webhooks.inc({ result: 'rejected' })
        throw e
      }
    },
  )
}
