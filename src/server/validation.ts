// Request validation with TypeBox instead of Fastify's ajv, so every route
// answers a bad field the same way the config loader does:
// `body.build: must be an integer`. Unknown fields are refused, never stripped.

import type { FastifySchemaCompiler } from 'fastify'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { formatSchemaErrors } from '../config/errors.ts'
import { Errors } from '../errors.ts'

export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema as TSchema)
  const root = httpPart === 'body' ? 'body' : (httpPart ?? '')
  return (data: unknown) => {
    if (check.Check(data)) return { value: data }
    return { error: Errors.invalidField(formatSchemaErrors(check.Errors(data), root).slice(0, 10).join('; ')) }
  }
}
