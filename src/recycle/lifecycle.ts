// The life of a recycle record, as one pure state machine, as
// health/state.ts is for a site's health: transition(state, id, event, now)
// answers the next site state (absent: refused, nothing to write) and the
// effects to perform once that state is written (recycle/effects.ts). It is
// the only code that writes a record's `state`, the start list (cooldown,
// circuit breaker), the health hooks of a recycle, and the step bound.
//
// Pure, because the store applies a change again after a 409 (another
// replica wrote first): what a change decides is its result, never a
// variable set on the way. Every transition after the claim is refused
// unless this replica is the record's holder, so a replica that lost a claim,
// or whose recycle was adopted by the next leader, can neither act on it nor
// write over the winner's record.
//
//   request ─> planned | skipped | awaiting-approval | waiting | pending
//   awaiting-approval ─approve─> pending   ─reject─> rejected   ─review─> expired
//   waiting ─review─> pending (a window opened) | expired (recovered meanwhile)
//   pending ─claim─> running (holder) | skipped (decided again: invalid, stale, paused, …)
//   running ─adopt─> running (new holder)  ─steps─> running  ─outcome─> succeeded | failed | rolled-back | canary-failed | skipped
//   running ─rung─> running (a rung of the ladder ended without healing: the next one starts, counted as a start)
//   succeeded (replace-pods, verification pending) ─rung─> running (the site still fails: the next rung)
//   succeeded (verification pending) ─rolled-back─> rolled-back ─verified─> recovered | recycle-did-not-help

import type { LadderRung, SiteConfig, StrategyName } from '../config/types.ts'
import { targetLabel } from '../config/types.ts'
import { Errors } from '../errors.ts'
import { operatorRecycled, recycleFinished, recycleStarted, verified } from '../health/state.ts'
import type { Verdict, VerdictSource } from '../health/verdict.ts'
import type { NotifyEvent } from '../notify/types.ts'
import { boundRecord, boundVerdict, clip } from '../state/bounds.ts'
import { findRecord, putRecord, recordProblem, step } from '../state/records.ts'
import type { RecyclePlan, RecycleRecord, RecycleStep, ReasonKind, RungRecord, SiteState } from '../state/schema.ts'
import type { RunOutcome } from './executor.ts'
import { activePause, decide } from './policy.ts'
import { windowsAt } from './windows.ts'

export interface RecycleRequest {
  site: string
  source: VerdictSource
  reason: string
  ref?: string
  key?: string
  /** The commit the trigger names (Jenkins payload); the git head wins when configured. */
  commit?: string
  strategy?: StrategyName
  dryRun?: boolean
  /** The failing checks say the cause is outside the pods (health/cause.ts). */
  outsideCause?: string
  /** The operator's name (token name), for a manual recycle. */
  by?: string
}

export interface Actor {
  /** The operator's token name. */
  by: string
  reason?: string
}

export type LifecycleEvent =
  | { type: 'request'; site: SiteConfig; req: RecycleRequest; dryRun: boolean; freshEpisode?: boolean }
  | { type: 'plan'; plan: RecyclePlan }
  | { type: 'plan-failed'; why: string }
  | { type: 'approve'; site: SiteConfig; actor: Actor }
  | { type: 'reject'; actor: Actor }
  /** The leader's look at a waiting record: an approval past its time, a window that opened. */
  | { type: 'review'; site: SiteConfig }
  | { type: 'claim'; site: SiteConfig; by: string }
  | { type: 'adopt'; by: string }
  | { type: 'take-verification'; by: string }
  | { type: 'steps'; by: string; trail: Trail }
  | {
      type: 'outcome'
      by: string
      outcome: RunOutcome
      trail: Trail
      commit: string | undefined
      willVerify: boolean
      /** The ladder's last rung, as it ended. */
      rung?: RungRecord
    }
  /** A rung of the ladder ended without healing and `next` starts (recycle/ladder.ts). */
  | { type: 'rung'; by: string; rung: RungRecord; next: LadderRung; site: SiteConfig; trail: Trail }
  | { type: 'rolled-back'; by: string; trail: Trail; message: string }
  | { type: 'verified'; by: string; ok: boolean; verdict: Verdict; trail: Trail; message: string }

