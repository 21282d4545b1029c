// A site's check aimed at one pod: the same method, path, headers, body and
// assertions, sent to the pod's own IP and container port instead of the
// site's address. A check through the Service reaches one pod at random, so
// one sick pod of ten is a flaky site; aimed at each pod, it names the sick one.
//
// The URL's host goes in the Host header (virtual hosts answer as they do for
// the site) and, for https, undici derives the TLS server name from that
// header, so SNI and the certificate's name check are the site's, not the IP's.

import type { CheckConfig } from '../config/types.ts'
import type { PodState } from '../kube/types.ts'

export type PodCheck = { check: CheckConfig } | { error: string }

/** The container port a per-pod check reaches: by number, by name, or the first declared TCP port. */
export function podPort(pod: PodState, want: number | string | undefined): number | { error: string } {
  const tcp = (pod.ports ?? []).filter((p) => p.protocol === 'TCP')
  if (typeof want === 'number') return want
  if (want !== undefined) {
    const named = tcp.find((p) => p.name === want)
    return named ? named.containerPort : { error: `pod ${pod.name} declares no TCP port named "${want}"` }
  }
  const first = tcp[0]
  return first ? first.containerPort : { error: `pod ${pod.name} declares no container port (set perPod.port)` }
}

/** `check` sent to `pod` directly; an error when the pod has no IP yet or no such port. */
export function podCheck(check: CheckConfig, pod: PodState): PodCheck {
  if (!pod.ip) return { error: `pod ${pod.name} has no IP yet` }
  const port = podPort(pod, check.perPod?.port)
  if (typeof port !== 'number') return port
  let site: URL
  try {
    site = new URL(check.url)
  } catch {
    return { error: `invalid URL "${check.url}"` }
  }
  const host = pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip
  const headers = Object.keys(check.headers).some((h) => h.toLowerCase() === 'host')
    ? check.headers
    : { ...check.headers, host: site.host }
  return {
    check: {
      ...check,
      url: `${site.protocol}//${host}:${port}${site.pathname}${site.search}`,
      headers,
    },
  }
}
