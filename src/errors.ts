// Every error the service answers with, in one place. A route or a module
// throws one of these; the error handler (server/plugins/errors.ts) turns it
// into `{ code, message }` with its status. A 4xx carries its own message
// (what the caller should fix); a 5xx is answered with its code's fixed,
// generic message (publicMessage), its own message and cause going to the
// log only, since they carry internals (the API server's words, hosts).
// Anything else becomes KR_INTERNAL.

export class AppError extends Error {
  readonly code: string
  readonly statusCode: number
  constructor(code: string, statusCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AppError'
    this.code = code
    this.statusCode = statusCode
  }
}

type Maker = (message?: string, options?: { cause?: unknown }) => AppError

/** Each code's generic message: what a 5xx answers on the wire. */
const GENERIC = new Map<string, string>()

function define(code: string, statusCode: number, fallback: string): Maker & { code: string; statusCode: number } {
  GENERIC.set(code, fallback)
  const make = ((message?: string, options?: { cause?: unknown }) =>
    new AppError(code, statusCode, message ?? fallback, options)) as Maker & { code: string; statusCode: number }
  make.code = code
  make.statusCode = statusCode
  return make
}

export const Errors = {
  // 4xx: the caller can fix these.
  badRequest: define('KR_BAD_REQUEST', 400, 'the request is malformed'),
  invalidJson: define('KR_INVALID_JSON', 400, 'the body is not valid JSON'),
  invalidField: define('KR_INVALID_FIELD', 400, 'a field is invalid'),
  unauthorized: define('KR_UNAUTHORIZED', 401, 'authentication required'),
  badSignature: define('KR_BAD_SIGNATURE', 401, 'the signature does not match'),
  staleSignature: define('KR_STALE_SIGNATURE', 401, 'the timestamp is outside the allowed window'),
  jobNotForSite: define('KR_JOB_NOT_FOR_SITE', 403, 'the job does not report for this site'),
  unknownSite: define('KR_UNKNOWN_SITE', 404, 'no such site'),
  unknownJob: define('KR_UNKNOWN_JOB', 404, 'no site is configured for this job'),
  notFound: define('KR_NOT_FOUND', 404, 'not found'),
  requestTimeout: define('KR_REQUEST_TIMEOUT', 408, 'the request did not arrive in time'),
  conflict: define('KR_CONFLICT', 409, 'another recycle holds the lock'),
  bodyTooLarge: define('KR_BODY_TOO_LARGE', 413, 'the body is too large'),
  uriTooLong: define('KR_URI_TOO_LONG', 414, 'the URL is too long'),
  unsupportedMediaType: define('KR_UNSUPPORTED_MEDIA_TYPE', 415, 'the content type must be application/json'),
  rateLimited: define('KR_RATE_LIMITED', 429, 'too many requests'),
  headersTooLarge: define('KR_HEADERS_TOO_LARGE', 431, 'the request headers are too large'),
  // 5xx: ours. The message is generic on the wire; the cause goes to the log.
  internal: define('KR_INTERNAL', 500, 'internal error'),
  unavailable: define(
    'KR_UNAVAILABLE',
    503,
    'the service is not ready: its shared state cannot be reached; retry later',
  ),
  // Not HTTP answers: outcomes of talking to other systems.
  kube: define('KR_KUBE', 502, 'the Kubernetes API failed'),
  kubeNotFound: define('KR_KUBE_NOT_FOUND', 404, 'the workload does not exist'),
  kubeForbidden: define('KR_KUBE_FORBIDDEN', 502, 'the Kubernetes API refused the request (RBAC)'),
  kubeConflict: define('KR_KUBE_CONFLICT', 409, 'the object changed underneath us'),
  kubeTooManyRequests: define('KR_KUBE_TOO_MANY_REQUESTS', 429, 'the API server asked to retry later'),
  git: define('KR_GIT', 502, 'the git remote could not be read'),
  alertmanager: define('KR_ALERTMANAGER', 502, "Alertmanager's API failed"),
} as const

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError
}

/** What the caller is told: a 4xx's own message; a 5xx's code's generic one. */
export function publicMessage(e: AppError): string {
  if (e.statusCode < 500) return e.message
  return GENERIC.get(e.code) ?? GENERIC.get('KR_INTERNAL')!
}