/** A running recycle's steps as its holder keeps them: the steps, and how many were left out between them (state/bounds.ts). */
export interface Trail {
  steps: RecycleStep[]
  leftOut?: number
}

/** The record with its steps replaced by `t`. */
function withTrail(r: RecycleRecord, t: Trail): RecycleRecord {
  const { stepsLeftOut: _n, ...rest } = r
  return { ...rest, steps: t.steps, ...(t.leftOut ? { stepsLeftOut: t.leftOut } : {}) }
}

/** Recycle outcomes as kube_recycler_recycles_total counts them. */
export type CountedOutcome = 'succeeded' | 'failed' | 'rolled-back' | 'canary-failed' | 'skipped' | 'did-not-help'

/** What happens once the new state is written (recycle/effects.ts performs them), in order. */
export type Effect =
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { kind: 'notify'; event: NotifyEvent; message: string; by?: string }
  | { kind: 'count'; outcome: CountedOutcome }
  /** Seconds from the request to the outcome (kube_recycler_recycle_seconds). */
  | { kind: 'duration'; seconds: number }
  | { kind: 'event'; type: 'Normal' | 'Warning'; reason: string; message: string }
  /** Hand the record on: a pending one to the runner, a planned one to the executor's plan. */
  | { kind: 'hand-off' }
  /** The recycle is over (the cached facts of the site are read again). */
  | { kind: 'finished' }

/** Why a transition wrote nothing: the record is gone, has moved on, or is another replica's. */
export type Refusal = 'gone' | 'moved-on' | 'not-holder'

export interface Transition {
  /** Absent: refused (or nothing to change); nothing is written. */
  next?: SiteState
  /** The record after the transition (refused: as it was found). */
  record?: RecycleRecord
  effects: Effect[]
  refused?: Refusal
}

const iso = (t: number): string => new Date(t).toISOString()

/** Every record goes into the state through here: bounded (steps, texts). */
const put = (s: SiteState, r: RecycleRecord): SiteState => putRecord(s, boundRecord(r))

/** Removes one occurrence of `at` (a start that turned out not to act). */
const withoutStart = (s: SiteState, at: string): SiteState => {
  const i = s.starts.indexOf(at)
  return i < 0 ? s : { ...s, starts: [...s.starts.slice(0, i), ...s.starts.slice(i + 1)] }
}

const withStart = (s: SiteState, site: SiteConfig, now: number): SiteState => {
  const keep = Math.max(site.recycle.windowMs, site.recycle.cooldownMs)
  return { ...s, starts: [...s.starts.filter((t) => now - Date.parse(t) < keep), iso(now)] }
}

const refuse = (why: Refusal, record?: RecycleRecord): Transition => ({
  effects: [],
  refused: why,
  ...(record ? { record } : {}),
})

const requestedWords = (r: RecycleRecord): string =>
  `${r.target} by ${r.trigger.source}${r.by ? ` (${r.by})` : ''}: ${r.trigger.reason}${r.reason ? `; ${r.reason}` : ''}`

/** Refuses what no state could make valid (a rollout of a selector). */
function checkRequest(site: SiteConfig, req: Pick<RecycleRequest, 'strategy'>): StrategyName {
  const strategy = req.strategy ?? site.recycle.strategy
  if (strategy === 'rollout' && !('name' in site.target)) {
    throw Errors.invalidField(`strategy: "rollout" needs a named workload; site "${site.name}" targets a selector`)
  }
  return strategy
}

