// Schemas shared by routes: the error body every 4xx/5xx has, and the
// shapes /status and the recycle routes answer with.

import Type from 'typebox'

export const ErrorBody = Type.Object({
  code: Type.String({ description: 'stable error code, see src/errors.ts' }),
  message: Type.String({ description: 'what was wrong, naming the field or header' }),
}, { title: 'Error' })

// The stored shapes are declared once, in state/schema.ts; routes answer with them.
export { RecycleRecordSchema, VerdictSchema, CheckResultSchema } from '../state/schema.ts'

/** The 4xx and 5xx responses, as every route declares them. */
export const errorResponses = {
  '4xx': ErrorBody,
  '5xx': ErrorBody,
} as const
