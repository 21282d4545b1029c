// Schemas shared by routes: the error body every 4xx/5xx has, and the
// shapes /status and the recycle routes answer with.

import Type from 'typebox'

export const ErrorBody = Type.Object({
  code: Type.String({ description: 'stable error code, see src/errors.ts' }),
  message: Type.String({ description: 'what was wrong, naming the field or header' }),
}, { title: 'Error' })

export const RecycleStep = Type.Object({ at: Type.String(), message: Type.String() })

export const RecycleRecordSchema = Type.Object({
  id: Type.String(),
  site: Type.String(),
  target: Type.String(),
  strategy: Type.String(),
  trigger: Type.Object({
    source: Type.String(),
    reason: Type.String(),
    ref: Type.Optional(Type.String()),
    key: Type.Optional(Type.String()),
  }),
  commit: Type.Optional(Type.String()),
  dryRun: Type.Boolean(),
  state: Type.Enum(['planned', 'pending', 'running', 'succeeded', 'failed', 'skipped']),
  reason: Type.Optional(Type.String()),
  plan: Type.Optional(Type.Object({
    workload: Type.String(),
    strategy: Type.String(),
    pods: Type.Array(Type.String()),
    why: Type.String(),
  })),
  steps: Type.Array(RecycleStep),
  createdAt: Type.String(),
  finishedAt: Type.Optional(Type.String()),
  verification: Type.Optional(Type.Enum(['pending', 'recovered', 'recycle-did-not-help'])),
}, { title: 'Recycle' })

export const CheckResultSchema = Type.Object({
  name: Type.String(),
  ok: Type.Boolean(),
  url: Type.Optional(Type.String()),
  status: Type.Optional(Type.Number()),
  latencyMs: Type.Optional(Type.Number()),
  message: Type.Optional(Type.String()),
  cause: Type.Optional(Type.String({ description: 'why a probe failed: tls-expired, tls-not-yet-valid, dns-not-found, refused, timeout, status, body, …' })),
  warnings: Type.Optional(Type.Array(Type.String())),
  at: Type.Optional(Type.String()),
})

export const VerdictSchema = Type.Object({
  site: Type.String(),
  ok: Type.Boolean(),
  source: Type.String(),
  at: Type.String(),
  checks: Type.Array(CheckResultSchema),
  commit: Type.Optional(Type.String()),
  ref: Type.Optional(Type.String()),
  key: Type.Optional(Type.String()),
  summary: Type.String(),
})

/** A 4xx response, as every route declares it. */
export const errorResponses = {
  '4xx': ErrorBody,
  '5xx': ErrorBody,
} as const