function request(s: SiteState, id: string, e: Extract<LifecycleEvent, { type: 'request' }>, now: number): Transition {
  const { site, req } = e
  const strategy = checkRequest(site, req)
  const dryRun = e.dryRun || req.dryRun === true
  const at = iso(now)
  const base: RecycleRecord = {
    id,
    site: site.name,
    target: targetLabel(site.target),
    strategy,
    trigger: {
      source: req.source,
      reason: clip(req.reason),
      ...(req.ref ? { ref: clip(req.ref) } : {}),
      ...(req.key ? { key: req.key } : {}),
    },
    ...(req.commit ? { commit: req.commit } : {}),
    dryRun,
    state: 'pending',
    steps: [],
    createdAt: at,
    ...(req.by ? { by: clip(req.by, 100) } : {}),
  }
  const decision = decide(
    s,
    site,
    { source: req.source, dryRun, ...(req.outsideCause !== undefined ? { outsideCause: req.outsideCause } : {}) },
    now,
  )
  if (decision.kind === 'plan') {
    const notify = decision.why !== 'dry-run'
    const last = s.recycles.at(-1)
    const said = (r: RecycleRecord): Effect[] => [
      ...(dryRun ? [] : [{ kind: 'notify', event: 'recycle-requested', message: requestedWords(r) } as const]),
      { kind: 'hand-off' },
    ]
    if (
      req.source !== 'operator' &&
      last &&
      last.state === 'planned' &&
      last.trigger.source === req.source &&
      last.dryRun === dryRun &&
      (last.reasonKind ?? 'dry-run') === decision.why &&
      e.freshEpisode === false
    ) {
      // The same failure planned again (a flood of failing reports in
      // dry-run or notify mode): one record, counted, as the live service
      // would act once. Switched to live, the policy answers `run`, not
      // `plan`: nothing here holds it back.
      const record: RecycleRecord = { ...last, repeats: (last.repeats ?? 1) + 1, lastAt: at }
      return { next: put(s, record), record, effects: said(record) }
    }
    const record: RecycleRecord = {
      ...base,
      state: 'planned',
      finishedAt: at,
      ...(notify ? { reason: decision.reason, reasonKind: decision.why } : {}),
      steps: [
        step(
          now,
          `${notify ? 'notify mode' : 'dry-run'}: planned ${strategy} of ${base.target} (${base.trigger.reason}); nothing changes in the cluster`,
        ),
      ],
    }
    return { next: put(s, record), record, effects: said(record) }
  }
  if (decision.kind === 'await' || decision.kind === 'wait') {
    // Not started: no start counted (cooldown, circuit) until it is released;
    // the episode holds it, so further failures do not ask again.
    const record: RecycleRecord = {
      ...base,
      state: decision.kind === 'await' ? 'awaiting-approval' : 'waiting',
      reason: decision.reason,
      reasonKind: decision.why,
      ...(decision.kind === 'await' ? { expiresAt: decision.expiresAt } : {}),
      steps: [step(now, `recycle requested by ${req.source}: ${base.trigger.reason}`), step(now, decision.reason)],
    }
    const effects: Effect[] =
      decision.kind === 'await'
        ? [
            {
              kind: 'notify',
              event: 'approval-needed',
              message: `${record.target}: ${record.trigger.reason}; ${record.reason ?? ''}`,
            },
          ]
        : [{ kind: 'notify', event: 'recycle-requested', message: requestedWords(record) }]
    return {
      next: recycleStarted(put(s, record)),
      record,
      effects: [...effects, { kind: 'log', level: 'info', message: `recycle requested: ${record.trigger.reason}` }],
    }
  }
  if (decision.kind === 'skip') {
    const last = s.recycles.at(-1)
    const effects = (r: RecycleRecord, first: boolean): Effect[] => [
      { kind: 'count', outcome: 'skipped' },
      ...(decision.why === 'circuit-open'
        ? [
            {
              kind: 'log',
              level: 'error',
              message: `circuit open: ${site.recycle.maxPerWindow} recycles within the window; automatic recycles stopped`,
            } as const,
            ...(first ? [{ kind: 'notify', event: 'recycle-skipped-circuit', message: decision.reason } as const] : []),
          ]
        : []),
      ...(decision.why === 'cannot-help'
        ? // Loud, once per refusal record (repeats of it are merged): an
          // operator must fix what is outside the pods.
          [
            { kind: 'log', level: 'error', message: `not restarting ${r.site}: ${decision.reason}` } as const,
            ...(first
              ? [
                  {
                    kind: 'event',
                    type: 'Warning',
                    reason: 'RecycleCannotHelp',
                    message: `kube-recycler: ${decision.reason}`,
                  } as const,
                ]
              : []),
          ]
        : [{ kind: 'log', level: 'info', message: `skipped: ${decision.reason}` } as const]),
    ]
    if (last && last.state === 'skipped' && last.trigger.source === req.source && last.reasonKind === decision.why) {
      // The same refusal again (a flood of reports while the circuit is open): one record, counted.
      const record: RecycleRecord = { ...last, reason: decision.reason, repeats: (last.repeats ?? 1) + 1, lastAt: at }
      return { next: put(s, record), record, effects: effects(record, false) }
    }
    const record: RecycleRecord = {
      ...base,
      state: 'skipped',
      reason: decision.reason,
      reasonKind: decision.why,
      finishedAt: at,
      steps: [step(now, `skipped: ${decision.reason}`)],
    }
    return { next: put(s, record), record, effects: effects(record, true) }
  }
  const record: RecycleRecord = {
    ...base,
    steps: [step(now, `recycle requested by ${req.source}: ${base.trigger.reason}`)],
  }
  let next = req.source === 'operator' ? operatorRecycled(s) : s
  next = withStart(recycleStarted(put(next, record)), site, now)
  return {
    next,
    record,
    effects: [
      { kind: 'notify', event: 'recycle-requested', message: requestedWords(record) },
      { kind: 'log', level: 'info', message: `recycle requested: ${record.trigger.reason}` },
      { kind: 'hand-off' },
    ],
  }
}

