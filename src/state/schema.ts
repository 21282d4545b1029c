// The shapes kube-recycler keeps for the service as a whole: what a decision
// depends on (health, failure episode, circuit breaker, delivery keys, the
// last report) and what /status shows (the recycle history). Declared once,
// as TypeBox schemas with their static types: the store validates what it
// loads from the cluster against them (a hand-edited ConfigMap is refused,
// not half-read), and the routes answer with the same schemas.

import Type, { type Static } from 'typebox'
import { LADDER_RUNGS, STRATEGIES } from '../config/types.ts'

export const VERDICT_SOURCES = ['jenkins', 'probe', 'operator', 'alertmanager'] as const

export const RecycleStepSchema = Type.Object({ at: Type.String(), message: Type.String() })
export type RecycleStep = Static<typeof RecycleStepSchema>

/**
 * One rung of the ladder of repairs a recycle climbed (recycle/ladder.ts):
 * the configured rungs, then `rollback` and `stop` after the last one.
 * `pods`: the pods it replaced (replace-pods).
 */
export const RUNG_NAMES = [...LADDER_RUNGS, 'rollback', 'stop'] as const
export const RungSchema = Type.Object(
  {
    rung: Type.Enum(RUNG_NAMES),
    at: Type.String(),
    outcome: Type.Enum(['succeeded', 'failed', 'skipped']),
    pods: Type.Optional(Type.Array(Type.String())),
    reason: Type.Optional(Type.String()),
  },
  { title: 'Rung' },
)
export type RungRecord = Static<typeof RungSchema>

export const RecyclePlanSchema = Type.Object({
  workload: Type.String(),
  strategy: Type.Enum(STRATEGIES),
  pods: Type.Array(Type.String()),
  why: Type.String(),
})
export type RecyclePlan = Static<typeof RecyclePlanSchema>

/**
 * `rolled-back`: the recycle's rollout failed (or did not help) and the
 * revision before it was restored. `canary-failed`: a canary-first rollout's
 * one new pod failed the site's checks; the template was undone and the
 * other pods never left the revision before. `awaiting-approval`: recycle.mode approve,
 * waiting for an operator (then `pending`, `rejected`, or `expired` after
 * approvalTimeout). `waiting`: outside every recycleWindow; the leader
 * releases it (`pending`) when a window opens and the site still fails, or
 * ends it (`expired`) when the site recovered meanwhile.
 */
export const RECYCLE_STATES = [
  'planned',
  'pending',
  'running',
  'succeeded',
  'failed',
  'rolled-back',
  'canary-failed',
  'skipped',
  'awaiting-approval',
  'waiting',
  'rejected',
  'expired',
] as const
export type RecycleState = (typeof RECYCLE_STATES)[number]

/** Who stopped automatic recycles, why, since when and (optionally) until when. */
export const PauseSchema = Type.Object(
  {
    by: Type.String(),
    reason: Type.String(),
    since: Type.String(),
    until: Type.Optional(Type.String()),
  },
  { title: 'Pause' },
)
export type Pause = Static<typeof PauseSchema>

export const ApprovalSchema = Type.Object({
  decision: Type.Enum(['approved', 'rejected']),
  by: Type.String(),
  at: Type.String(),
  reason: Type.Optional(Type.String()),
})

export const VERIFICATIONS = ['pending', 'recovered', 'recycle-did-not-help'] as const

/**
 * What kind of reason a record carries: behaviour branches on this, never on
 * the words. The policy's (paused … outside-windows), the lifecycle's own
 * (invalid, stale, lock …) and an executor that did not act (not-acted).
 */
export const REASON_KINDS = [
  'paused',
  'maintenance',
  'cannot-help',
  'dry-run',
  'busy',
  'cooldown',
  'circuit-open',
  'notify-mode',
  'approve-mode',
  'outside-windows',
  'invalid',
  'stale',
  'git',
  'not-acted',
  'failed',
  'rejected',
  'expired',
  'not-needed',
  'plan-failed',
  'canary-failed',
] as const
export type ReasonKind = (typeof REASON_KINDS)[number]

