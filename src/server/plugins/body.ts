// JSON bodies are read as raw bytes (the HMAC is over the exact bytes) and
// parsed only after authentication, so an unauthenticated caller learns
// nothing from parse errors. Parsing uses Fastify's own secure parser, which
// refuses `__proto__` and `constructor.prototype` keys.

import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Errors } from '../../errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer
  }
}

export function registerJsonBody(app: FastifyInstance): void {
  // Only JSON is accepted anywhere: drop Fastify's text/plain parser too, so
  // any other content type is a 415.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    request.rawBody = body as Buffer
    done(null, body)
  })
}

const parseJson = (text: string): unknown => JSON.parse(text)

/**
 * preValidation step: turns the raw bytes into JSON; 400 names what is wrong.
 * Synchronous (Fastify's parser calls back at once), so it runs inside one
 * callback hook with the steps before it (hooks.ts): no promise per request.
 */
export function parseJsonBody(app: FastifyInstance): (request: FastifyRequest) => void {
  const secure = app.getDefaultJsonParser('error', 'error')
  return (request) => {
    const raw = request.rawBody
    if (raw === undefined) return
    if (raw.length === 0) throw Errors.invalidJson('body: is empty; expected a JSON object')
    const text = raw.toString('utf8')
    let outcome: { value: unknown } | { err: Error } | undefined
    secure(request, text, (err, value) => {
      outcome = err ? { err } : { value }
    })
    if (outcome === undefined) throw new Error('the JSON parser did not answer synchronously')
    if ('value' in outcome) {
      request.body = outcome.value
      return
    }
    // Fastify's secure parser says only "not valid JSON"; a plain parse
    // tells apart a forbidden key from broken syntax. Never echo the body.
    try {
      parseJson(text)
    } catch (e) {
      throw Errors.invalidJson(
        `body: is not valid JSON (${(e as Error).message.replace(/"[^"]*"/g, '…').slice(0, 120)})`,
      )
    }
    throw Errors.invalidJson('body: contains a forbidden key (__proto__ or constructor.prototype)')
  }
}
