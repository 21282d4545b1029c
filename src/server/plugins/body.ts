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
  app.removeContentTypeParser(['application/json'])
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    request.rawBody = body as Buffer
    done(null, body)
  })
}

const parseJson = (text: string): unknown => JSON.parse(text)

/** preValidation step: turns the raw bytes into JSON; 400 names what is wrong. */
export function parseJsonBody(app: FastifyInstance): (request: FastifyRequest) => Promise<void> {
  const secure = app.getDefaultJsonParser('error', 'error')
  return async (request) => {
    const raw = request.rawBody
    if (raw === undefined) return
    if (raw.length === 0) throw Errors.invalidJson('body: is empty; expected a JSON object')
    const text = raw.toString('utf8')
    await new Promise<void>((resolve, reject) => {
      secure(request, text, (err, value) => {
        if (err) {
          const proto = /prototype|__proto__|constructor/i.test(err.message)
          // Tell apart forbidden keys from broken syntax; never echo the body.
          if (proto) reject(Errors.invalidJson('body: contains a forbidden key (__proto__ or constructor.prototype)'))
          else {
            try {
              parseJson(text)
              reject(Errors.invalidJson('body: is not valid JSON'))
            } catch (e) {
              reject(Errors.invalidJson(`body: is not valid JSON (${(e as Error).message.replace(/"[^"]*"/g, '…').slice(0, 120)})`))
            }
          }
          return
        }
        request.body = value
        resolve()
      })
    })
  }
}
