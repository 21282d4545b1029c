// The OpenAPI document's frame: what the route schemas cannot say for
// themselves. Servers, licence, tags, and the security schemes, which are the
// ones server/plugins/auth.ts checks: the webhook takes an HMAC signature (two
// headers, both required), a bearer token or Basic with the token as
// password; the operator routes take the operator bearer token. Each route
// names its tag, operationId, security and every status it answers; the
// document is served at /docs/json, with a UI at /docs (routes/service.ts).
// `npm test` lints it with Redocly's recommended rules (test/unit/openapi.test.ts).

import type { SwaggerOptions } from '@fastify/swagger'

export const TAGS = {
  webhooks: 'webhooks',
  operator: 'operator',
  status: 'status',
  service: 'service',
} as const

type Requirement = Record<string, string[]>

/** Security requirements, by who calls. OR between entries, AND inside one. */
export const SECURITY: Record<'webhook' | 'operator' | 'none', Requirement[]> = {
  /** Any one of the three webhook methods. */
  webhook: [{ webhookSignature: [], webhookTimestamp: [] }, { webhookBearer: [] }, { webhookBasic: [] }],
  operator: [{ operatorBearer: [] }],
  /** Explicitly none: the service's own probes, metrics. */
  none: [],
}

export function openapiOptions(opts: { version: string }): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'kube-recycler',
        version: opts.version,
        description:
          "Keeps a website on Kubernetes healthy: Jenkins (or the service's own probes) reports whether a site works; " +
          'when it fails, kube-recycler restarts its pods safely onto the production branch head, then probes it again. ' +
          'Every error answer is `{ code, message }`; the codes are listed in src/errors.ts.',
        license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      },
      servers: [
        { url: '/', description: 'this service (the origin the document was read from)' },
        { url: 'http://kube-recycler.kube-recycler.svc:8080', description: 'inside the cluster, as k8s/ installs it' },
      ],
      tags: [
        { name: TAGS.webhooks, description: "Results from Jenkins' integrity job, and Alertmanager's notifications" },
        { name: TAGS.operator, description: "An operator's actions (the operator token)" },
        { name: TAGS.status, description: 'Sites, health and recycles, the same on every replica' },
        { name: TAGS.service, description: "The service's own probes and metrics" },
      ],
      components: {
        securitySchemes: {
          webhookSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Recycler-Signature',
            description:
              '`sha256=<hex HMAC-SHA256(KUBE_RECYCLER_WEBHOOK_SECRET, "<timestamp>.<raw body>")>`; send with X-Recycler-Timestamp.',
          },
          webhookTimestamp: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Recycler-Timestamp',
            description: "Unix seconds of the signature, within 300 s of the service's clock (replays are refused).",
          },
          webhookBearer: {
            type: 'http',
            scheme: 'bearer',
            description: '`Authorization: Bearer <KUBE_RECYCLER_WEBHOOK_TOKEN>`.',
          },
          webhookBasic: {
            type: 'http',
            scheme: 'basic',
            description:
              'Basic with any user and KUBE_RECYCLER_WEBHOOK_TOKEN as the password (the Jenkins Notification plugin puts it in the URL).',
          },
          operatorBearer: {
            type: 'http',
            scheme: 'bearer',
            description: '`Authorization: Bearer <KUBE_RECYCLER_RECYCLE_TOKEN>`, the operator token.',
          },
        },
      },
    },
  }
}
