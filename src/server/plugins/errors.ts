// One error handler: AppErrors answer `{ code, message }` with their status;
// Fastify's own 4xx errors (body too large, bad content type, validation)
// are mapped to our codes; anything else is a 500. A 5xx answers its code
// with a generic message (errors.ts publicMessage): the detail, which may
// be the API server's own words, is logged, never sent.

import type { FastifyInstance, FastifyError } from 'fastify'
import { AppError, Errors, isAppError, publicMessage } from '../../errors.ts'

const FASTIFY_CODES: Record<string, (e: FastifyError) => AppError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => Errors.bodyTooLarge('the body is larger than the limit'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) =>
    Errors.unsupportedMediaType(
      `the content type must be application/json${/: (.+)$/.exec(e.message)?.[1] ? ` (got ${/: (.+)$/.exec(e.message)![1]})` : ''}`,
    ),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => Errors.invalidJson('body: is empty; expected a JSON object'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => Errors.badRequest('Content-Length does not match the body'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => Errors.invalidJson('body: is not valid JSON'),
}

export function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err
  const fe = err as FastifyError
  const mapped = fe && typeof fe.code === 'string' ? FASTIFY_CODES[fe.code] : undefined
  if (mapped) return mapped(fe)
  if (fe && fe.validation) return Errors.invalidField(fe.message)
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode === 429) return Errors.rateLimited(fe.message)
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new AppError(`KR_HTTP_${fe.statusCode}`, fe.statusCode, fe.message)
  }
  return Errors.internal()
}

export function registerErrorHandling(app: FastifyInstance): void {
  // Every answer is what its Content-Type says: browsers must not sniff.
  // (A callback hook: it runs on every answer, no promise per request.)
  app.addHook('onSend', (_request, reply, payload, done) => {
    void reply.header('x-content-type-options', 'nosniff')
    done(null, payload)
  })
  app.setErrorHandler((err, request, reply) => {
    const e = toAppError(err)
    if (e.statusCode >= 500) request.log.error({ err, code: e.code }, 'request failed')
    else request.log.info({ code: e.code, status: e.statusCode }, e.message)
    const status = e.statusCode >= 500 && e.code !== Errors.unavailable.code ? 500 : e.statusCode
    // Not ready (the state store cannot be reached): nothing was done; come back.
    if (e.code === Errors.unavailable.code) void reply.header('Retry-After', '5')
    void reply
      .status(status)
      .type('application/json')
      .send({ code: e.code, message: publicMessage(e) })
  })
  app.setNotFoundHandler((request, reply) => {
    // The path is echoed only short and JSON-escaped (the serializer's job).
    const path = request.url.split('?')[0]!
    void reply.status(404).send({
      code: Errors.notFound.code,
      message: `no route ${request.method} ${path.length > 100 ? `${path.slice(0, 100)}…` : path}`,
    })
  })
}
