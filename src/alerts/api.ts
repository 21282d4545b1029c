// The narrow face over Alertmanager's API v2 that kube-recycler needs:
// make a silence, expire one. Every call is bounded by the configured
// timeout; a failure is an AppError (KR_ALERTMANAGER) saying what happened,
// never the token. Own connections, closed with the service.

import { Agent, request } from 'undici'
import type { AlertmanagerApiConfig } from '../config/types.ts'
import type { LabelMatcher } from '../config/matchers.ts'
import { Errors } from '../errors.ts'

export interface NewSilence {
  matchers: LabelMatcher[]
  startsAt: string
  endsAt: string
  createdBy: string
  comment: string
}

export interface AlertmanagerApi {
  /** The new silence's id. */
  createSilence(s: NewSilence): Promise<string>
  /** `gone`: Alertmanager no longer knows it, or it had already ended; either way it silences nothing. */
  expireSilence(id: string): Promise<'expired' | 'gone'>
  close(): Promise<void>
}

export function createAlertmanagerApi(cfg: AlertmanagerApiConfig, token?: string): AlertmanagerApi {
  const agent = new Agent({ connections: 2, keepAliveTimeout: 10_000 })
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  }

  async function call(
    method: 'POST' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; text: string }> {
    try {
      const res = await request(`${cfg.url}${path}`, {
        method,
        headers,
        dispatcher: agent,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(cfg.timeoutMs),
        headersTimeout: cfg.timeoutMs,
        bodyTimeout: cfg.timeoutMs,
      })
      // Bounded: an error page is read for its first words only.
      const text = (await res.body.text()).slice(0, 2000)
      return { status: res.statusCode, text }
    } catch (e) {
      const why =
        (e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError'
          ? `no answer within ${cfg.timeoutMs} ms`
          : `could not be reached (${(e as { code?: string }).code ?? (e as Error).name})`
      throw Errors.alertmanager(`Alertmanager ${why}`, { cause: e })
    }
  }

  return {
    async createSilence(s) {
      const res = await call('POST', '/api/v2/silences', {
        matchers: s.matchers.map((m) => ({
          name: m.name,
          value: m.value,
          isRegex: m.op === '=~' || m.op === '!~',
          isEqual: m.op === '=' || m.op === '=~',
        })),
        startsAt: s.startsAt,
        endsAt: s.endsAt,
        createdBy: s.createdBy,
        comment: s.comment,
      })
      let id: unknown
      try {
        id = (JSON.parse(res.text) as { silenceID?: unknown }).silenceID
      } catch {
        id = undefined
      }
      if (res.status !== 200 || typeof id !== 'string' || id === '')
        throw Errors.alertmanager(`Alertmanager refused the silence (${res.status}: ${res.text.slice(0, 200).trim()})`)
      return id
    },
    async expireSilence(id) {
      const res = await call('DELETE', `/api/v2/silence/${encodeURIComponent(id)}`)
      if (res.status === 200) return 'expired'
      // Unknown (gc'd after its retention), or already past its end.
      if (res.status === 404 || /already expired|not found/i.test(res.text)) return 'gone'
      throw Errors.alertmanager(
        `Alertmanager did not expire silence ${id} (${res.status}: ${res.text.slice(0, 200).trim()})`,
      )
    },
    async close() {
      await agent.close()
    },
  }
}
