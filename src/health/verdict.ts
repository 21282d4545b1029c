// What a trigger says about a site. Jenkins, the probes and an operator all
// produce the same shape, so the health state machine and the policy never
// need to know where a verdict came from beyond `source`. The shapes are
// declared once, as schemas, in state/schema.ts (they are stored too).

import type { Static } from 'typebox'
import type { CheckResultSchema, VerdictSchema, VERDICT_SOURCES } from '../state/schema.ts'

export type VerdictSource = (typeof VERDICT_SOURCES)[number]

/** One check's result, as Jenkins reported it or as a probe measured it. */
export type CheckResult = Static<typeof CheckResultSchema>

export type Verdict = Static<typeof VerdictSchema>