/** The record `id` must be awaiting approval: else 404 (unknown) or 409 (already decided). */
function awaiting(s: SiteState, id: string, now: number): RecycleRecord {
  const r = findRecord(s, id)
  if (!r) throw Errors.notFound(`no recycle with id "${id}" on site "${s.site}"`)
  if (r.state !== 'awaiting-approval') throw Errors.conflict(`recycle ${id} is ${r.state}, not awaiting approval`)
  if (r.expiresAt !== undefined && Date.parse(r.expiresAt) <= now)
    throw Errors.conflict(`recycle ${id} expired at ${r.expiresAt}`)
  return r
}

/** Drops the reason fields of a record that goes on (approved, released). */
const goesOn = (r: RecycleRecord): RecycleRecord => {
  const { reason: _r, reasonKind: _k, ...rest } = r
  return rest
}

function review(s: SiteState, r: RecycleRecord, site: SiteConfig, now: number): Transition {
  if (r.state === 'awaiting-approval' && s.health === 'healthy') {
    // Nothing left to approve: a restart of a healthy site (a resolved alert, a passing report) helps nobody.
    const record: RecycleRecord = {
      ...r,
      state: 'expired',
      finishedAt: iso(now),
      reason: 'the site recovered before an operator approved',
      reasonKind: 'not-needed',
      steps: [...r.steps, step(now, 'not needed: the site recovered before an operator approved')],
    }
    return {
      next: recycleFinished(put(s, record), false),
      record,
      effects: [
        { kind: 'log', level: 'info', message: 'not needed: the site recovered before an operator approved' },
        { kind: 'notify', event: 'recycle-expired', message: record.reason! },
      ],
    }
  }
  if (r.state === 'awaiting-approval' && r.expiresAt !== undefined && Date.parse(r.expiresAt) <= now) {
    const record: RecycleRecord = {
      ...r,
      state: 'expired',
      finishedAt: iso(now),
      reason: `not approved before ${r.expiresAt}`,
      reasonKind: 'expired',
      steps: [...r.steps, step(now, `expired: not approved before ${r.expiresAt}`)],
    }
    return {
      next: recycleFinished(put(s, record), false),
      record,
      effects: [
        { kind: 'log', level: 'info', message: `expired: not approved before ${r.expiresAt}` },
        { kind: 'notify', event: 'recycle-expired', message: record.reason! },
      ],
    }
  }
  if (r.state !== 'waiting') return refuse('moved-on', r)
  if (s.health !== 'failing') {
    const record: RecycleRecord = {
      ...r,
      state: 'expired',
      finishedAt: iso(now),
      reason: 'the site recovered before a recycle window opened',
      reasonKind: 'not-needed',
      steps: [...r.steps, step(now, 'not needed: the site recovered before a recycle window opened')],
    }
    return {
      next: recycleFinished(put(s, record), false),
      record,
      effects: [
        { kind: 'log', level: 'info', message: 'not needed: the site recovered before a recycle window opened' },
        { kind: 'notify', event: 'recycle-expired', message: record.reason! },
      ],
    }
  }
  const open = windowsAt(site.recycleWindows, now).open
  if (!open || activePause(s.servicePause, now) || activePause(s.pause, now)) return refuse('moved-on', r)
  const message = `a recycle window is open (until ${open.until}) and the site still fails: released`
  const record: RecycleRecord = {
    ...goesOn(r),
    state: 'pending',
    startAt: iso(now),
    steps: [...r.steps, step(now, message)],
  }
  return {
    next: withStart(put(s, record), site, now),
    record,
    effects: [{ kind: 'log', level: 'info', message }, { kind: 'hand-off' }],
  }
}

