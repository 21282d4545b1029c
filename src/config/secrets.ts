// Secrets come only from the environment (a Kubernetes Secret), never from
// the config file, and are never logged or put in a process argument.

import { ConfigError } from './load.ts'

export interface Secrets {
  /** HMAC-SHA256 key for X-Recycler-Signature. */
  webhookSecret?: string
  /** Bearer token, or the password of Basic auth, for the webhook. */
  webhookToken?: string
  /** Bearer token for operators: POST /recycle (and /status when statusAuth). */
  recycleToken?: string
  /** Password for the git remote (ls-remote). */
  gitToken?: string
}

export function secretsFromEnv(env: NodeJS.ProcessEnv = process.env): Secrets {
  const pick = (name: string): string | undefined => {
    const v = env[name]
    return v !== undefined && v.trim() !== '' ? v.trim() : undefined
  }
  const out: Secrets = {}
  const webhookSecret = pick('KUBE_RECYCLER_WEBHOOK_SECRET')
  const webhookToken = pick('KUBE_RECYCLER_WEBHOOK_TOKEN')
  const recycleToken = pick('KUBE_RECYCLER_RECYCLE_TOKEN')
  const gitToken = pick('KUBE_RECYCLER_GIT_TOKEN')
  if (webhookSecret) out.webhookSecret = webhookSecret
  if (webhookToken) out.webhookToken = webhookToken
  if (recycleToken) out.recycleToken = recycleToken
  if (gitToken) out.gitToken = gitToken
  return out
}

/** Every secret value, for the log redaction of values that slip into free text. */
export function secretValues(s: Secrets): string[] {
  return [s.webhookSecret, s.webhookToken, s.recycleToken, s.gitToken].filter((v): v is string => v !== undefined)
}

const ENV_NAMES: Record<keyof Secrets, string> = {
  webhookSecret: 'KUBE_RECYCLER_WEBHOOK_SECRET',
  webhookToken: 'KUBE_RECYCLER_WEBHOOK_TOKEN',
  recycleToken: 'KUBE_RECYCLER_RECYCLE_TOKEN',
  gitToken: 'KUBE_RECYCLER_GIT_TOKEN',
}
const MIN_SECRET_LENGTH = 4

/**
 * What the service refuses to start with, one line per variable, never the
 * value. The logger redacts secrets by value as a last line of defence, and
 * it can only find what it can see: a secret shorter than 4 characters
 * would be replaced inside ordinary words (so it is not redacted at all), and
 * `"`, `\` or a control character is written escaped in a JSON log line,
 * where the raw value never appears.
 */
export function secretProblems(s: Secrets): string[] {
  const out: string[] = []
  for (const key of Object.keys(ENV_NAMES) as Array<keyof Secrets>) {
    const v = s[key]
    if (v === undefined) continue
    if (v.length < MIN_SECRET_LENGTH) out.push(`${ENV_NAMES[key]}: must be at least ${MIN_SECRET_LENGTH} characters (use e.g. \`openssl rand -hex 32\`)`)
    // eslint-disable-next-line no-control-regex
    else if (/["\\\u0000-\u001f\u007f]/.test(v)) out.push(`${ENV_NAMES[key]}: must not contain a double quote, a backslash or a control character`)
  }
  return out
}

/** For the service at start: throws ConfigError naming each bad variable. */
export function assertServiceSecrets(s: Secrets): void {
  const problems = secretProblems(s)
  if (problems.length > 0) throw new ConfigError('the environment', problems)
}