/** A git commit as the service stores it: lowercase hex, a short sha up to a SHA-256 one (the inputs accept the same). */
export const COMMIT_PATTERN = '^[0-9a-f]{7,64}$'
/** Ids the service makes (recycle/lifecycle.ts newRecycleId). */
export const RECYCLE_ID_PATTERN = '^rc-[0-9a-z]{1,16}-[0-9a-f]{8}$'

/** A canary-first rollout's one new pod, and what it answered when probed on its own IP. */
export const CanaryResultSchema = Type.Object({
  pod: Type.String(),
  passed: Type.Boolean(),
  commit: Type.Optional(Type.String()),
  /** The first check that failed, and what it said. */
  check: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
})
export type CanaryResult = Static<typeof CanaryResultSchema>

export const RecycleRecordSchema = Type.Object(
  {
    id: Type.String({ pattern: RECYCLE_ID_PATTERN }),
    site: Type.String(),
    target: Type.String(),
    strategy: Type.Enum(STRATEGIES),
    trigger: Type.Object({
      source: Type.Enum(VERDICT_SOURCES),
      reason: Type.String(),
      ref: Type.Optional(Type.String()),
      key: Type.Optional(Type.String()),
    }),
    commit: Type.Optional(Type.String({ pattern: COMMIT_PATTERN })),
    dryRun: Type.Boolean(),
    state: Type.Enum(RECYCLE_STATES),
    /** Why it was skipped or failed, in plain words; its kind in reasonKind. */
    reason: Type.Optional(Type.String()),
    reasonKind: Type.Optional(Type.Enum(REASON_KINDS)),
    plan: Type.Optional(RecyclePlanSchema),
    /** The first and the last steps (state/bounds.ts LIMITS); how many between them were left out. */
    steps: Type.Array(RecycleStepSchema),
    stepsLeftOut: Type.Optional(Type.Integer({ minimum: 1 })),
    createdAt: Type.String(),
    /** The replica that runs (or ran) it: the Lease holder of the time. */
    holder: Type.Optional(Type.String()),
    finishedAt: Type.Optional(Type.String()),
    /** After a succeeded recycle: did probing the site again show it healthy? */
    verification: Type.Optional(Type.Enum(VERIFICATIONS)),
    /** The workload's template revision and pinned commit before this recycle (a rollback restores them). */
    revisionBefore: Type.Optional(Type.Integer()),
    commitBefore: Type.Optional(Type.String()),
    /** The operator who asked for it (manual recycles), by token name. */
    by: Type.Optional(Type.String()),
    /** recycle.mode approve: until when it may be approved, and who decided. */
    expiresAt: Type.Optional(Type.String()),
    approval: Type.Optional(ApprovalSchema),
    /** The start counted for it (cooldown, circuit) when that is not createdAt: approved or released later. */
    startAt: Type.Optional(Type.String()),
    /** Identical skips in a row are one record: how many, and the last one's time. */
    repeats: Type.Optional(Type.Integer({ minimum: 1 })),
    lastAt: Type.Optional(Type.String()),
    /** The rungs of the ladder of repairs this recycle climbed, in order (bounded). */
    rungs: Type.Optional(Type.Array(RungSchema)),
    /** recycle.canary: the canary pod and its answer. */
    canary: Type.Optional(CanaryResultSchema),
  },
  { title: 'Recycle' },
)
export type RecycleRecord = Static<typeof RecycleRecordSchema>

/** A recycle as /status lists it: no steps (they live behind GET /recycles/:id). */
export type RecycleBrief = Omit<RecycleRecord, 'steps' | 'plan'> & { url: string }