/**
 * A pending record is decided again when it is claimed: it may have been
 * written by anyone who can write the state (a forged record), or long ago,
 * or before a pause. Its own start and itself are left out, so a record the
 * service wrote a moment ago passes exactly as it passed when requested.
 */
export function reconsider(
  s: SiteState,
  r: RecycleRecord,
  site: SiteConfig,
  now: number,
): { why: ReasonKind; reason: string } | undefined {
  const problem = recordProblem(r, site)
  if (problem) return { why: 'invalid', reason: `not a valid recycle: ${problem}` }
  const own = r.startAt ?? r.createdAt
  const age = now - Date.parse(own)
  const keep = Math.max(site.recycle.windowMs, site.recycle.cooldownMs)
  if (!(age >= -60_000)) return { why: 'invalid', reason: `not a valid recycle: it starts in the future (${own})` }
  if (!(age < keep) || !s.starts.includes(own)) {
    return {
      why: 'stale',
      reason: `stale: pending since ${own} and no longer counted by the cooldown or the circuit breaker; a new failure asks again`,
    }
  }
  const others: SiteState = { ...withoutStart(s, own), recycles: s.recycles.filter((x) => x.id !== r.id) }
  const d = decide(others, site, { source: r.trigger.source, dryRun: false }, now)
  if (d.kind === 'run') return undefined
  if (d.kind === 'await' && r.approval?.decision === 'approved') return undefined
  return { why: d.why, reason: d.reason }
}

function claim(s: SiteState, r: RecycleRecord, e: Extract<LifecycleEvent, { type: 'claim' }>, now: number): Transition {
  if (r.state !== 'pending' || r.dryRun) return refuse('moved-on', r)
  const no = reconsider(s, r, e.site, now)
  if (no) {
    const record: RecycleRecord = {
      ...r,
      state: 'skipped',
      reason: no.reason,
      reasonKind: no.why,
      finishedAt: iso(now),
      steps: [...r.steps, step(now, `skipped when claimed: ${no.reason}`)],
    }
    const next = recycleFinished(withoutStart(put(s, record), r.startAt ?? r.createdAt), false)
    return {
      next,
      record,
      effects: [
        { kind: 'log', level: 'warn', message: `not running recycle ${r.id}: ${no.reason}` },
        { kind: 'count', outcome: 'skipped' },
      ],
    }
  }
  const message = `started by ${e.by}`
  const record: RecycleRecord = { ...r, state: 'running', holder: e.by, steps: [...r.steps, step(now, message)] }
  return { next: put(s, record), record, effects: [{ kind: 'log', level: 'info', message }] }
}

