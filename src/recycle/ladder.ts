// The ladder of repairs, as pure decisions: which rungs a recycle climbs, and
// whether its replace-pods rung has anything to do. The runner acts on them;
// each rung that ends without healing goes through the lifecycle ('rung').
//
//   replace-pods: some Ready pods fail their per-pod checks and others pass:
//                 replace just those, each replacement probed on its own IP
//   <strategy>:   every pod fails, the pods cannot be told apart, or a
//                 replacement fails too: the strategy (a rollout pinned to
//                 the production head, by default)
//   rollback:     the rollout's pods fail too (recycle.rollback: auto)
//   stop:         still failing: automatic recycles stop (did-not-help)

import type { LadderRung, SiteConfig, StrategyName } from '../config/types.ts'
import type { PodsResult } from '../state/schema.ts'

/**
 * The rungs of one recycle: the site's ladder when the recycle runs the
 * site's own strategy; an operator who named another strategy gets that one.
 */
export function ladderFor(site: Pick<SiteConfig, 'recycle'>, strategy: StrategyName): LadderRung[] {
  if (strategy !== site.recycle.strategy) return [strategy]
  return site.recycle.ladder.length > 0 ? site.recycle.ladder : [strategy]
}

export type ReplaceDecision = { replace: string[] } | { skip: string }

/**
 * replace-pods, decided on a per-pod probe taken when the recycle starts (the
 * verdict that asked may be old; a failing pod may be gone already).
 */
export function replaceDecision(pods: PodsResult | undefined): ReplaceDecision {
  if (!pods) return { skip: 'no per-pod checks ran (no pod lister)' }
  if (pods.total === 0)
    return { skip: pods.error ? `cannot tell the pods apart: ${pods.error}` : 'no Ready pod to probe' }
  if (pods.failing === 0) return { skip: `every pod of ${pods.total} passes its per-pod checks now` }
  if (pods.failing === pods.total) return { skip: `every pod of ${pods.total} fails its per-pod checks` }
  return { replace: pods.pods.filter((p) => !p.ok).map((p) => p.name) }
}
