// Authentication for the webhook and the operator routes (applied by the
// authenticated scopes, authenticated.ts). The webhook takes
// any configured method: HMAC signature (X-Recycler-Timestamp/-Signature),
// a bearer token, or Basic whose password is the token (the Jenkins
// Notification plugin can only put credentials in the URL). All comparisons
// are constant-time; no secret is ever echoed or logged. A method that is
// not configured is answered exactly like a wrong secret for it (a caller
// learns nothing of the configuration), but counted apart: every refusal is
// counted by route pattern and reason (kube_recycler_auth_failures_total).

import type { FastifyRequest } from 'fastify'
import { randomBytes } from 'node:crypto'
import type { Clock } from '../../clock.ts'
import type { Secrets } from '../../config/secrets.ts'
import { Errors } from '../../errors.ts'
import { safeEqual, verifySignature } from '../../triggers/signature.ts'
import type { AuthFailureReason } from '../../status/metrics.ts'
import type { Authenticator } from './authenticated.ts'
import { routeLabel } from './metrics.ts'

/** Where refusals are counted (the metrics' authFailures counter). */
export interface AuthFailures {
  inc(labels: { route: string; reason: AuthFailureReason }): void
}

function refuse(
  request: FastifyRequest,
  failures: AuthFailures | undefined,
  reason: AuthFailureReason,
  error: Error,
): never {
  failures?.inc({ route: routeLabel(request.routeOptions.url), reason })
  throw error
}

function credentials(
  request: FastifyRequest,
): { scheme: 'bearer' | 'basic'; secret: string } | undefined | 'malformed' {
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

declare module 'fastify' {
  interface FastifyRequest {
    needsSignature?: boolean
    /** The operator's name, once operatorAuth accepted the token. */
    operator?: string
  }
}

/** onRequest checks a token at once, or notes that a signature must be checked; preValidation checks it over the raw body. */
export function webhookAuth(secrets: Secrets, clock: Clock, failures?: AuthFailures): Authenticator {
  // Without a secret the signature is checked against a random key, so a
  // missing secret costs the same time and answers like a wrong one.
  const key = secrets.webhookSecret ?? randomBytes(32).toString('hex')
  return {
    onRequest(request) {
      const fail = (reason: AuthFailureReason, message: string): never =>
        refuse(request, failures, reason, Errors.unauthorized(message))
      const c = credentials(request)
      if (c === 'malformed') fail('malformed', 'Authorization must be "Bearer <token>" or "Basic <base64 user:token>"')
      else if (c !== undefined) {
        if (!secrets.webhookToken) fail('not-configured', 'the token is not valid')
        if (!safeEqual(c.secret, secrets.webhookToken!)) fail('bad-token', 'the token is not valid')
        return
      }
      const hasSig =
        request.headers['x-recycler-signature'] !== undefined || request.headers['x-recycler-timestamp'] !== undefined
      if (hasSig) {
        request.needsSignature = true
        return
      }
      fail('missing', 'missing credentials: send X-Recycler-Timestamp and X-Recycler-Signature, or Authorization')
    },
    preValidation(request) {
      if (!request.needsSignature) return
      const header = (name: string): string | undefined => {
        const v = request.headers[name]
        return Array.isArray(v) ? v[0] : v
      }
      const result = verifySignature({
        secret: key,
        timestamp: header('x-recycler-timestamp'),
        signature: header('x-recycler-signature'),
        body: request.rawBody ?? Buffer.alloc(0),
        nowMs: clock.now(),
      })
      if (!result.ok || !secrets.webhookSecret) {
        if (result.ok) refuse(request, failures, 'not-configured', Errors.badSignature('the signature does not match'))
        if (result.why === 'stale' || result.why === 'future')
          refuse(
            request,
            failures,
            secrets.webhookSecret ? 'stale-signature' : 'not-configured',
            Errors.staleSignature(result.message),
          )
        refuse(
          request,
          failures,
          secrets.webhookSecret ? 'bad-signature' : 'not-configured',
          Errors.badSignature(result.message),
        )
      }
    },
  }
}

/** Every operator token: the named ones, and KUBE_RECYCLER_RECYCLE_TOKEN as the operator named `operator`. */
export function operatorTokens(secrets: Secrets): { name: string; token: string }[] {
  return [
    ...(secrets.recycleToken ? [{ name: 'operator', token: secrets.recycleToken }] : []),
    ...(secrets.operators ?? []),
  ]
}

/**
 * Operator routes: `Authorization: Bearer <operator token>`. Every token is
 * compared (constant time each), so the answer's timing does not say which
 * one nearly matched; the request then carries the operator's name. No
 * token configured answers like a wrong token (counted as not-configured).
 */
export function operatorAuth(secrets: Secrets, failures?: AuthFailures): Authenticator {
  const tokens = operatorTokens(secrets)
  return {
    onRequest(request) {
      const fail = (reason: AuthFailureReason, message: string): never =>
        refuse(request, failures, reason, Errors.unauthorized(message))
      const c = credentials(request)
      if (c === undefined) fail('missing', 'missing credentials: send Authorization: Bearer <operator token>')
      else if (c === 'malformed' || c.scheme !== 'bearer')
        fail('malformed', 'Authorization must be "Bearer <operator token>"')
      else if (tokens.length === 0) fail('not-configured', 'the token is not valid')
      else {
        let who: string | undefined
        for (const t of tokens) if (safeEqual(c.secret, t.token) && who === undefined) who = t.name
        if (who === undefined) fail('bad-token', 'the token is not valid')
        request.operator = who
      }
    },
  }
}