function outcome(
  s: SiteState,
  r: RecycleRecord,
  e: Extract<LifecycleEvent, { type: 'outcome' }>,
  now: number,
): Transition {
  const o = e.outcome
  const ran = o.state !== 'skipped'
  // A failed rollout whose revision before was restored (and is Ready) is
  // `rolled-back`; one whose canary pod failed is `canary-failed` (undone,
  // and counted by the circuit breaker as any recycle that ran).
  const state: RecycleRecord['state'] =
    o.state === 'failed' && o.canary && !o.canary.passed
      ? 'canary-failed'
      : o.state === 'failed' && o.rolledBack === true
        ? 'rolled-back'
        : o.state
  // The outcome, once: the rollout judge has often just said the same words.
  const last = o.state === 'succeeded' ? o.message : `${state}: ${o.reason}`
  const steps = e.trail.steps.at(-1)?.message === last ? e.trail.steps : [...e.trail.steps, step(now, last)]
  const { commit: _c, ...rest } = withTrail(r, { ...e.trail, steps })
  const record: RecycleRecord = {
    ...rest,
    ...(e.commit !== undefined ? { commit: e.commit } : {}),
    state,
    ...('revisionBefore' in o && o.revisionBefore !== undefined ? { revisionBefore: o.revisionBefore } : {}),
    ...(o.state === 'succeeded' && o.commitBefore !== undefined ? { commitBefore: o.commitBefore } : {}),
    finishedAt: iso(now),
    ...(o.state !== 'succeeded'
      ? {
          reason: o.reason,
          reasonKind: o.state === 'skipped' ? (o.why ?? 'not-acted') : state === 'canary-failed' ? state : 'failed',
        }
      : {}),
    ...(o.state !== 'skipped' && o.canary ? { canary: o.canary } : {}),
    ...(e.willVerify ? { verification: 'pending' as const } : {}),
    // The ladder's last rung; a rollout undone at once is the rollback rung after it.
    ...(e.rung
      ? {
          rungs: [
            ...(r.rungs ?? []),
            e.rung,
            ...(state === 'rolled-back'
              ? [{ rung: 'rollback' as const, at: iso(now), outcome: 'succeeded' as const }]
              : []),
          ],
        }
      : {}),
  }
  let next = put(s, record)
  if (!ran) next = withoutStart(next, r.startAt ?? r.createdAt)
  // A recycle being verified still holds its failure episode, so a cron
  // tick during the verification cannot count the failure again.
  if (!e.willVerify) next = recycleFinished(next, ran)
  const effects: Effect[] = [{ kind: 'log', level: 'info', message: `recycle ${state}` }]
  if (o.state === 'succeeded') effects.push({ kind: 'notify', event: 'recycle-succeeded', message: o.message })
  else if (o.state === 'failed')
    effects.push({
      kind: 'notify',
      event: state === 'rolled-back' ? 'recycle-rolled-back' : 'recycle-failed',
      message: o.reason,
    })

  effects.push(
    { kind: 'count', outcome: state as CountedOutcome },
    { kind: 'duration', seconds: (now - Date.parse(r.createdAt)) / 1000 },
    { kind: 'finished' },
  )
  return { next, record, effects }
}

/**
 * A rung ended without healing and the next one starts, within the same
 * recycle (one lock, one record). The next rung disrupts pods again, so the
 * circuit breaker counts it as a start of its own: a site whose ladder keeps
 * climbing opens the circuit sooner, never later.
 */
