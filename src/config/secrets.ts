// Secrets come only from the environment (a Kubernetes Secret, as
// variables or a mounted file), never from the config file, and are never
// logged or put in a process argument.

import { readFileSync } from 'node:fs'

/** An operator and their token: every pause, approval, reset and manual recycle records the name. */
export interface OperatorToken {
  name: string
  token: string
}

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
  /** Bearer token kube-recycler sends to Alertmanager's API (silences), when it needs one. */
  alertmanagerToken?: string
  /** Named operator tokens (KUBE_RECYCLER_OPERATOR_TOKENS_FILE); recycleToken is the operator named `operator`. */
  operators?: OperatorToken[]
}

/**
 * `name: token` lines (a mounted Secret); blank lines and `#` comments are
 * skipped. Throws with the line number (never the token) when a line is not
 * that shape or a name repeats.
 */
export function parseOperatorTokens(text: string, source: string): OperatorToken[] {
  const out: OperatorToken[] = []
  text.split(/\r?\n/).forEach((line, i) => {
    const l = line.trim()
    if (l === '' || l.startsWith('#')) return
    const m = /^([a-z0-9][a-z0-9._@-]{0,62})\s*:\s*(\S{16,})$/i.exec(l)
    if (!m)
      throw new Error(
        `${source} line ${i + 1}: must be "name: token" (a name of letters, digits, . _ @ -; a token of at least 16 characters)`,
      )
    if (out.some((o) => o.name === m[1])) throw new Error(`${source} line ${i + 1}: operator "${m[1]}" is named twice`)
    out.push({ name: m[1]!, token: m[2]! })
  })
  return out
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
  const alertmanagerToken = pick('KUBE_RECYCLER_ALERTMANAGER_TOKEN')
  if (webhookSecret) out.webhookSecret = webhookSecret
  if (webhookToken) out.webhookToken = webhookToken
  if (recycleToken) out.recycleToken = recycleToken
  if (gitToken) out.gitToken = gitToken
  if (alertmanagerToken) out.alertmanagerToken = alertmanagerToken
  const tokensFile = pick('KUBE_RECYCLER_OPERATOR_TOKENS_FILE')
  if (tokensFile) {
    let text: string
    try {
      text = readFileSync(tokensFile, 'utf8')
    } catch (e) {
      throw new Error(
        `KUBE_RECYCLER_OPERATOR_TOKENS_FILE: cannot read ${tokensFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      )
    }
    out.operators = parseOperatorTokens(text, 'KUBE_RECYCLER_OPERATOR_TOKENS_FILE')
  }
  return out
}

/** Every secret value, for the log redaction of values that slip into free text. */
export function secretValues(s: Secrets): string[] {
  return [
    s.webhookSecret,
    s.webhookToken,
    s.recycleToken,
    s.gitToken,
    s.alertmanagerToken,
    ...(s.operators ?? []).map((o) => o.token),
  ].filter((v): v is string => v !== undefined)
}

type StringSecret = Exclude<keyof Secrets, 'operators'>
const ENV_NAMES: Record<StringSecret, string> = {
  webhookSecret: 'KUBE_RECYCLER_WEBHOOK_SECRET',
  webhookToken: 'KUBE_RECYCLER_WEBHOOK_TOKEN',
  recycleToken: 'KUBE_RECYCLER_RECYCLE_TOKEN',
  gitToken: 'KUBE_RECYCLER_GIT_TOKEN',
  alertmanagerToken: 'KUBE_RECYCLER_ALERTMANAGER_TOKEN',
}
/**
 * The shortest secret the service starts with. The git token is the git
 * host's to choose; the webhook's and the operators' are ours, and their
 * length is what bounds guessing: a client past the failed-auth limit still
 * has its credentials checked (a valid one is served), so the limit does
 * not stop a patient guesser; 16 random characters do (the named operator
 * tokens' rule too).
 */
// Alertmanager's API token, like git's, is its owner's to choose.
const MIN_LENGTH: Record<StringSecret, number> = {
  webhookSecret: 16,
  webhookToken: 16,
  recycleToken: 16,
  gitToken: 4,
  alertmanagerToken: 4,
}

/**
 * What the service refuses to start with, one line per variable, never the
 * value: a secret shorter than its minimum (above; and the logger's
 * redaction by value, the last line of defence, could not find one shorter
 * than 4 characters inside ordinary words), or one with `"`, `\` or a
 * control character, which a JSON log line writes escaped, where the raw
 * value never appears.
 */
export function secretProblems(s: Secrets): string[] {
  const out: string[] = []
  const check = (name: string, v: string | undefined, min: number): void => {
    if (v === undefined) return
    if (v.length < min) out.push(`${name}: must be at least ${min} characters (use e.g. \`openssl rand -hex 32\`)`)
    // eslint-disable-next-line no-control-regex
    else if (/["\\\u0000-\u001f\u007f]/.test(v))
      out.push(`${name}: must not contain a double quote, a backslash or a control character`)
  }
  for (const key of Object.keys(ENV_NAMES) as StringSecret[]) check(ENV_NAMES[key], s[key], MIN_LENGTH[key])
  // Named operator tokens are redacted by value too: the same rules, named by operator.
  for (const o of s.operators ?? [])
    check(`KUBE_RECYCLER_OPERATOR_TOKENS_FILE (operator ${o.name})`, o.token, MIN_LENGTH.recycleToken)
  return out
}

/** For the service at start: throws ConfigError naming each bad variable. */
export function assertServiceSecrets(s: Secrets): void {
  const problems = secretProblems(s)
  if (problems.length > 0) throw new ConfigError('the environment', problems)
}
