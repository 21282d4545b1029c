// The runner: the one replica that leads runs the recycles the service has
// decided on. It watches the stored site states: a `pending` record is
// claimed (pending → running, with this replica as holder, in one
// conditional write: two leaders cannot both claim it; the claim decides the
// record again, so a forged or stale one is skipped) and run through the
// Executor; a `running` record that no process here runs was left by a
// replica that is gone (SIGKILL, node loss, a rolling update): it is adopted,
// watched to its end through the Executor, never started again; a recycle
// whose verification was cut short is verified again. A replica that stops
// leading lets go of what it runs, without writing an outcome, and the next
// leader adopts it. Every write is a lifecycle transition (lifecycle.ts):
// run, store.update(s => transition(...)), perform its effects.

import type { Logger } from 'pino'
import { abortableSleep, type Clock } from '../clock.ts'
import type { Config, SiteConfig, StrategyName } from '../config/types.ts'
import { isAppError } from '../errors.ts'
import type { Verdict } from '../health/verdict.ts'
import { boundRecord } from '../state/bounds.ts'
import { step } from '../state/records.ts'
import type { PodResult, PodsResult, RecycleRecord, RungRecord } from '../state/schema.ts'
import type { PodState } from '../kube/types.ts'
import type { StateStore } from '../state/store.ts'
import type { Metrics } from '../status/metrics.ts'
import type { Notifier } from '../notify/types.ts'
import { staleToAnnounce } from '../health/deadman.ts'
import { review } from './control.ts'
import { createEffects, type Local } from './effects.ts'
import type { Executor, RunOutcome } from './executor.ts'
import { hasWaiting, transition, type LifecycleEvent, type Trail, type Transition } from './lifecycle.ts'
import { pinCommit } from './pin.ts'
import { ladderFor, replaceDecision } from './ladder.ts'

export interface CommitResolver {
  /** Newest commit of the site's production branch. Throws Errors.git. */
  headCommit(site: SiteConfig): Promise<string>
}

/** Probes a site once, outside the schedule (the verification after a recycle). */
export interface Verifier {
  probe(site: SiteConfig): Promise<Verdict>
  /** The per-pod checks against every Ready pod now (the ladder decides from it); undefined: the site has none. */
  probePods?(site: SiteConfig): Promise<PodsResult | undefined>
  /** The per-pod checks against one pod (a replacement, on its own IP); `error`: it cannot be probed. */
  probePod?(site: SiteConfig, pod: PodState): Promise<PodResult | { error: string }>
}

export interface Runner {
  start(): void
  /** Looks at one site's records now (after a write, or a change seen by the watch). */
  kick(site: string): void
  busy(): boolean
  idle(): Promise<void>
  close(): Promise<void>
}

export interface RunnerOptions {
  config: Config
  store: StateStore
  executor: Executor
  commits?: CommitResolver
  verifier?: Verifier
  clock: Clock
  logger: Logger
  metrics: Metrics
  /** This replica's name, as the Lease knows it. */
  identity: string
  /** True while this replica holds the Lease and its store is ready. */
  isLeader: () => boolean
  onFinished?: (site: SiteConfig) => void
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** How often the runner looks for work and for a lost lease. */
  sweepEveryMs?: number
  /** Steps of a running recycle reach the store at most this often. */
  flushEveryMs?: number
  /** Outcomes are announced from here: only the leader runs, so once per service. */
  notifier?: Notifier
}

type Mode = 'claim' | 'adopt' | 'verify'

/** Steps a running recycle keeps in memory before they are bounded as the store keeps them. */
const MAX_LIVE_STEPS = 100