function climb(s: SiteState, r: RecycleRecord, e: Extract<LifecycleEvent, { type: 'rung' }>, now: number): Transition {
  const g = e.rung
  const message = `${g.rung} ${g.outcome}${g.reason ? `: ${g.reason}` : ''}; escalating to ${e.next}`
  // A rung that ended as succeeded but whose verification failed is that same rung, now failed: replaced, not repeated.
  const { verification: _v, finishedAt: _f, ...open } = r
  const record: RecycleRecord = {
    ...withTrail(open, { ...e.trail, steps: [...e.trail.steps, step(now, message)] }),
    state: 'running',
    rungs: [...(r.rungs ?? []).filter((x) => !(x.rung === g.rung && x.at === g.at)), g],
  }
  const acted = g.outcome !== 'skipped'
  return {
    next: acted ? withStart(put(s, record), e.site, now) : put(s, record),
    record,
    effects: [
      { kind: 'log', level: 'warn', message },
      {
        kind: 'event',
        type: acted ? 'Warning' : 'Normal',
        reason: 'RecycleEscalated',
        message: `kube-recycler ${r.id}: ${message}`,
      },
    ],
  }
}

function verifiedIt(s: SiteState, r: RecycleRecord, e: Extract<LifecycleEvent, { type: 'verified' }>): Transition {
  const record: RecycleRecord = {
    ...withTrail(r, e.trail),
    verification: e.ok ? 'recovered' : 'recycle-did-not-help',
    // Still failing after the last rung: the ladder stops here, and says so.
    ...(!e.ok && r.rungs
      ? {
          rungs: [
            ...r.rungs,
            { rung: 'stop' as const, at: e.verdict.at, outcome: 'failed' as const, reason: e.message },
          ],
        }
      : {}),
  }
  const next = recycleFinished(verified({ ...put(s, record), lastVerdict: boundVerdict(e.verdict) }, e.ok), true)
  const effects: Effect[] = e.ok
    ? [
        { kind: 'log', level: 'info', message: e.message },
        {
          kind: 'event',
          type: 'Normal',
          reason: 'RecycleVerified',
          message: `kube-recycler ${r.id}: the site is healthy again (${e.verdict.summary})`,
        },
      ]
    : [
        { kind: 'log', level: 'error', message: e.message },
        { kind: 'count', outcome: 'did-not-help' },
        { kind: 'notify', event: 'recycle-did-not-help', message: e.message },
        { kind: 'event', type: 'Warning', reason: 'RecycleDidNotHelp', message: e.message },
      ]
  return { next, record, effects: [...effects, { kind: 'finished' }] }
}

/**
 * One event on the record `id` of the site's state `s` at `now`. Throws the
 * operator's errors (approve/reject of an unknown or decided record); every
 * other refusal is `refused`, with nothing to write.
 */
