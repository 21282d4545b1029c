// Authentication for the webhook and the operator routes. The webhook takes
// any configured method: HMAC signature (X-Recycler-Timestamp/-Signature),
// a bearer token, or Basic whose password is the token (the Jenkins
// Notification plugin can only put credentials in the URL). All comparisons
// are constant-time; no secret is ever echoed or logged.

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
    /** The operator's name, once operatorAuth accepted the token. */
    operator?: string
  }
}

export function webhookAuth(secrets: Secrets, clock: Clock): WebhookAuth {
  return {
    async onRequest(request) {
      const c = credentials(request)
      if (c === 'malformed') throw Errors.unauthorized('Authorization must be "Bearer <token>" or "Basic <base64 user:token>"')
      if (c !== undefined) {
        if (!secrets.webhookToken) throw Errors.unauthorized(`${c.scheme === 'bearer' ? 'bearer' : 'basic'} authentication is not configured for the webhook`)
        if (!safeEqual(c.secret, secrets.webhookToken)) throw Errors.unauthorized('the token is not valid')
        return
      }
      const hasSig = request.headers['x-recycler-signature'] !== undefined || request.headers['x-recycler-timestamp'] !== undefined
      if (hasSig) {
        if (!secrets.webhookSecret) throw Errors.unauthorized('signature authentication is not configured for the webhook')
        request.needsSignature = true
        return
      }
      if (!secrets.webhookSecret && !secrets.webhookToken) throw Errors.unauthorized('webhook authentication is not configured on this service')
      throw Errors.unauthorized('missing credentials: send X-Recycler-Timestamp and X-Recycler-Signature, or Authorization')
    },
    async preValidation(request) {
      if (!request.needsSignature) return
      const header = (name: string): string | undefined => {
        const v = request.headers[name]
        return Array.isArray(v) ? v[0] : v
      }
      const result = verifySignature({
        secret: secrets.webhookSecret!,
        timestamp: header('x-recycler-timestamp'),
        signature: header('x-recycler-signature'),
        body: request.rawBody ?? Buffer.alloc(0),
        nowMs: clock.now(),
      })
      if (!result.ok) {
        if (result.why === 'stale' || result.why === 'future') throw Errors.staleSignature(result.message)
        throw Errors.badSignature(result.message)
      }
    },
  }
}

/** Every operator token: the named ones, and KUBE_RECYCLER_RECYCLE_TOKEN as the operator named `operator`. */
export function operatorTokens(secrets: Secrets): { name: string; token: string }[] {
  return [...(secrets.recycleToken ? [{ name: 'operator', token: secrets.recycleToken }] : []), ...(secrets.operators ?? [])]
}

/**
 * Operator routes: `Authorization: Bearer <operator token>`. Every token is
 * compared (constant time each), so the answer's timing does not say which
 * one nearly matched; the request then carries the operator's name.
 */
export function operatorAuth(secrets: Secrets): (request: FastifyRequest) => Promise<void> {
  const tokens = operatorTokens(secrets)
  return async (request) => {
    if (tokens.length === 0) throw Errors.unauthorized('operator authentication is not configured (set KUBE_RECYCLER_RECYCLE_TOKEN or KUBE_RECYCLER_OPERATOR_TOKENS_FILE)')
    const c = credentials(request)
    if (c === undefined) throw Errors.unauthorized('missing credentials: send Authorization: Bearer <operator token>')
    if (c === 'malformed' || c.scheme !== 'bearer') throw Errors.unauthorized('Authorization must be "Bearer <operator token>"')
    let who: string | undefined
    for (const t of tokens) if (safeEqual(c.secret, t.token) && who === undefined) who = t.name
    if (who === undefined) throw Errors.unauthorized('the token is not valid')
    request.operator = who
  }
}