export function createRunner(opts: RunnerOptions): Runner {
  const { store, executor, clock, identity } = opts
  const log = opts.logger.child({ component: 'recycle', identity })
  const sites = new Map(opts.config.sites.map((s) => [s.name, s]))
  const sleep = opts.sleep ?? abortableSleep
  const local = new Map<string, { abort: AbortController; done: Promise<void> }>()
  const stopAll = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const reviewing = new Set<string>()
  const perform = createEffects({
    logger: log,
    metrics: opts.metrics,
    sites,
    executor,
    ...(opts.notifier ? { notifier: opts.notifier } : {}),
  })
  const here: Local = { finished: (site) => opts.onFinished?.(site), handOff: (r) => kick(r.site) }

  /**
   * One transition of record `id`, written. The answer is what the written
   * change decided: after a 409 the store applies the transition again to
   * what the other replica wrote, and only that last answer counts.
   */
  function apply(site: string, id: string, event: LifecycleEvent): Promise<Transition> {
    return store.update(site, (s) => {
      const t = transition(s, id, event, clock.now())
      return t.next ? { next: t.next, result: t } : { result: t }
    })
  }

  /**
   * Approvals past their time and window-waiting requests (review() decides,
   * purely); written only when something changes. The write's own change
   * event kicks the site again, and a released record is claimed.
   */
  function reviewSite(site: SiteConfig): void {
    if (reviewing.has(site.name) || !review(store.get(site.name), site, clock.now())) return
    reviewing.add(site.name)
    void store
      .update(site.name, (s) => {
        const r = review(s, site, clock.now())
        return r ? { next: r.next, result: r } : { result: undefined }
      })
      .then(
        async (done) => {
          for (const [i, r] of (done?.changed ?? []).entries()) await perform(r, done!.effects[i]!, here)
        },
        (e: unknown) =>
          log.warn(
            { site: site.name, code: isAppError(e) ? e.code : undefined },
            'could not review the waiting recycles; the next sweep tries again',
          ),
      )
      .finally(() => reviewing.delete(site.name))
  }

  function kick(name: string): void {
    if (stopped || !opts.isLeader()) return
    const site = sites.get(name)
    if (!site) return
    if (hasWaiting(store.get(name))) reviewSite(site)
    for (const r of store.get(name).recycles) {
      if (r.dryRun || local.has(r.id)) continue
      if (r.state === 'pending') launch(site, r, 'claim')
      else if (r.state === 'running') launch(site, r, 'adopt')
      else if (r.verification === 'pending') launch(site, r, 'verify')
    }
  }

  function launch(site: SiteConfig, r: RecycleRecord, mode: Mode): void {
    const abort = new AbortController()
    const onStop = (): void => abort.abort()
    stopAll.signal.addEventListener('abort', onStop, { once: true })
    const done = work(site, r, mode, abort)
      .catch((e: unknown) =>
        log.error({ site: site.name, recycle: r.id, err: e }, 'recycle bookkeeping failed; the next sweep tries again'),
      )
      .finally(() => {
        stopAll.signal.removeEventListener('abort', onStop)
        local.delete(r.id)
      })
    local.set(r.id, { abort, done })
  }

  async function work(site: SiteConfig, r: RecycleRecord, mode: Mode, abort: AbortController): Promise<void> {
    const event: LifecycleEvent =
      mode === 'claim'
        ? { type: 'claim', site, by: identity }
        : mode === 'adopt'
          ? { type: 'adopt', by: identity }
          : { type: 'take-verification', by: identity }
    const t = await apply(site.name, r.id, event)
    if (!t.next || !t.record) {
      // Another replica claimed it first (the 409's re-read says so), or it moved on.
      if (t.refused !== 'gone')
        log.info(
          { site: site.name, recycle: r.id, mode, refused: t.refused, holder: t.record?.holder },
          `not taking recycle ${r.id}: ${t.refused}`,
        )
      return
    }
    await perform(t.record, t.effects, here)
    if (mode === 'verify') return verify(site, t.record, abort.signal)
    // Decided again at the claim and skipped: nothing to run.
    if (t.record.state !== 'running') return
    await execute(site, t.record, mode, abort)
  }

  /**
   * The ladder of repairs (ladder.ts): replace-pods first when the site's
   * ladder starts with it, decided on a per-pod probe taken now; a rung that
   * ends without healing is written (lifecycle 'rung') before the next one
   * starts. The outcome is the last rung's, with that rung; undefined when
   * the record is no longer this replica's (nothing more is done).
   */
  async function climbLadder(
    site: SiteConfig,
    live: RecycleRecord,
    commit: string | undefined,
    say: (m: string) => void,
    signal: AbortSignal,
    trail: () => Trail,
    from: number,
  ): Promise<{ outcome: RunOutcome; rung?: RungRecord } | undefined> {
    const ladder = ladderFor(site, live.strategy)
    const rungOf = (rung: RungRecord['rung'], at: number, o: RunOutcome, pods?: string[]): RungRecord => ({
      rung,
      at: new Date(at).toISOString(),
      outcome: o.state,
      ...(pods ? { pods } : {}),
      ...(o.state === 'succeeded' ? {} : { reason: o.reason }),
    })
    let next = Math.min(from, ladder.length - 1)
    if (next === 0 && ladder[0] === 'replace-pods') {
      const at = clock.now()
      const decision = replaceDecision(opts.verifier?.probePods ? await opts.verifier.probePods(site) : undefined)
      let ended: RunOutcome
      if ('skip' in decision) {
        // Said by the lifecycle with the escalation (or by the outcome, when no rung is left).
        ended = { state: 'skipped', reason: decision.skip, why: 'not-acted' }
      } else {
        ended = await executor.run({
          record: live,
          site,
          strategy: live.strategy,
          step: say,
          signal,
          replace: { pods: decision.replace, probe: (p) => opts.verifier!.probePod!(site, p) },
        })
      }
      const rung = rungOf('replace-pods', at, ended, 'replace' in decision ? decision.replace : undefined)
      // Healed (or stopped short for a reason of its own: cooldown, lock), or no rung left: this is the end.
      const escalate = ('skip' in decision || ended.state === 'failed') && ladder.length > 1 && !signal.aborted
      if (!escalate) return { outcome: ended, rung }
      const t = await apply(site.name, live.id, {
        type: 'rung',
        by: identity,
        rung,
        next: ladder[1]!,
        site,
        trail: trail(),
      })
      if (!t.next || !t.record) {
        log.warn(
          { site: site.name, recycle: live.id, refused: t.refused },
          "the record is no longer this replica's: the ladder stops here",
        )
        return undefined
      }
      live.steps = [...t.record.steps]
      if (t.record.stepsLeftOut) live.stepsLeftOut = t.record.stepsLeftOut
      await perform(t.record, t.effects, here)
      next = 1
    }
    const rung = ladder[next]!
    const strategy: StrategyName = rung === 'replace-pods' ? live.strategy : rung
    const at = clock.now()
    const outcome = await executor.run({
      record: live,
      site,
      strategy,
      ...(commit !== undefined ? { commit } : {}),
      step: say,
      signal,
    })
    return { outcome, ...(ladder.length > 1 ? { rung: rungOf(strategy, at, outcome) } : {}) }
  }

  async function execute(
    site: SiteConfig,
    rec: RecycleRecord,
    mode: Mode,
    abort: AbortController,
    fromRung = 0,
  ): Promise<void> {
    const signal = abort.signal
    const live: RecycleRecord = { ...rec, steps: [...rec.steps] }
    const trail = (): Trail => ({
      steps: [...live.steps],
      ...(live.stepsLeftOut ? { leftOut: live.stepsLeftOut } : {}),
    })
    let flushed = clock.now()
    let flushing: Promise<unknown> | undefined
    const flush = (): void => {
      if (flushing || clock.now() - flushed < (opts.flushEveryMs ?? 5000)) return
      flushed = clock.now()
      flushing = apply(site.name, live.id, { type: 'steps', by: identity, trail: trail() })
        .then(
          (t) => {
            // The record is no longer ours (adopted by the next leader): stop acting on it.
            if (t.refused === 'not-holder') {
              log.warn(
                { site: site.name, recycle: live.id, holder: t.record?.holder },
                'another replica holds this recycle now; letting go of it',
              )
              abort.abort()
            }
          },
          () => undefined,
        )
        .finally(() => {
          flushing = undefined
        })
    }
    const say = (m: string, fields: Record<string, unknown> = {}): void => {
      live.steps.push(step(clock.now(), m))
      // Bounded here as the store bounds them: an evict a PodDisruptionBudget
      // holds says something every few seconds for its whole timeout.
      if (live.steps.length > MAX_LIVE_STEPS) Object.assign(live, boundRecord(live))
      log.info({ site: site.name, recycle: live.id, workload: live.target, ...fields }, m)
      flush()
    }
    let outcome: RunOutcome
    let lastRung: RungRecord | undefined
    try {
      if (mode === 'adopt') {
        outcome = !executor.resume
          ? { state: 'failed', reason: 'this replica cannot adopt a recycle (no cluster)' }
          : await executor.resume(
              {
                record: live,
                site,
                strategy: live.strategy,
                ...(live.commit ? { commit: live.commit } : {}),
                step: say,
                signal,
              },
              {
                id: live.id,
                at: live.createdAt,
                strategy: live.strategy,
                reason: live.trigger.reason,
                trigger: live.trigger.source,
                ...(live.trigger.key ? { key: live.trigger.key } : {}),
                ...(live.commit ? { commit: live.commit } : {}),
              },
            )
      } else {
        // The commit to pin (recycle/pin.ts): the production head; else an
        // operator's explicit commit; a Jenkins payload's commit only when
        // the site says it is the site's own (jenkins.commitIsSite).
        const asked = live.commit
        let head: string | undefined
        let gitSkip: string | undefined
        let unpinned = false
        if (site.git && opts.commits) {
          try {
            head = await opts.commits.headCommit(site)
            say(`production head of ${site.git.branch} is ${head.slice(0, 12)}`, { commit: head })
          } catch (e) {
            const why = isAppError(e) ? e.message : 'the git remote could not be read'
            if (site.recycle.onGitError === 'skip') gitSkip = `git: ${why}`
            else {
              unpinned = true
              say(`git: ${why}; recycling unpinned (onGitError: recycle-unpinned)`)
            }
          }
        }
        const commit = unpinned
          ? undefined
          : live.trigger.source === 'operator'
            ? (head ?? asked)
            : pinCommit(site, {
                ...(head !== undefined ? { head } : {}),
                ...(asked !== undefined ? { payloadCommit: asked } : {}),
              })
        if (!unpinned && head === undefined && asked !== undefined && commit === undefined) {
          say(
            `not pinning ${asked.slice(0, 12)}: a Jenkins payload's commit is the job's repository, not the site's (set jenkins.commitIsSite: true if it is)`,
          )
        }
        if (commit !== undefined) live.commit = commit
        else delete live.commit
        if (gitSkip !== undefined) outcome = { state: 'skipped', reason: gitSkip, why: 'git' }
        else {
          const climbed = await climbLadder(site, live, commit, say, signal, trail, fromRung)
          if (climbed === undefined) return
          ;({ outcome, rung: lastRung } = climbed)
          if (lastRung?.rung === 'replace-pods') delete live.commit
        }
      }
    } catch (e) {
      const reason = isAppError(e) ? e.message : 'unexpected error (see the log)'
      log.error({ site: site.name, recycle: live.id, err: e }, 'recycle failed')
      outcome = { state: 'failed', reason }
    }
    await flushing
    if (signal.aborted) {
      // Shutting down, or no longer the leader: the record stays `running`
      // in the store and the next leader adopts it.
      log.warn(
        { site: site.name, recycle: live.id },
        'stopped while a recycle was in flight; the next leader adopts it',
      )
      return
    }
    const willVerify = outcome.state === 'succeeded' && opts.verifier !== undefined && site.checks.length > 0
    const t = await apply(site.name, live.id, {
      type: 'outcome',
      by: identity,
      outcome,
      trail: trail(),
      commit: live.commit,
      willVerify,
      ...(lastRung ? { rung: lastRung } : {}),
    })
    if (!t.next || !t.record) {
      log.warn(
        { site: site.name, recycle: live.id, refused: t.refused, holder: t.record?.holder },
        "the record is no longer this replica's: its outcome is not written over the holder's",
      )
      return
    }
    await perform(t.record, t.effects, here)
    if (willVerify) await verify(site, t.record, signal)
  }

  /** Probes the site `attempts` times, `interval` apart, after `delay`; the last verdict (undefined when stopped). */
  async function probeUntilOk(
    site: SiteConfig,
    say: (m: string) => void,
    signal: AbortSignal,
  ): Promise<Verdict | undefined> {
    const { delayMs, attempts, intervalMs } = site.recycle.verify
    await sleep(delayMs, signal)
    let last: Verdict | undefined
    for (let i = 0; i < attempts && !signal.aborted; i++) {
      if (i > 0) await sleep(intervalMs, signal)
      if (signal.aborted) break
      last = await opts.verifier!.probe(site)
      if (last.ok) break
      say(`verification ${i + 1}/${attempts}: still failing: ${last.summary}`)
    }
    return signal.aborted ? undefined : last
  }

  /**
   * Still failing after a rollout that pinned a new commit: the revision
   * before it may be the healthy one. Restored once (recycle.rollback: auto),
   * then the site is verified again. Not when the pin did not change: the
   * revision before runs the same code.
   */
  function mayRollBack(site: SiteConfig, rec: RecycleRecord): boolean {
    return (
      site.recycle.rollback === 'auto' &&
      rec.strategy === 'rollout' &&
      rec.state === 'succeeded' &&
      executor.rollBack !== undefined &&
      rec.revisionBefore !== undefined &&
      rec.commit !== undefined &&
      rec.commit !== rec.commitBefore
    )
  }

  /**
   * The site is probed again after a recycle. Still failing on the new pods:
   * restarting again would loop, so automatic recycles stop for this site
   * until it recovers or an operator acts; said in an Event and a loud log line.
   */
  async function verify(site: SiteConfig, rec: RecycleRecord, signal: AbortSignal): Promise<void> {
    const { delayMs, attempts } = site.recycle.verify
    const steps = [...rec.steps]
    const trail = (): Trail => ({ steps: [...steps], ...(rec.stepsLeftOut ? { leftOut: rec.stepsLeftOut } : {}) })
    const say = (m: string): void => {
      steps.push(step(clock.now(), m))
    }
    say(`verifying: probing ${site.name} again in ${Math.round(delayMs / 1000)} s (up to ${attempts} tries)`)
    let last = await probeUntilOk(site, say, signal)
    if (!last) return
    if (!last.ok && mayRollBack(site, rec)) {
      const because = `still failing on ${rec.commit!.slice(0, 12)} after the rollout: ${last.summary}`
      const rolled = await executor.rollBack!(site, {
        toRevision: rec.revisionBefore!,
        because,
        recycleId: rec.id,
        step: say,
        signal,
      })
      if (signal.aborted) return
      if (rolled.state === 'succeeded') {
        say(
          `rolled-back: ${rolled.message}${rec.commitBefore ? ` (back on ${rec.commitBefore.slice(0, 12)})` : ''}; verifying again`,
        )
        const t = await apply(site.name, rec.id, {
          type: 'rolled-back',
          by: identity,
          trail: trail(),
          message: `${because}; ${rolled.message}`,
        })
        if (!t.next)
          return log.warn(
            { site: site.name, recycle: rec.id, refused: t.refused },
            "the record is no longer this replica's: the rollback is not written over the holder's",
          )
        await perform(t.record, t.effects, here)
        last = await probeUntilOk(site, say, signal)
        if (!last) return
      } else {
        say(`rollback failed: ${rolled.reason}`)
      }
    }
    // replace-pods healed the pods it replaced (each passed on its own IP)
    // but the site still fails: the ladder's next rung, under the same record.
    const ladder = ladderFor(site, rec.strategy)
    const replaced = rec.rungs?.at(-1)
    if (!last.ok && replaced?.rung === 'replace-pods' && ladder[0] === 'replace-pods' && ladder[1] !== undefined) {
      const t = await apply(site.name, rec.id, {
        type: 'rung',
        by: identity,
        rung: {
          ...replaced,
          outcome: 'failed',
          reason: `the site still fails after the replacements: ${last.summary}`,
        },
        next: ladder[1],
        site,
        trail: trail(),
      })
      if (!t.next || !t.record)
        return log.warn(
          { site: site.name, recycle: rec.id, refused: t.refused },
          "the record is no longer this replica's: the ladder stops here",
        )
      await perform(t.record, t.effects, here)
      const abort = new AbortController()
      const onStop = (): void => abort.abort()
      signal.addEventListener('abort', onStop, { once: true })
      try {
        return await execute(site, t.record, 'claim', abort, 1)
      } finally {
        signal.removeEventListener('abort', onStop)
      }
    }
    const ok = last.ok
    const message = ok
      ? `recovered: ${last.summary}`
      : `recycle-did-not-help: ${site.name} still fails after recycle ${rec.id}${rec.commit ? ` onto ${rec.commit.slice(0, 12)}` : ''}: ${last.summary}; automatic recycles stop until it recovers or an operator recycles it`
    say(message)
    const t = await apply(site.name, rec.id, {
      type: 'verified',
      by: identity,
      ok,
      verdict: last,
      trail: trail(),
      message,
    })
    if (!t.next)
      return log.warn(
        { site: site.name, recycle: rec.id, refused: t.refused },
        "the record is no longer this replica's: the verification is not written over the holder's",
      )
    await perform(t.record, t.effects, here)
  }

  /** Jenkins silent past expectEvery: said once per silence, by the leader, remembered in the state. */
  function announceStale(site: SiteConfig): void {
    if (
      !opts.notifier ||
      reviewing.has(`stale:${site.name}`) ||
      !staleToAnnounce(store.get(site.name), site, clock.now())
    )
      return
    reviewing.add(`stale:${site.name}`)
    void store
      .update(site.name, (s) => {
        const next = staleToAnnounce(s, site, clock.now())
        return next ? { next, result: next.staleNoticeFor } : { result: undefined }
      })
      .then(
        (from) => {
          if (from)
            opts.notifier?.notify({
              event: 'jenkins-stale',
              site: site.name,
              message: `no Jenkins report since ${from} (expected every ${Math.round(site.jenkins.expectEveryMs! / 60_000)} min)`,
            })
        },
        () => undefined,
      )
      .finally(() => reviewing.delete(`stale:${site.name}`))
  }

  function sweep(): void {
    if (stopped) return
    if (opts.isLeader()) {
      for (const [name, site] of sites) {
        kick(name)
        if (site.jenkins.expectEveryMs !== undefined) announceStale(site)
      }
      return
    }
    if (local.size > 0) {
      log.warn({ running: local.size }, 'no longer the leader: leaving the recycles in flight to the next leader')
      for (const { abort } of local.values()) abort.abort()
    }
  }

  return {
    start() {
      store.onChange((name) => kick(name))
      const every = opts.sweepEveryMs ?? 1000
      const loop = (): void => {
        timer = setTimeout(() => {
          sweep()
          loop()
        }, every)
      }
      sweep()
      loop()
    },
    kick,
    busy: () => local.size > 0,
    async idle() {
      while (local.size > 0) await Promise.allSettled([...local.values()].map((l) => l.done))
    },
    async close() {
      stopped = true
      clearTimeout(timer)
      stopAll.abort()
      while (local.size > 0) await Promise.allSettled([...local.values()].map((l) => l.done))
    },
  }
}