/** Why a check failed, machine-readable (the prober sets it; Jenkins reports may carry it). */
export const FAILURE_CAUSES = [
  'tls-expired',
  'tls-not-yet-valid',
  'tls-untrusted',
  'tls-hostname',
  'tls-other',
  'dns-not-found',
  'dns-temporary',
  'refused',
  'reset',
  'unreachable',
  'timeout',
  'status',
  'body',
  'latency',
  'invalid-response',
  'config',
  'other',
] as const

export const CheckResultSchema = Type.Object({
  name: Type.String(),
  ok: Type.Boolean(),
  url: Type.Optional(Type.String()),
  /** HTTP status, when there was a response. */
  status: Type.Optional(Type.Number()),
  latencyMs: Type.Optional(Type.Number()),
  /** Plain words: which condition failed and the evidence. */
  message: Type.Optional(Type.String()),
  /** Set on a failed check: the kind of failure. */
  cause: Type.Optional(Type.Enum(FAILURE_CAUSES)),
  /** Alert-only findings that never make a check fail (certificate expiry). */
  warnings: Type.Optional(Type.Array(Type.String())),
  /** ISO time the result was taken (probes). */
  at: Type.Optional(Type.String()),
})

/**
 * One pod as the per-pod checks saw it: where it was reached, the commit its
 * template pins, and for a failing pod the first per-pod check it failed.
 */
export const PodResultSchema = Type.Object(
  {
    name: Type.String(),
    ip: Type.Optional(Type.String()),
    commit: Type.Optional(Type.String()),
    ok: Type.Boolean(),
    check: Type.Optional(Type.String()),
    cause: Type.Optional(Type.Enum(FAILURE_CAUSES)),
    message: Type.Optional(Type.String()),
  },
  { title: 'PodResult' },
)

/**
 * The per-pod checks of one probe run. `pods` keeps every failing pod first,
 * then passing ones while room is left (state/bounds.ts LIMITS.pods); the
 * counts cover all of them. `error`: the pods could not be listed, so the
 * per-pod checks did not run and say nothing either way.
 */
export const PodsResultSchema = Type.Object(
  {
    total: Type.Integer({ minimum: 0 }),
    failing: Type.Integer({ minimum: 0 }),
    pods: Type.Array(PodResultSchema),
    leftOut: Type.Optional(Type.Integer({ minimum: 1 })),
    error: Type.Optional(Type.String()),
  },
  { title: 'PodsResult' },
)
export type PodResult = Static<typeof PodResultSchema>
export type PodsResult = Static<typeof PodsResultSchema>

export const VerdictSchema = Type.Object(
  {
    site: Type.String(),
    ok: Type.Boolean(),
    source: Type.Enum(VERDICT_SOURCES),
    /** ISO 8601. */
    at: Type.String(),
    checks: Type.Array(CheckResultSchema),
    /** Commit the trigger names (Jenkins payload), if any. */
    commit: Type.Optional(Type.String()),
    /** Jenkins build URL, probe run id, operator reason. */
    ref: Type.Optional(Type.String()),
    /** Idempotency key `jenkins:<job>#<build>@<site>`: the same key acts once. */
    key: Type.Optional(Type.String()),
    summary: Type.String(),
    /** The per-pod checks (checks with perPod), each Ready pod probed on its own IP. */
    pods: Type.Optional(PodsResultSchema),
  },
  { title: 'Verdict' },
)

/**
 * Verdicts in a row alike (same ok, same source), as /status draws them:
 * the first and last verdict's times, how many (a repeated Jenkins report
 * within a minute is not counted; repeated probes are, through the
 * heartbeat), and the last written one's summary, ref (Jenkins build URL) and commit.
 */
export const TimelineRunSchema = Type.Object(
  {
    from: Type.String(),
    to: Type.String(),
    ok: Type.Boolean(),
    source: Type.Enum(VERDICT_SOURCES),
    count: Type.Integer({ minimum: 1 }),
    summary: Type.String(),
    ref: Type.Optional(Type.String()),
    commit: Type.Optional(Type.String()),
  },
  { title: 'TimelineRun' },
)
export type TimelineRun = Static<typeof TimelineRunSchema>

