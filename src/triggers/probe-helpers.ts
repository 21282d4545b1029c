// Pure helpers of the probe engine: status ranges, JSON paths, body snippets
// and the plain-words story of a network error. No I/O here; unit-tested in
// test/unit/probe-helpers.test.ts.

import type { StatusRange } from '../config/types.ts'
import type { FailureCause } from '../health/verdict.ts'

// ---------------------------------------------------------------- status

export function statusInRanges(status: number, ranges: readonly StatusRange[]): boolean {
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!
    if (status >= r.min && status <= r.max) return true
  }
  return false
}

/** `200-299`, `200`, `200, 301-302`. */
export function formatRanges(ranges: readonly StatusRange[]): string {
  if (ranges.length === 0) return '(none)'
  return ranges.map((r) => (r.min === r.max ? String(r.min) : `${r.min}-${r.max}`)).join(', ')
}

// ---------------------------------------------------------------- JSON paths

export type JsonPath = readonly (string | number)[]

/**
 * Parses `$.a.b[0].c`, `a.b`, `$["odd key"][2]`, `$` into segments.
 * Throws an Error naming the position of the first bad character.
 */
export function parseJsonPath(path: string): JsonPath {
  const out: (string | number)[] = []
  let i = 0
  if (path.startsWith('$')) i = 1
  else if (path.length > 0 && path[0] !== '.' && path[0] !== '[') {
    // A bare `a.b` is read as `$.a.b`.
    path = `.${path}`
  }
  while (i < path.length) {
    const ch = path[i]
    if (ch === '.') {
      let j = i + 1
      while (j < path.length && path[j] !== '.' && path[j] !== '[') j++
      if (j === i + 1) throw new Error(`empty name at position ${i} of json path "${path}"`)
      out.push(path.slice(i + 1, j))
      i = j
    } else if (ch === '[') {
      const close = path.indexOf(']', i)
      if (close === -1) throw new Error(`unclosed "[" at position ${i} of json path "${path}"`)
      const inner = path.slice(i + 1, close).trim()
      if (/^\d+$/.test(inner)) out.push(Number(inner))
      else if (/^(["']).*\1$/.test(inner) && inner.length >= 2) out.push(inner.slice(1, -1))
      else throw new Error(`"[${inner}]" at position ${i} of json path "${path}" is neither an index nor a quoted name`)
      i = close + 1
    } else {
      throw new Error(`unexpected "${ch}" at position ${i} of json path "${path}"`)
    }
  }
  return out
}

/** `$.a.b[0]` for the first `n` segments (all by default). */
export function formatJsonPath(path: JsonPath, n = path.length): string {
  let s = '$'
  for (let i = 0; i < n; i++) {
    const seg = path[i]!
    if (typeof seg === 'number') s += `[${seg}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) s += `.${seg}`
    else s += `[${JSON.stringify(seg)}]`
  }
  return s
}

export type JsonLookup =
  | { found: true; value: unknown }
  /** `missing` is the path that does not exist (`$.a.b` when `$.a` has no `b`). */
  | { found: false; missing: string; parentType: string }

export function lookupJsonPath(root: unknown, path: JsonPath): JsonLookup {
  let cur: unknown = root
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!
    if (typeof seg === 'number') {
      if (!Array.isArray(cur) || seg >= cur.length)
        return { found: false, missing: formatJsonPath(path, i + 1), parentType: jsonType(cur) }
      cur = cur[seg]
    } else {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, seg)) {
        return { found: false, missing: formatJsonPath(path, i + 1), parentType: jsonType(cur) }
      }
      cur = (cur as Record<string, unknown>)[seg]
    }
  }
  return { found: true, value: cur }
}

export function jsonType(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  return `a ${typeof v}`
}

/** A JSON value for a message: JSON text, cut to `max` characters. */
export function formatJsonValue(v: unknown, max = 60): string {
  let s: string
  try {
    s = JSON.stringify(v) ?? String(v)
  } catch {
    s = String(v)
  }
  return s.length > max ? `${s.slice(0, max)}…` : s
}

// ---------------------------------------------------------------- body snippets

/**
 * The first `maxBytes` bytes of a body as one printable line: decoded as
 * UTF-8, runs of whitespace become one space, control and format characters
 * (bidi overrides, NUL, escape sequences) and undecodable bytes become `.`,
 * and `…` marks a cut.
 */
export function sanitizeSnippet(body: Uint8Array | undefined, maxBytes = 120): string {
  if (body === undefined || body.length === 0) return ''
  const cut = body.length > maxBytes
  const bytes = cut ? body.subarray(0, maxBytes) : body
  let s = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')
  // A character split by the cut decodes to U+FFFD at the very end: drop it.
  if (cut) s = s.replace(/\uFFFD+$/, '')
  s = s
    .replace(/\s+/g, ' ')
    .replace(/[\p{Cc}\p{Cf}\p{Co}\p{Cn}\uFFFD]/gu, '.')
    .trim()
  return cut ? `${s}…` : s
}

// ---------------------------------------------------------------- certificates

const DAY_MS = 86_400_000

/**
 * The alert for a certificate that ends within `warnDays` of `now` (both
 * epoch ms), or undefined when it does not.
 */
export function certExpiryWarning(
  notAfter: number,
  now: number,
  warnDays: number,
  hostPort: string,
): string | undefined {
  const left = notAfter - now
  if (left >= warnDays * DAY_MS) return undefined
  const when = new Date(notAfter).toISOString()
  if (left <= 0) return `the TLS certificate of ${hostPort} expired on ${when}`
  const days = left / DAY_MS
  const inWords = days < 1 ? `${Math.max(1, Math.round(left / 3_600_000))} hours` : `${days.toFixed(1)} days`
  return `the TLS certificate of ${hostPort} expires in ${inWords} (${when}), within the ${warnDays}-day warning window`
}

// ---------------------------------------------------------------- errors

interface ErrorLike {
  name?: unknown
  code?: unknown
  message?: unknown
  reason?: unknown
  cause?: unknown
  errors?: unknown
}

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
])

/** The innermost error with a code (undici wraps some; happy-eyeballs makes AggregateErrors). */
function rootCause(err: unknown): ErrorLike {
  let e = (err ?? {}) as ErrorLike
  for (let depth = 0; depth < 5; depth++) {
    if (Array.isArray(e.errors) && e.errors.length > 0 && typeof e.code !== 'string') {
      e = e.errors[e.errors.length - 1] as ErrorLike
      continue
    }
    const c = e.cause as ErrorLike | undefined
    if (
      c &&
      typeof c === 'object' &&
      (typeof e.code !== 'string' || (e.code === 'UND_ERR_SOCKET' && typeof c.code === 'string'))
    ) {
      e = c
      continue
    }
    break
  }
  return e
}

/** The kind of a transport failure, machine-readable (see FailureCause). */
export function errorCause(err: unknown): FailureCause {
  const e = rootCause(err)
  const code = typeof e.code === 'string' ? e.code : ''
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused'
    case 'ENOTFOUND':
      return 'dns-not-found'
    case 'EAI_AGAIN':
      return 'dns-temporary'
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'EPIPE':
      return 'reset'
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'timeout'
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable'
    case 'CERT_HAS_EXPIRED':
      return 'tls-expired'
    case 'CERT_NOT_YET_VALID':
      return 'tls-not-yet-valid'
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'tls-hostname'
    case 'UND_ERR_INVALID_ARG':
      return 'config'
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return 'invalid-response'
  }
  if (UNTRUSTED.has(code)) return 'tls-untrusted'
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return 'tls-other'
  if (code.startsWith('HPE_') || e.name === 'HTTPParserError') return 'invalid-response'
  return 'other'
}

/**
 * What went wrong talking to `host` (`name:port`), in plain words. The error
 * code stays in parentheses so an operator can search for it.
 */
export function describeError(err: unknown, host: string): string {
  const e = rootCause(err)
  const code = typeof e.code === 'string' ? e.code : ''
  const msg = typeof e.message === 'string' ? e.message : String(err)
  const hostname = host.replace(/:\d+$/, '')
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused by ${host} (ECONNREFUSED)`
    case 'ENOTFOUND':
      return `DNS lookup failed: ${hostname} not found (ENOTFOUND)`
    case 'EAI_AGAIN':
      return `DNS lookup failed for ${hostname}: temporary failure (EAI_AGAIN)`
    case 'ECONNRESET':
      return `connection reset by ${host} (ECONNRESET)`
    case 'UND_ERR_SOCKET':
      return `connection closed by ${host} before a complete response (${msg})`
    case 'EPIPE':
      return `connection closed by ${host} while sending the request (EPIPE)`
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `could not connect to ${host}: timed out (${code})`
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `could not connect to ${host}: no route (${code})`
    case 'CERT_HAS_EXPIRED':
      return `TLS: the certificate of ${host} has expired (CERT_HAS_EXPIRED)`
    case 'CERT_NOT_YET_VALID':
      return `TLS: the certificate of ${host} is not valid yet (CERT_NOT_YET_VALID)`
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS: the certificate does not match the hostname ${hostname} (${(typeof e.reason === 'string' ? e.reason : msg).replace(/:\s*$/, '')})`
    case 'UND_ERR_HEADERS_OVERFLOW':
      return `response headers from ${host} are too large (UND_ERR_HEADERS_OVERFLOW)`
    case 'UND_ERR_INVALID_ARG':
      return `the request cannot be sent: ${msg} (check the configured headers and method)`
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return `response body from ${host} does not match its content-length`
  }
  if (UNTRUSTED.has(code)) {
    return `TLS: the certificate of ${host} is not trusted, self-signed or from an unknown CA (${code})`
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'))
    return `TLS handshake with ${host} failed: ${msg} (${code})`
  // undici 8's HTTPParserError often carries no code: know it by name.
  if (code.startsWith('HPE_') || e.name === 'HTTPParserError')
    return `invalid HTTP response from ${host}: ${msg}${code ? ` (${code})` : ''}`
  return code ? `request to ${host} failed: ${msg} (${code})` : `request to ${host} failed: ${msg}`
}