export function transition(s: SiteState, id: string, event: LifecycleEvent, now: number): Transition {
  if (event.type === 'request') return request(s, id, event, now)
  if (event.type === 'approve') {
    const r = awaiting(s, id, now)
    const at = iso(now)
    const { actor } = event
    const record: RecycleRecord = {
      ...goesOn(r),
      state: 'pending',
      startAt: at,
      approval: {
        decision: 'approved',
        by: clip(actor.by, 100),
        at,
        ...(actor.reason ? { reason: clip(actor.reason) } : {}),
      },
      steps: [...r.steps, step(now, `approved by ${actor.by}${actor.reason ? `: ${actor.reason}` : ''}`)],
    }
    return {
      next: withStart(put(s, record), event.site, now),
      record,
      effects: [
        { kind: 'log', level: 'warn', message: `recycle ${id} approved by ${actor.by}` },
        {
          kind: 'notify',
          event: 'recycle-approved',
          by: actor.by,
          message: `recycle of ${r.target} approved by ${actor.by}`,
        },
        { kind: 'notify', event: 'recycle-requested', message: requestedWords(record) },
        { kind: 'hand-off' },
      ],
    }
  }
  if (event.type === 'reject') {
    const r = awaiting(s, id, now)
    const at = iso(now)
    const { actor } = event
    const reason = `rejected by ${actor.by}${actor.reason ? `: ${actor.reason}` : ''}`
    const record: RecycleRecord = {
      ...r,
      state: 'rejected',
      finishedAt: at,
      reason,
      reasonKind: 'rejected',
      approval: {
        decision: 'rejected',
        by: clip(actor.by, 100),
        at,
        ...(actor.reason ? { reason: clip(actor.reason) } : {}),
      },
      steps: [...r.steps, step(now, reason)],
    }
    return {
      next: recycleFinished(put(s, record), false),
      record,
      effects: [
        { kind: 'log', level: 'warn', message: `recycle ${id} ${reason}` },
        { kind: 'notify', event: 'recycle-rejected', by: actor.by, message: reason },
      ],
    }
  }
  const r = findRecord(s, id)
  if (!r) return refuse('gone')
  switch (event.type) {
    case 'plan':
      return {
        next: put(s, { ...r, plan: event.plan, steps: [...r.steps, step(now, `plan: ${event.plan.why}`)] }),
        effects: [],
      }
    case 'plan-failed':
      return {
        next: put(s, {
          ...r,
          reason: event.why,
          reasonKind: 'plan-failed',
          steps: [...r.steps, step(now, `plan failed: ${event.why}`)],
        }),
        effects: [],
      }
    case 'review':
      return review(s, r, event.site, now)
    case 'claim':
      return claim(s, r, event, now)
    case 'adopt': {
      if (r.state !== 'running') return refuse('moved-on', r)
      const message = `adopted by ${event.by}: the replica that ran it${r.holder ? ` (${r.holder})` : ''} is gone; watching it to its end, never starting it again`
      const record: RecycleRecord = { ...r, holder: event.by, steps: [...r.steps, step(now, message)] }
      return { next: put(s, record), record, effects: [{ kind: 'log', level: 'info', message }] }
    }
    case 'take-verification': {
      if (r.verification !== 'pending') return refuse('moved-on', r)
      const record: RecycleRecord = {
        ...r,
        holder: event.by,
        steps: [...r.steps, step(now, `verification taken over by ${event.by}`)],
      }
      return { next: put(s, record), record, effects: [] }
    }
  }
  // From here on the record is this replica's, or nothing is written.
  if (r.holder !== event.by) return refuse('not-holder', r)
  switch (event.type) {
    case 'steps':
      if (r.state !== 'running') return refuse('moved-on', r)
      {
        const record = withTrail(r, event.trail)
        return { next: put(s, record), record, effects: [] }
      }
    case 'outcome':
      if (r.state !== 'running') return refuse('moved-on', r)
      return outcome(s, r, event, now)
    case 'rung':
      // Running, or verifying a replace-pods that did not heal the site.
      if (r.state !== 'running' && !(r.state === 'succeeded' && r.verification === 'pending'))
        return refuse('moved-on', r)
      return climb(s, r, event, now)
    case 'rolled-back': {
      if (r.verification !== 'pending') return refuse('moved-on', r)
      const record: RecycleRecord = {
        ...withTrail(r, event.trail),
        state: 'rolled-back',
        ...(r.rungs
          ? { rungs: [...r.rungs, { rung: 'rollback' as const, at: iso(now), outcome: 'succeeded' as const }] }
          : {}),
      }
      return {
        next: put(s, record),
        record,
        effects: [
          { kind: 'count', outcome: 'rolled-back' },
          { kind: 'notify', event: 'recycle-rolled-back', message: event.message },
          { kind: 'log', level: 'warn', message: `rolled back: ${event.message}` },
        ],
      }
    }
    case 'verified':
      if (r.verification !== 'pending') return refuse('moved-on', r)
      return verifiedIt(s, r, event)
  }
}

/** The records of a site the leader's review may change (an approval past its time, a waiting one). */
export const hasWaiting = (s: SiteState): boolean =>
  s.recycles.some((r) => r.state === 'waiting' || r.state === 'awaiting-approval')

/** Closes the circuit and lifts the did-not-help stop; the pods are not touched. */
export function resetSite(s: SiteState, actor: Actor, now: number): SiteState {
  return {
    ...operatorRecycled(s),
    lastReset: { by: clip(actor.by, 100), at: iso(now), ...(actor.reason ? { reason: clip(actor.reason) } : {}) },
  }
}
