// POST /webhooks/alertmanager: Alertmanager's webhook receiver. The same
// authentication, body limit, error shape, rate limit and failed-auth limit
// as the Jenkins route (Alertmanager's http_config sends a bearer token or
// Basic; it cannot sign a body). Every alert of the notification is mapped
// (triggers/alertmanager.ts) and handed to the intake, one after the other;
// the answer says, per alert, what was decided. An alert no site listens to
// is answered 202 and ignored: Alertmanager retries any other answer.

import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { AppContext } from '../context.ts'
import { errors } from '../schemas.ts'
import { SECURITY, TAGS } from '../openapi.ts'
import { ACTIONS } from '../../triggers/intake.ts'
import {
  ALERT_STATUSES,
  AlertmanagerPayload,
  alertVerdicts,
  parseAlertmanagerPayload,
} from '../../triggers/alertmanager.ts'
import { HEALTH_STATES } from '../../state/schema.ts'
import { parseJsonBody } from '../plugins/body.ts'
import { steps } from '../plugins/hooks.ts'
import { toAppError } from '../plugins/errors.ts'
import { recycleSummary, RecycleSummary } from './recycle.ts'

const AlertDecision = Type.Object(
  {
    fingerprint: Type.String(),
    alertname: Type.Optional(Type.String()),
    status: Type.Enum(ALERT_STATUSES),
    site: Type.Union([Type.String(), Type.Null()], {
      description: 'the site the alert is mapped to; null: no site listens to it',
    }),
    action: Type.Enum(ACTIONS),
    reason: Type.String(),
    health: Type.Optional(Type.Enum(HEALTH_STATES)),
    recycle: Type.Optional(RecycleSummary),
    silence: Type.Optional(
      Type.Object(
        {
          id: Type.Optional(Type.String()),
          error: Type.Optional(Type.String()),
        },
        { description: 'alertmanager.silence: the silence held while the recycle runs, or why there is none' },
      ),
    ),
  },
  { title: 'AlertDecision' },
)

const Accepted = Type.Object(
  {
    alerts: Type.Array(AlertDecision, {
      description: 'one entry per alert and site it maps to (an alert of no site: one entry, site null)',
    }),
  },
  { title: 'AlertmanagerDecision' },
)

type AlertDecision = {
  fingerprint: string
  alertname?: string
  status: 'firing' | 'resolved'
  site: string | null
  action: (typeof ACTIONS)[number]
  reason: string
  health?: (typeof HEALTH_STATES)[number]
  recycle?: ReturnType<typeof recycleSummary>
  silence?: { id?: string; error?: string }
}

export default async function webhookAlertmanager(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const parse = parseJsonBody(app)
  // Registered in the webhooks' authenticated scope (prefix /webhooks, app.ts).
  app.post(
    '/alertmanager',
    {
      schema: {
        operationId: 'receiveAlertmanagerNotification',
        tags: [TAGS.webhooks],
        summary: 'Receive an Alertmanager notification',
        description:
          "Alertmanager's webhook payload (version 4), from a `webhook_configs` receiver. Each alert maps to the sites whose " +
          '`alertmanager.matchers` match its labels: firing is a failing verdict (it meets failureThreshold at once: Prometheus already ' +
          "waited the rule's `for:`), resolved a passing one. The same alert (fingerprint and startsAt) repeated, regrouped, sent by " +
          'another Alertmanager or retried acts once (`duplicate`). An alert of no site is answered 202 (`ignored`). ' +
          "Authenticated by a bearer token or Basic with the token as password (Alertmanager's http_config cannot sign a body).",
        security: SECURITY.webhook,
        body: AlertmanagerPayload,
        response: {
          202: { ...Accepted, description: 'Accepted: what was decided for each alert' },
          ...errors(400, 401, 413, 415, 429, 500, 503),
        },
      },
      validatorCompiler: () => (data: unknown) => {
        try {
          return { value: parseAlertmanagerPayload(data) }
        } catch (e) {
          return { error: toAppError(e) }
        }
      },
      config: { rateLimit: ctx.config.service.rateLimit },
      // After the scope's credentials check: an unauthenticated caller learns nothing from parse errors.
      preValidation: steps(parse),
    },
    async (request, reply) => {
      const payload = request.body as unknown as ReturnType<typeof parseAlertmanagerPayload>
      const out: AlertDecision[] = []
      try {
        // One at a time: alerts of one site are changes of one state, and a
        // 503 half-way is retried whole by Alertmanager, the first ones then
        // answered `duplicate`.
        for (const o of alertVerdicts(ctx.config, payload, new Date(ctx.clock.now()))) {
          const base = {
            fingerprint: o.alert.fingerprint,
            ...(o.alert.alertname !== undefined ? { alertname: o.alert.alertname } : {}),
            status: o.alert.status,
          }
          if (o.kind === 'ignored') {
            ctx.metrics.webhooks.inc({ result: 'ignored' })
            out.push({
              ...base,
              site: o.site?.name ?? null,
              action: 'ignored',
              reason: o.reason,
              ...(o.site ? { health: ctx.store.get(o.site.name).health } : {}),
            })
            continue
          }
          const d = await ctx.intake.submit(o.site, o.verdict, { status: o.alert.status })
          ctx.metrics.webhooks.inc({ result: d.action })
          const silence =
            d.action === 'recycle-requested' && d.recycle && ctx.silencer
              ? await ctx.silencer.hold(o.site, d.recycle, o.labels)
              : undefined
          out.push({
            ...base,
            site: d.site,
            action: d.action,
            reason: d.reason,
            health: d.health,
            ...(d.recycle ? { recycle: recycleSummary(d.recycle) } : {}),
            ...(silence ? { silence } : {}),
          })
        }
      } catch (e) {
        ctx.metrics.webhooks.inc({ result: 'rejected' })
        throw e
      }
      request.log.info(
        { alerts: out.length, acted: out.filter((x) => x.action !== 'duplicate' && x.action !== 'ignored').length },
        'alertmanager notification',
      )
      return reply.status(202).send({ alerts: out })
    },
  )
}
