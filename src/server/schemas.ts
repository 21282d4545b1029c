// Schemas shared by routes: the error body every 4xx/5xx has, and the
// shapes /status and the recycle routes answer with.

import Type, { type TObject } from 'typebox'

export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: 'stable error code, see src/errors.ts' }),
    message: Type.String({ description: 'what was wrong, naming the field or header' }),
  },
  { title: 'Error' },
)

// The stored shapes are declared once, in state/schema.ts; routes answer with them.
export { RecycleRecordSchema, VerdictSchema } from '../state/schema.ts'

/** What each error status means on this API (the OpenAPI document says it per route). */
export const ERROR_STATUSES = {
  400: 'The body is not JSON, or a field or parameter is invalid; the message names it (`body.build: must be an integer`).',
  401: 'Missing or wrong credentials; the message says which (never the secret).',
  403: 'The job does not report for the site the payload names (not in its jenkins.jobs).',
  404: 'No such site, job, recycle or route.',
  409: 'The recycle is no longer waiting for a decision (approved, rejected or expired).',
  413: 'The body is larger than service.bodyLimit.',
  415: 'The content type is not application/json.',
  429: 'Too many requests from this client (service.rateLimit); retry later.',
  500: 'An internal error; the message says nothing of internals, the cause is in the service log.',
  503: 'The shared state cannot be reached (the service is not ready): nothing was done; retry after Retry-After seconds.',
} as const
export type ErrorStatus = keyof typeof ERROR_STATUSES

/** The error responses a route can answer, each `{ code, message }` with what it means there. */
export function errors<S extends ErrorStatus>(...statuses: S[]): Record<S, TObject> {
  const out = {} as Record<S, TObject>
  for (const s of statuses) {
    const schema = Type.Object(ErrorBody.properties, { title: 'Error', description: ERROR_STATUSES[s] })
    // A response header, as @fastify/swagger reads it (not a JSON Schema keyword).
    const retry =
      s === 503
        ? 'seconds to wait before retrying'
        : s === 429
          ? 'seconds until the rate limit lets this client in again'
          : undefined
    out[s] = retry
      ? Object.assign(schema, { headers: { 'Retry-After': { type: 'integer', description: retry } } })
      : schema
  }
  return out
}
