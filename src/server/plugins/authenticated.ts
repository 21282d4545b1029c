// Routes that take credentials are registered inside an authenticated
// scope: an encapsulated Fastify context whose own hooks check the
// credentials and limit the failures for every route registered in it,
// before any hook of the route itself (the request limit among them). A
// route cannot opt out or forget, and a route outside has no credentials to
// guess. One scope per kind of credential: the webhooks' (prefix
// /webhooks: a new webhook is one more route registered in it, or a scope
// of its own with its own Authenticator) and the operators' (POST /recycle,
// the brakes, /status with statusAuth).
//
// The failed-auth limit refuses failures, never valid credentials: every
// request's credentials are checked, a request whose credentials verify is
// served, and only a failure is counted (401) or, past the limit, refused
// (429 with Retry-After). So ten wrong tokens from behind the same NAT or
// ingress as Jenkins do not lock Jenkins out. The check costs the same for
// every request (a token: one SHA-256 and a constant-time compare per
// configured token; a signature: one HMAC over a body bounded by
// service.bodyLimit), so checking a blocked client costs no more than
// refusing it would; guessing is bounded by the tokens' length (at least
// 16 characters, checked at start) rather than by the block.

import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify'
import type { Clock } from '../../clock.ts'
import { Errors, isAppError } from '../../errors.ts'
import type { FailureBook } from './auth-limit.ts'
import { clientKey } from './rate-limit.ts'

/** Checks credentials; each step throws the refusal (an AppError 401) or returns to go on. */
export interface Authenticator {
  /** What the headers carry (a token), or a note that the body must be checked. */
  onRequest(request: FastifyRequest): void
  /** What needs the raw body (a signature); runs before the route parses it. */
  preValidation?(request: FastifyRequest): void
}

export interface ScopeOptions {
  auth: Authenticator
  failures: FailureBook
  clock: Clock
  /** The routes of the scope. */
  routes: (scope: FastifyInstance) => Promise<void>
}

/** A failed check as the answer: 401 counted, or 429 for a client already past the limit. */
function refusal(o: ScopeOptions, request: FastifyRequest, reply: FastifyReply, e: unknown): Error {
  if (!isAppError(e) || e.statusCode !== 401) return e as Error
  const key = clientKey(request.ip)
  const now = o.clock.now()
  const ms = o.failures.blockedFor(key, now)
  if (ms <= 0) {
    o.failures.fail(key, now)
    return e
  }
  const s = Math.ceil(ms / 1000)
  const { max, windowMs } = o.failures.limit
  void reply.header('retry-after', String(s))
  return Errors.rateLimited(
    `too many failed authentications from this address (at most ${max} per ${Math.round(windowMs / 1000)} s); retry after ${s} s`,
  )
}

/** Register with `app.register(authenticatedScope(...), { prefix? })`. */
export function authenticatedScope(o: ScopeOptions): FastifyPluginAsync {
  // Callback hooks, not async ones: no promise and no extra turn per request.
  const step =
    (check: (request: FastifyRequest) => void) =>
    (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
      try {
        check(request)
      } catch (e) {
        done(refusal(o, request, reply, e))
        return
      }
      done()
    }
  return async (scope) => {
    scope.addHook(
      'onRequest',
      step((r) => o.auth.onRequest(r)),
    )
    if (o.auth.preValidation)
      scope.addHook(
        'preValidation',
        step((r) => o.auth.preValidation!(r)),
      )
    await o.routes(scope)
  }
}
