// Notification receivers: their URLs (which carry secrets, e.g. a Slack
// incoming webhook) and HMAC keys come from the environment or a mounted
// file, never from the config file; resolved once at start, each problem
// named by its config path.

import { readFileSync } from 'node:fs'
import type { NotificationConfig, NotifyEvent } from '../config/types.ts'

export interface NotifyTarget {
  name: string
  format: 'json' | 'slack'
  url: string
  /** json: the HMAC key of X-Recycler-Signature. */
  secret?: string
  events: Set<NotifyEvent> | 'all'
  timeoutMs: number
}

function from(
  env: NodeJS.ProcessEnv,
  envName: string | undefined,
  file: string | undefined,
  path: string,
  what: string,
  problems: string[],
): string | undefined {
  if (envName !== undefined) {
    const v = env[envName]?.trim()
    if (!v) problems.push(`${path}.${what}Env: the environment variable ${envName} is not set`)
    return v || undefined
  }
  if (file !== undefined) {
    try {
      const v = readFileSync(file, 'utf8').trim()
      if (!v) problems.push(`${path}.${what}File: ${file} is empty`)
      return v || undefined
    } catch (e) {
      problems.push(`${path}.${what}File: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  return undefined
}

export function resolveTargets(list: NotificationConfig[], env: NodeJS.ProcessEnv, problems: string[]): NotifyTarget[] {
  const out: NotifyTarget[] = []
  list.forEach((n, i) => {
    const path = `notifications[${i}]`
    const url = from(env, n.urlEnv, n.urlFile, path, 'url', problems)
    const secret = from(env, n.secretEnv, n.secretFile, path, 'secret', problems)
    if (url !== undefined && !/^https?:\/\/\S+$/.test(url))
      problems.push(`${path}: the URL from ${n.urlEnv ?? n.urlFile} must be an http(s) URL`)
    if (n.format === 'json' && secret === undefined && n.secretEnv === undefined && n.secretFile === undefined)
      problems.push(`${path}: format json is signed: give secretEnv or secretFile`)
    if (url === undefined) return
    out.push({
      name: n.name,
      format: n.format,
      url,
      ...(secret ? { secret } : {}),
      events: n.events.length > 0 ? new Set(n.events) : 'all',
      timeoutMs: n.timeoutMs,
    })
  })
  return out
}

/** Every secret value of the targets, for the logger's redaction by value. */
export const targetSecrets = (ts: NotifyTarget[]): string[] =>
  ts.flatMap((t) => [t.url, ...(t.secret ? [t.secret] : [])])
