// The shape of the YAML file as an operator writes it. Structure is checked
// with this TypeBox schema; meaning (URLs, durations, cron expressions, which
// job belongs to which site) is checked in load.ts, and every problem in both
// passes is reported together, each named by its path.

import Type from 'typebox'
import { LADDER_RUNGS, NOTIFY_EVENTS, RECYCLE_MODES, STRATEGIES } from './types.ts'

const Duration = Type.Union([Type.String(), Type.Number()], {
  description: 'e.g. "90s", "10m", "1h30m", or milliseconds',
})
const Name = Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' })
const Labels = Type.Record(Type.String({ minLength: 1 }), Type.String())

const Limit = Type.Object(
  {
    max: Type.Integer({ minimum: 1 }),
    window: Duration,
  },
  { additionalProperties: false },
)

const JenkinsStatus = Type.Enum(['SUCCESS', 'UNSTABLE', 'FAILURE', 'ABORTED', 'NOT_BUILT'])

export const CheckSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    url: Type.String({ minLength: 1 }),
    method: Type.Optional(Type.Enum(['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS'])),
    headers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String())),
    body: Type.Optional(Type.String()),
    timeout: Type.Optional(Duration),
    expectStatus: Type.Optional(
      Type.Union([
        Type.Integer(),
        Type.String(),
        Type.Array(Type.Union([Type.Integer(), Type.String()]), { minItems: 1 }),
      ]),
    ),
    bodyContains: Type.Optional(Type.String({ minLength: 1 })),
    bodyMatches: Type.Optional(Type.String({ minLength: 1 })),
    json: Type.Optional(
      Type.Object(
        {
          path: Type.String({ minLength: 1 }),
          equals: Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]),
        },
        { additionalProperties: false },
      ),
    ),
    maxLatency: Type.Optional(Duration),
    tls: Type.Optional(
      Type.Object(
        {
          verify: Type.Optional(Type.Boolean()),
          caFile: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    certExpiryWarnDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 })),
    perPod: Type.Optional(
      Type.Union([
        Type.Boolean(),
        Type.Object(
          {
            port: Type.Optional(
              Type.Union([Type.Integer({ minimum: 1, maximum: 65535 }), Type.String({ minLength: 1, maxLength: 15 })], {
                description:
                  "the container port to reach on each pod, by number or by name; default: the pods' first declared TCP port",
              }),
            ),
          },
          { additionalProperties: false },
        ),
      ]),
    ),
  },
  { additionalProperties: false },
)

