// Per-pod probing: every check with `perPod` runs against each Ready pod of
// the site's target on the pod's own IP (pod-check.ts aims it), so one sick
// pod of ten is named instead of making the site flaky. The pods come through
// a narrow lister the app builds from the cluster side: this room never
// talks to Kubernetes itself.
//
// What is evidence: a pod that answers wrongly fails. A list of pods that
// cannot be read, or a pod a check cannot be aimed at (no IP yet, no such
// port), says nothing about the pods' health: it is recorded as `error` and
// never fails the site, so a flaky API server cannot restart pods.

import type { CheckConfig, SiteConfig } from '../config/types.ts'
import { isAppError } from '../errors.ts'
import type { PodState } from '../kube/types.ts'
import type { PodResult, PodsResult } from '../state/schema.ts'
import { podCheck } from './pod-check.ts'
import type { Prober } from './probe.ts'

/** The pods of a site's target as the cluster lists them now. */
export interface PodLister {
  pods(site: SiteConfig): Promise<PodState[]>
}

export const perPodChecks = (site: Pick<SiteConfig, 'checks'>): CheckConfig[] =>
  site.checks.filter((c) => c.perPod !== undefined)

/** The pods a per-pod check reaches: Ready (the Service sends them traffic) and not on their way out. */
const probeablePods = (pods: readonly PodState[]): PodState[] =>
  pods.filter((p) => p.ready && !p.terminating).sort((a, b) => a.name.localeCompare(b.name))

/** Every check of `checks` against one pod; the first failing check names the failure. A check that cannot be aimed: `error`. */
export async function probePod(
  prober: Pick<Prober, 'runCheck'>,
  checks: readonly CheckConfig[],
  pod: PodState,
): Promise<PodResult | { error: string; check: string }> {
  const aimed = checks.map((c) => podCheck(c, pod))
  const cannot = aimed.findIndex((a) => 'error' in a)
  if (cannot >= 0) return { error: (aimed[cannot] as { error: string }).error, check: checks[cannot]!.name }
  const results = await Promise.all(aimed.map((a) => prober.runCheck((a as { check: CheckConfig }).check)))
  const base = {
    name: pod.name,
    ...(pod.ip ? { ip: pod.ip } : {}),
    ...(pod.templateCommit ? { commit: pod.templateCommit } : {}),
  }
  const bad = results.find((r) => !r.ok)
  if (!bad) return { ...base, ok: true }
  return {
    ...base,
    ok: false,
    check: bad.name,
    ...(bad.cause ? { cause: bad.cause } : {}),
    message: bad.message ?? 'failed',
  }
}

/** The per-pod checks of `site` against its Ready pods; undefined when the site has none. */
export async function probePods(prober: Prober, site: SiteConfig, lister: PodLister): Promise<PodsResult | undefined> {
  const checks = perPodChecks(site)
  if (checks.length === 0) return undefined
  let pods: PodState[]
  try {
    pods = probeablePods(await lister.pods(site))
  } catch (e) {
    const why = isAppError(e) ? e.message : 'unexpected error'
    return { total: 0, failing: 0, pods: [], error: `the pods could not be listed: ${why}` }
  }
  const answers = await Promise.all(pods.map((p) => probePod(prober, checks, p)))
  const results = answers.filter((a): a is PodResult => !('error' in a))
  const errors = answers.filter((a): a is { error: string; check: string } => 'error' in a).map((a) => a.error)
  const failing = results.filter((r) => !r.ok).length
  return {
    total: results.length,
    failing,
    pods: results,
    ...(errors.length > 0
      ? { error: `not probed: ${errors.slice(0, 3).join('; ')}${errors.length > 3 ? ` (+${errors.length - 3})` : ''}` }
      : {}),
  }
}

/** "2 of 10 pods fail home: web-a (expected status 200, got 500); web-b (…)", per failing check; undefined when none fails. */
export function podsSummary(p: PodsResult): string | undefined {
  if (p.failing === 0) return undefined
  const byCheck = new Map<string, PodResult[]>()
  for (const r of p.pods) if (!r.ok) byCheck.set(r.check ?? '?', [...(byCheck.get(r.check ?? '?') ?? []), r])
  return [...byCheck.entries()]
    .map(
      ([check, pods]) =>
        `${pods.length} of ${p.total} pods fail ${check}: ${pods
          .slice(0, 3)
          .map((r) => `${r.name} (${r.message ?? 'failed'})`)
          .join('; ')}${pods.length > 3 ? `; +${pods.length - 3} more` : ''}`,
    )
    .join('; ')
}
