// What a trigger says about a site. Jenkins, the probes and an operator all
// produce the same shape, so the health state machine and the policy never
// need to know where a verdict came from beyond `source`.

export type VerdictSource = 'jenkins' | 'probe' | 'operator'

/**
 * Why a probe failed, machine-readable, so a decision can tell a cause
 * outside the pods (an expired certificate, a name that does not resolve)
 * from one a restart may fix.
 */
export const FAILURE_CAUSES = [
  'tls-expired', 'tls-not-yet-valid', 'tls-untrusted', 'tls-hostname', 'tls-other',
  'dns-not-found', 'dns-temporary',
  'refused', 'reset', 'unreachable', 'timeout',
  'status', 'body', 'latency', 'invalid-response', 'config', 'other',
] as const
export type FailureCause = typeof FAILURE_CAUSES[number]

/**
 * One check's result, as Jenkins reported it or as a probe measured it (the
 * Jenkinsfile runs the same prober through `kube-recycler check` and its
 * report carries `cause` too).
 */
export interface CheckResult {
  name: string
  ok: boolean
  url?: string
  /** HTTP status, when there was a response. */
  status?: number
  latencyMs?: number
  /** Plain words: which condition failed and the evidence. */
  message?: string
  /** Set on a failed probe: the kind of failure (see FailureCause). */
  cause?: FailureCause
  /** Alert-only findings that never make a check fail (certificate expiry). */
  warnings?: string[]
  /** ISO time the result was taken (probes). */
  at?: string
}

export interface Verdict {
  site: string
  ok: boolean
  source: VerdictSource
  /** ISO 8601. */
  at: string
  checks: CheckResult[]
  /** Commit the trigger names (Jenkins payload), if any. */
  commit?: string
  /** Jenkins build URL, probe run id, operator reason. */
  ref?: string
  /** Idempotency key: `jenkins:<job>#<build>`; the same key acts once. */
  key?: string
  summary: string
}