export const HEALTH_STATES = ['healthy', 'failing', 'unknown'] as const
export type Health = (typeof HEALTH_STATES)[number]

export const EpisodeSchema = Type.Object({
  /** When the site became failing. */
  since: Type.String(),
  /** A recycle for this episode is running (or being verified). */
  recycleActive: Type.Boolean(),
  /** A recycle for this episode finished and acted. */
  recycled: Type.Boolean(),
  /** The site still failed after a recycle: no more automatic ones. */
  didNotHelp: Type.Boolean(),
})
export type Episode = Static<typeof EpisodeSchema>

export const DeliverySchema = Type.Object({
  key: Type.String(),
  ok: Type.Boolean(),
  /** What the delivery said (Jenkins status), for the answer to a re-send. */
  status: Type.Optional(Type.String()),
  at: Type.String(),
})
export type Delivery = Static<typeof DeliverySchema>

/**
 * A silence kube-recycler holds in Alertmanager while a recycle an alert
 * asked for runs. Kept in the site's state, so whichever replica leads
 * expires it when the recycle is over; `endsAt` bounds it anyway.
 */
export const SilenceHoldSchema = Type.Object({
  id: Type.String(),
  /** The recycle it covers. */
  recycle: Type.String(),
  endsAt: Type.String(),
  /** The alert it silences, as its alertname. */
  alert: Type.Optional(Type.String()),
})
export type SilenceHold = Static<typeof SilenceHoldSchema>

export const SiteStateSchema = Type.Object(
  {
    v: Type.Literal(1),
    site: Type.String(),
    /** When the service started watching the site (the dead-man's switch counts from here until a first report). */
    since: Type.Optional(Type.String()),
    health: Type.Enum(HEALTH_STATES),
    consecutiveFailures: Type.Integer({ minimum: 0 }),
    consecutiveSuccesses: Type.Integer({ minimum: 0 }),
    episode: Type.Optional(EpisodeSchema),
    lastVerdict: Type.Optional(VerdictSchema),
    /** The last verdicts as runs, oldest first (LIMITS.timeline; state/timeline.ts). Optional: states written before it load. */
    timeline: Type.Optional(Type.Array(TimelineRunSchema)),
    /** The last Jenkins report the service received (dead-man's switch). */
    lastReportAt: Type.Optional(Type.String()),
    /** Delivery keys already counted, oldest first (bounded). */
    deliveries: Type.Array(DeliverySchema),
    /** Start times (ISO) of recycles that acted, for the cooldown and the circuit breaker. */
    starts: Type.Array(Type.String()),
    /** An operator paused automatic recycles of this site. */
    pause: Type.Optional(PauseSchema),
    /** An operator paused the whole service: a copy in every site's state, so one conditional write decides. */
    servicePause: Type.Optional(PauseSchema),
    /** POST /sites/{site}/reset: the circuit breaker counts only the starts after this. */
    lastReset: Type.Optional(
      Type.Object({ by: Type.String(), at: Type.String(), reason: Type.Optional(Type.String()) }),
    ),
    /** The Jenkins silence (counted from this time) already announced as stale. */
    staleNoticeFor: Type.Optional(Type.String()),
    /** Recycles, oldest first (bounded in count and bytes). */
    recycles: Type.Array(RecycleRecordSchema),
    /** Alertmanager silences held while recycles run (alerts/holds.ts). Optional: states written before it load. */
    silences: Type.Optional(Type.Array(SilenceHoldSchema)),
  },
  { title: 'SiteState' },
)
export type SiteState = Static<typeof SiteStateSchema>

export function emptySiteState(site: string): SiteState {
  return {
    v: 1,
    site,
    health: 'unknown',
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    deliveries: [],
    starts: [],
    recycles: [],
  }
}