export const WindowSchema = Type.Object(
  {
    schedule: Type.String({ minLength: 1, description: 'cron expression: when the window opens' }),
    duration: Duration,
    timezone: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
)
const Windows = Type.Array(WindowSchema, { maxItems: 20 })

export const NotificationSchema = Type.Object(
  {
    name: Name,
    format: Type.Optional(Type.Enum(['json', 'slack'])),
    events: Type.Optional(Type.Array(Type.Enum(NOTIFY_EVENTS), { minItems: 1 })),
    urlEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' })),
    urlFile: Type.Optional(Type.String({ minLength: 1 })),
    secretEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' })),
    secretFile: Type.Optional(Type.String({ minLength: 1 })),
    timeout: Type.Optional(Duration),
  },
  { additionalProperties: false },
)

export const RecycleSchema = Type.Object(
  {
    mode: Type.Optional(Type.Enum(RECYCLE_MODES)),
    approvalTimeout: Type.Optional(Duration),
    strategy: Type.Optional(Type.Enum(STRATEGIES)),
    cooldown: Type.Optional(Duration),
    maxPerWindow: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    window: Type.Optional(Duration),
    maxUnavailable: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    timeout: Type.Optional(Duration),
    commitEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' })),
    onGitError: Type.Optional(Type.Enum(['skip', 'recycle-unpinned'])),
    verify: Type.Optional(
      Type.Object(
        {
          delay: Type.Optional(Duration),
          attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
          interval: Type.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
    rollback: Type.Optional(Type.Enum(['auto', 'off'])),
    unhealthyPods: Type.Optional(Type.Enum(['delete', 'evict'])),
    ladder: Type.Optional(
      Type.Array(Type.Enum(LADDER_RUNGS), {
        minItems: 1,
        maxItems: 4,
        uniqueItems: true,
        description:
          'the repairs climbed while one fails: replace-pods (only the pods failing their per-pod checks), then a strategy (rollout, evict, delete); default [replace-pods, <strategy>] with per-pod checks, else [<strategy>]',
      }),
    ),
    canary: Type.Optional(Type.Boolean()),
    skipWhen: Type.Optional(
      Type.Array(Type.Enum(['tls-expired', 'tls-not-yet-valid', 'tls-untrusted', 'tls-hostname', 'dns-not-found']), {
        uniqueItems: true,
      }),
    ),
  },
  { additionalProperties: false },
)

export const SiteAlertmanagerSchema = Type.Object(
  {
    matchers: Type.Array(Type.String({ minLength: 1, maxLength: 1000 }), {
      minItems: 1,
      maxItems: 20,
      description:
        'Alertmanager label matchers (`alertname="SiteDown"`, `site=~"shop|shop-eu"`); an alert is the site\'s when all match',
    }),
    silence: Type.Optional(
      Type.Boolean({
        description: 'hold a silence on the alert while the recycle it asked for runs (needs alertmanager.url)',
      }),
    ),
  },
  { additionalProperties: false },
)

export const SiteSchema = Type.Object(
  {
    name: Name,
    target: Type.Object(
      {
        kind: Type.Optional(Type.Enum(['Deployment', 'StatefulSet', 'DaemonSet'])),
        namespace: Name,
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
        selector: Type.Optional(Labels),
      },
      { additionalProperties: false },
    ),
    jenkins: Type.Optional(
      Type.Object(
        {
          jobs: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
          failingStatuses: Type.Optional(Type.Array(JenkinsStatus, { minItems: 1 })),
          expectEvery: Type.Optional(Duration),
          commitIsSite: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    checks: Type.Optional(Type.Array(CheckSchema)),
    schedule: Type.Optional(Type.String({ minLength: 1 })),
    timezone: Type.Optional(Type.String({ minLength: 1 })),
    failureThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    successThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    recycle: Type.Optional(RecycleSchema),
    maintenance: Type.Optional(Windows),
    recycleWindows: Type.Optional(Windows),
    alertmanager: Type.Optional(SiteAlertmanagerSchema),
    git: Type.Optional(
      Type.Object(
        {
          repo: Type.String({ minLength: 1 }),
          branch: Type.Optional(Type.String({ minLength: 1 })),
          username: Type.Optional(Type.String({ minLength: 1 })),
          cache: Type.Optional(Duration),
          commitUrl: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 500,
              description:
                'link to a commit on the git host for /status, e.g. https://git.example.com/acme/shop/commit/{commit}',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)

export const FileSchema = Type.Object(
  {
    service: Type.Optional(
      Type.Object(
        {
          dryRun: Type.Optional(Type.Boolean()),
          statusAuth: Type.Optional(Type.Boolean()),
          bodyLimit: Type.Optional(Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024 })),
          rateLimit: Type.Optional(Limit),
          readRateLimit: Type.Optional(Limit),
          failedAuthLimit: Type.Optional(Limit),
          trustProxy: Type.Optional(
            Type.Union([Type.Literal(false), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
              description: 'false, or the addresses/CIDRs of the proxies whose X-Forwarded-For is believed',
            }),
          ),
          timeouts: Type.Optional(
            Type.Object(
              {
                headers: Type.Optional(Duration),
                request: Type.Optional(Duration),
                idle: Type.Optional(Duration),
                keepAlive: Type.Optional(Duration),
              },
              { additionalProperties: false },
            ),
          ),
          maxConnectionsPerClient: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          namespace: Type.Optional(Name),
          probeConcurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          probeSpread: Type.Optional(Duration),
          leaderElection: Type.Optional(Type.Enum(['auto', 'on', 'off'])),
          leaseDuration: Type.Optional(Duration),
          heartbeat: Type.Optional(Duration),
          publicUrl: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    defaults: Type.Optional(
      Type.Object(
        {
          failureThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          successThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          schedule: Type.Optional(Type.String({ minLength: 1 })),
          timezone: Type.Optional(Type.String({ minLength: 1 })),
          failingStatuses: Type.Optional(Type.Array(JenkinsStatus, { minItems: 1 })),
          recycle: Type.Optional(RecycleSchema),
          maintenance: Type.Optional(Windows),
          recycleWindows: Type.Optional(Windows),
        },
        { additionalProperties: false },
      ),
    ),
    sites: Type.Array(SiteSchema, { minItems: 1 }),
    notifications: Type.Optional(Type.Array(NotificationSchema, { maxItems: 20 })),
    alertmanager: Type.Optional(
      Type.Object(
        {
          url: Type.String({
            minLength: 1,
            description: "Alertmanager's address for silences, e.g. http://alertmanager-operated.monitoring.svc:9093",
          }),
          timeout: Type.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
