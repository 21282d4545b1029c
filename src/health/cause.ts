// Is the cause of a failure outside the pods? Pure: given a site's
// `recycle.skipWhen` and the failing checks, says why a restart cannot help
// (an expired or not-yet-valid certificate, a name that does not resolve),
// or undefined when a recycle may help.
//
// Every failing check must name such a cause: one check failing with a 500
// beside one with an expired certificate may still be helped by a restart.
// Checks without a cause (Jenkins results, a bad status code, refused
// connections, timeouts) always leave the decision to recycle.

import type { SiteConfig } from '../config/types.ts'
import type { CheckResult, FailureCause } from './verdict.ts'

const WORDS: Partial<Record<FailureCause, string>> = {
  'tls-expired': 'the TLS certificate has expired',
  'tls-not-yet-valid': 'the TLS certificate is not valid yet',
  'tls-untrusted': 'the TLS certificate is not trusted',
  'tls-hostname': 'the TLS certificate does not match the hostname',
  'dns-not-found': 'the DNS name does not resolve',
}

export function outsideCause(site: Pick<SiteConfig, 'recycle'>, checks: readonly CheckResult[]): string | undefined {
  const skip = new Set<FailureCause>(site.recycle.skipWhen)
  const failing = checks.filter((c) => !c.ok)
  if (failing.length === 0 || skip.size === 0) return undefined
  if (!failing.every((c) => c.cause !== undefined && skip.has(c.cause))) return undefined
  const parts = failing.map((c) => `${c.name}: ${WORDS[c.cause!] ?? c.cause}`)
  return `the cause is outside the pods, a restart cannot help (${parts.join('; ')}; recycle.skipWhen: ${[...skip].join(', ')})`
}
