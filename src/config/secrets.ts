// Secrets come only from the environment (a Kubernetes Secret), never from
// the config file, and are never logged or put in a process argument.

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
