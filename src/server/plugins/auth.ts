// Authentication for the webhook and the operator routes. The webhook takes
// any configured method: HMAC signature (X-Recycler-Timestamp/-Signature),
// a bearer token, or Basic whose password is the token (the Jenkins
// Notification plugin can only put credentials in the URL). All comparisons
// are constant-time; no secret is ever echoed or logged.

import { randomBytes } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Clock } from '../../clock.ts'
import type { Secrets } from '../../config/secrets.ts'
import { Errors } from '../../errors.ts'
import { safeEqual, verifySignature } from '../../triggers/signature.ts'

function credentials(request: FastifyRequest): { scheme: 'bearer' | 'basic'; secret: string } | undefined | 'malformed' {
  const h = request.headers.authorization
  if (h === undefined || h === '') return undefined
  const m = /^(\S+)\s+(\S+)\s*$/.exec(h)
  if (!m) return 'malformed'
  const scheme = m[1]!.toLowerCase()
  if (scheme === 'bearer') return { scheme: 'bearer', secret: m[2]! }
  if (scheme === 'basic') {
    const decoded = Buffer.from(m[2]!, 'base64').toString('utf8')
    const i = decoded.indexOf(':')
    if (i < 0) return 'malformed'
    return { scheme: 'basic', secret: decoded.slice(i + 1) }
  }
  return 'malformed'
}

export interface WebhookAuth {
  /** onRequest: checks a token at once, or notes that a signature must be checked on the body. */
  onRequest(request: FastifyRequest): Promise<void>
  /** preValidation: checks the signature over the raw body. */
  preValidation(request: FastifyRequest): Promise<void>
}

declare module 'fastify' {
  interface FastifyRequest {
    needsSignature?: boolean
  }
}

export function webhookAuth(secrets: Secrets, clock: Clock): WebhookAuth {
  const unknownSecret = randomBytes(32).toString('hex')
  return {
    async onRequest(request) {
      const c = credentials(request)
      if (c === 'malformed') throw Errors.unauthorized('Authorization must be "Bearer <token>" or "Basic <base64 user:token>"')
      // A method that is not configured is answered exactly like a wrong
      // secret for it: a caller learns nothing about the configuration (the
      // log at start says what is off).
      if (c !== undefined) {
        if (!secrets.webhookToken || !safeEqual(c.secret, secrets.webhookToken)) throw Errors.unauthorized('the token is not valid')
        return
      }
      const hasSig = request.headers['x-recycler-signature'] !== undefined || request.headers['x-recycler-timestamp'] !== undefined
      if (hasSig) {
        request.needsSignature = true
        return
      }
      throw Errors.unauthorized('missing credentials: send X-Recycler-Timestamp and X-Recycler-Signature, or Authorization')
    },
    async preValidation(request) {
      if (!request.needsSignature) return
      const header = (name: string): string | undefined => {
        const v = request.headers[name]
        return Array.isArray(v) ? v[0] : v
      }
      const result = verifySignature({
        // Without a secret the signature is checked against a random key, so
        // a missing secret costs the same time and answers like a wrong one.
        secret: secrets.webhookSecret ?? unknownSecret,
        timestamp: header('x-recycler-timestamp'),
        signature: header('x-recycler-signature'),
        body: request.rawBody ?? Buffer.alloc(0),
        nowMs: clock.now(),
      })
      // No secret: the same answer a wrong signature gets, after the same checks.
      if (!result.ok || !secrets.webhookSecret) {
        if (result.ok) throw Errors.badSignature('the signature does not match')
        if (result.why === 'stale' || result.why === 'future') throw Errors.staleSignature(result.message)
        throw Errors.badSignature(result.message)
      }
    },
  }
}

/** Operator routes: `Authorization: Bearer <KUBE_RECYCLER_RECYCLE_TOKEN>`. */
export function operatorAuth(secrets: Secrets): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const c = credentials(request)
    if (c === undefined) throw Errors.unauthorized('missing credentials: send Authorization: Bearer <operator token>')
    if (c === 'malformed' || c.scheme !== 'bearer') throw Errors.unauthorized('Authorization must be "Bearer <operator token>"')
    // No token configured answers like a wrong token.
    if (!secrets.recycleToken || !safeEqual(c.secret, secrets.recycleToken)) throw Errors.unauthorized('the token is not valid')
  }
}
