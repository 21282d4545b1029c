// The CLI's side of the service's API: where the service is (--url,
// KUBE_RECYCLER_URL, or http://127.0.0.1:8080), the operator token from the
// environment only (KUBE_RECYCLER_RECYCLE_TOKEN, sent as a bearer token and
// never printed), JSON in and out, and one plain line for every way a call
// can go wrong: the service's own `{ code, message }`, or why it could not
// be reached. Commands that talk to the service (status, recycle, and the
// operator actions) share it.

import { Agent, request } from 'undici'
import { secretsFromEnv } from '../config/secrets.ts'
import { ServiceError, UsageError, type CliContext } from './args.ts'

export { ServiceError }
import { VERSION } from '../version.ts'

export const DEFAULT_URL = 'http://127.0.0.1:8080'

/** The service's base URL: absolute http(s), no credentials, no query; a path prefix is kept. */
export function serviceUrl(raw: string | undefined, env: NodeJS.ProcessEnv): URL {
  const given = raw ?? (env.KUBE_RECYCLER_URL?.trim() || undefined) ?? DEFAULT_URL
  let u: URL
  try {
    u = new URL(given)
  } catch {
    throw new UsageError('--url must be an absolute http(s) URL, e.g. http://kube-recycler.kube-recycler.svc:8080')
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UsageError(`--url must be http: or https:, not ${u.protocol}`)
  if (u.username !== '' || u.password !== '')
    throw new UsageError('--url must not contain credentials; set KUBE_RECYCLER_RECYCLE_TOKEN in the environment')
  if (u.search !== '') throw new UsageError('--url must not have a query string')
  u.hash = ''
  u.pathname = u.pathname.replace(/\/+$/, '')
  return u
}

/** Why a request got no answer, in words (never the request's headers). */
export function connectionProblem(e: unknown, endpoint: URL, timeoutMs: number): string {
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } }
  if (
    err.name === 'TimeoutError' ||
    err.name === 'AbortError' ||
    err.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    err.code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return `no answer from ${endpoint.host} within ${timeoutMs} ms`
  }
  const code = err.code ?? err.cause?.code
  switch (code) {
    case 'ECONNREFUSED':
      return `cannot reach ${endpoint.host}: connection refused (is the service running?)`
    case 'ENOTFOUND':
      return `cannot reach ${endpoint.host}: the host name does not resolve (ENOTFOUND)`
    case 'ECONNRESET':
      return `the connection to ${endpoint.host} was reset (ECONNRESET)`
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `cannot reach ${endpoint.host}: connect timed out`
  }
  return `cannot reach ${endpoint.host}: ${err.message ?? String(e)}${code ? ` (${code})` : ''}`
}

/**
 * Text from the service (names, summaries, reasons, which a Jenkins payload
 * may have filled) made safe for a terminal: control characters, which
 * could move the cursor or rewrite the screen, are shown escaped.
 */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) =>
    c === '\n' || c === '\r' || c === '\t' ? ' ' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

export interface ServiceClient {
  readonly base: URL
  /** True when KUBE_RECYCLER_RECYCLE_TOKEN is set. */
  readonly hasToken: boolean
  get<T = unknown>(path: string): Promise<T>
  post<T = unknown>(path: string, body?: unknown): Promise<T>
  close(): Promise<void>
}

export function createClient(ctx: CliContext, opts: { url: string | undefined; timeoutMs: number }): ServiceClient {
  const base = serviceUrl(opts.url, ctx.env)
  const token = secretsFromEnv(ctx.env).recycleToken
  const { timeoutMs } = opts
  const agent = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })

  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const endpoint = new URL(base.href)
    const [p, query] = path.split('?')
    endpoint.pathname = `${base.pathname.replace(/\/+$/, '')}${p}`
    if (query !== undefined) endpoint.search = query
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `kube-recycler-cli/${VERSION}` }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (method === 'POST') headers['content-type'] = 'application/json'
    let status: number
    let text: string
    try {
      const res = await request(endpoint, {
        method,
        headers,
        dispatcher: agent,
        signal: AbortSignal.timeout(timeoutMs),
        ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
      })
      status = res.statusCode
      text = await res.body.text()
    } catch (e) {
      throw new ServiceError(connectionProblem(e, endpoint, timeoutMs))
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
    if (status >= 200 && status < 300) {
      if (parsed === undefined)
        throw new ServiceError(
          `${method} ${endpoint.pathname}: the answer (${status}) is not JSON; is --url the kube-recycler service?`,
          { status },
        )
      return parsed as T
    }
    const b = parsed as { code?: unknown; message?: unknown } | undefined
    if (b && typeof b.code === 'string' && typeof b.message === 'string') {
      const hint = status === 401 && token === undefined ? ' (KUBE_RECYCLER_RECYCLE_TOKEN is not set)' : ''
      throw new ServiceError(`refused (${status}) ${printable(b.code)}: ${printable(b.message)}${hint}`, {
        status,
        code: b.code,
      })
    }
    const snippet = printable(text.replace(/\s+/g, ' ').trim().slice(0, 200))
    throw new ServiceError(`${method} ${endpoint.pathname}: refused (${status})${snippet ? `: ${snippet}` : ''}`, {
      status,
    })
  }

  return {
    base,
    hasToken: token !== undefined,
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    close: () => agent.destroy(),
  }
}
