// What a trigger says about a site. Jenkins, the probes and an operator all
// produce the same shape, so the health state machine and the policy never
// need to know where a verdict came from beyond `source`. The shapes are
// declared once, as schemas, in state/schema.ts (they are stored too).

import type { Static } from 'typebox'
import type {
  CheckResultSchema,
  FAILURE_CAUSES as FAILURE_CAUSES_T,
  VerdictSchema,
  VERDICT_SOURCES,
} from '../state/schema.ts'

export type VerdictSource = (typeof VERDICT_SOURCES)[number]

/**
 * Why a probe failed, machine-readable (declared with the stored shapes in
 * state/schema.ts), so a decision can tell a cause outside the pods (an
 * expired certificate, a name that does not resolve) from one a restart may fix.
 */
export { FAILURE_CAUSES } from '../state/schema.ts'
export type FailureCause = (typeof FAILURE_CAUSES_T)[number]

/**
 * One check's result, as Jenkins reported it or as a probe measured it (the
 * Jenkinsfile runs the same prober through `kube-recycler check` and its
 * report carries `cause` too).
 */
export type CheckResult = Static<typeof CheckResultSchema>

export type Verdict = Static<typeof VerdictSchema>
