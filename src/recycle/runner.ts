// The runner: the one replica that leads runs the recycles the service has
// decided on. It watches the stored site states: a `pending` record is
// claimed (pending → running, with this replica as holder, in one
// conditional write: two leaders cannot both claim it) and run through the
// Executor; a `running` record that no process here runs was left by a
// replica that is gone (SIGKILL, node loss, a rolling update): it is adopted,
// watched to its end through the Executor, never started again; a recycle
// whose verification was cut short is verified again. A replica that stops
// leading lets go of what it runs, without writing an outcome, and the next
// leader adopts it.

import type { Logger } from 'pino'
import { abortableSleep, type Clock } from '../clock.ts'
import type { Config, SiteConfig } from '../config/types.ts'
import { isAppError } from '../errors.ts'
import { recycleFinished, verified } from '../health/state.ts'
import type { Verdict } from '../health/verdict.ts'
import { boundVerdict } from '../state/bounds.ts'
import { findRecord, putRecord, step } from '../state/records.ts'
import type { RecycleRecord, SiteState } from '../state/schema.ts'
import type { StateStore } from '../state/store.ts'
import type { Metrics } from '../status/metrics.ts'
import type { Notifier } from '../notify/types.ts'
import { staleToAnnounce } from '../health/deadman.ts'
import { hasWaiting, review } from './control.ts'
import type { Executor, RunOutcome } from './executor.ts'
import { pinCommit } from './pin.ts'

export interface CommitResolver {
  /** Newest commit of the site's production branch. Throws Errors.git. */
  headCommit(site: SiteConfig): Promise<string>
}

/** Probes a site once, outside the schedule (the verification after a recycle). */
export interface Verifier {
  probe(site: SiteConfig): Promise<Verdict>
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

/** Removes one occurrence of `at` (a start that turned out not to act). */
const withoutStart = (s: SiteState, at: string): SiteState => {
  const i = s.starts.indexOf(at)
  return i < 0 ? s : { ...s, starts: [...s.starts.slice(0, i), ...s.starts.slice(i + 1)] }
}

export function createRunner(opts: RunnerOptions): Runner {
  const { store, executor, clock, metrics, identity } = opts
  const log = opts.logger.child({ component: 'recycle', identity })
  const sites = new Map(opts.config.sites.map((s) => [s.name, s]))
  const sleep = opts.sleep ?? abortableSleep
  const local = new Map<string, { abort: AbortController; done: Promise<void> }>()
  const stopAll = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const reviewing = new Set<string>()
  const notice = (r: RecycleRecord, event: Parameters<Notifier['notify']>[0]['event'], message: string): void =>
    opts.notifier?.notify({ event, site: r.site, message, recycle: { id: r.id, state: r.state, url: `/recycles/${r.id}` } })

  /**
   * Approvals past their time and window-waiting requests (review() decides,
   * purely); written only when something changes. The write's own change
   * event kicks the site again, and a released record is claimed.
   */
  function reviewSite(site: SiteConfig): void {
    if (reviewing.has(site.name) || !review(store.get(site.name), site, clock.now())) return
    reviewing.add(site.name)
    void store.update(site.name, (s) => {
      const r = review(s, site, clock.now())
      return r ? { next: r.next, result: r.changed } : { result: [] }
    }).then((changed) => {
      for (const r of changed) {
        log.info({ site: site.name, recycle: r.id, state: r.state }, r.steps.at(-1)?.message ?? r.state)
        if (r.state === 'expired') notice(r, 'recycle-expired', r.reason ?? 'expired')
      }
    }, (e: unknown) => log.warn({ site: site.name, code: isAppError(e) ? e.code : undefined }, 'could not review the waiting recycles; the next sweep tries again'))
      .finally(() => reviewing.delete(site.name))
  }

  /** Writes a change to one record; `undefined` when the record is gone or `when` refuses. */
  function updateRecord(site: string, id: string, change: (r: RecycleRecord, s: SiteState) => SiteState | undefined): Promise<boolean> {
    return store.update(site, (s) => {
      const cur = findRecord(s, id)
      const next = cur ? change(cur, s) : undefined
      return next ? { next, result: true } : { result: false }
    })
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
    const done = work(site, r, mode, abort.signal)
      .catch((e: unknown) => log.error({ site: site.name, recycle: r.id, err: e }, 'recycle bookkeeping failed; the next sweep tries again'))
      .finally(() => {
        stopAll.signal.removeEventListener('abort', onStop)
        local.delete(r.id)
      })
    local.set(r.id, { abort, done })
  }

  async function work(site: SiteConfig, r: RecycleRecord, mode: Mode, signal: AbortSignal): Promise<void> {
    if (mode === 'verify') {
      const took = await updateRecord(site.name, r.id, (cur, s) => (cur.verification === 'pending' ? putRecord(s, { ...cur, holder: identity, steps: [...cur.steps, step(clock.now(), `verification taken over by ${identity}`)] }) : undefined))
      if (took) await verify(site, { ...r, holder: identity }, signal)
      return
    }
    const want = mode === 'claim' ? 'pending' : 'running'
    const message = mode === 'claim' ? `started by ${identity}` : `adopted by ${identity}: the replica that ran it${r.holder ? ` (${r.holder})` : ''} is gone; watching it to its end, never starting it again`
    let claimed: RecycleRecord | undefined
    await updateRecord(site.name, r.id, (cur, s) => {
      if (cur.state !== want) return undefined
      claimed = { ...cur, state: 'running', holder: identity, steps: [...cur.steps, step(clock.now(), message)] }
      return putRecord(s, claimed)
    })
    if (!claimed) return
    log.info({ site: site.name, recycle: r.id, mode }, message)
    await execute(site, claimed, mode, signal)
  }

  async function execute(site: SiteConfig, rec: RecycleRecord, mode: Mode, signal: AbortSignal): Promise<void> {
    const live: RecycleRecord = { ...rec, steps: [...rec.steps] }
    const t0 = clock.now()
    let flushed = t0
    let flushing: Promise<unknown> | undefined
    const flush = (): void => {
      if (flushing || clock.now() - flushed < (opts.flushEveryMs ?? 5000)) return
      flushed = clock.now()
      const steps = [...live.steps]
      flushing = updateRecord(site.name, live.id, (cur, s) => (cur.state === 'running' && cur.holder === identity ? putRecord(s, { ...cur, steps }) : undefined))
        .catch(() => undefined).finally(() => { flushing = undefined })
    }
    const say = (m: string, fields: Record<string, unknown> = {}): void => {
      live.steps.push(step(clock.now(), m))
      log.info({ site: site.name, recycle: live.id, workload: live.target, ...fields }, m)
      flush()
    }
    let outcome: RunOutcome
    try {
      if (mode === 'adopt') {
        outcome = !executor.resume ? { state: 'failed', reason: 'this replica cannot adopt a recycle (no cluster)' } : await executor.resume({ record: live, site, strategy: live.strategy, ...(live.commit ? { commit: live.commit } : {}), step: say, signal }, {
          id: live.id, at: live.createdAt, strategy: live.strategy, reason: live.trigger.reason, trigger: live.trigger.source,
          ...(live.trigger.key ? { key: live.trigger.key } : {}), ...(live.commit ? { commit: live.commit } : {}),
        })
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
        const commit = unpinned ? undefined
          : live.trigger.source === 'operator' ? (head ?? asked)
            : pinCommit(site, { ...(head !== undefined ? { head } : {}), ...(asked !== undefined ? { payloadCommit: asked } : {}) })
        if (!unpinned && head === undefined && asked !== undefined && commit === undefined) {
          say(`not pinning ${asked.slice(0, 12)}: a Jenkins payload's commit is the job's repository, not the site's (set jenkins.commitIsSite: true if it is)`)
        }
        if (commit !== undefined) live.commit = commit
        else delete live.commit
        outcome = gitSkip !== undefined
          ? { state: 'skipped', reason: gitSkip }
          : await executor.run({ record: live, site, strategy: live.strategy, ...(commit !== undefined ? { commit } : {}), step: say, signal })
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
      log.warn({ site: site.name, recycle: live.id }, 'stopped while a recycle was in flight; the next leader adopts it')
      return
    }
    const willVerify = outcome.state === 'succeeded' && opts.verifier !== undefined && site.checks.length > 0
    const ran = outcome.state !== 'skipped'
    // A failed rollout whose revision before was restored (and is Ready) is `rolled-back`.
    const state: RecycleRecord['state'] = outcome.state === 'failed' && outcome.rolledBack === true ? 'rolled-back' : outcome.state
    // The outcome, once: the rollout judge has often just said the same words.
    const last = outcome.state === 'succeeded' ? outcome.message : `${state}: ${outcome.reason}`
    if (live.steps.at(-1)?.message !== last) live.steps.push(step(clock.now(), last))
    const final: RecycleRecord = {
      ...live,
      state,
      ...('revisionBefore' in outcome && outcome.revisionBefore !== undefined ? { revisionBefore: outcome.revisionBefore } : {}),
      ...(outcome.state === 'succeeded' && outcome.commitBefore !== undefined ? { commitBefore: outcome.commitBefore } : {}),
      finishedAt: new Date(clock.now()).toISOString(),
      ...(outcome.state !== 'succeeded' ? { reason: outcome.reason } : {}),
      ...(willVerify ? { verification: 'pending' as const } : {}),
    }
    await updateRecord(site.name, live.id, (_cur, s) => {
      let next = putRecord(s, final)
      if (!ran) next = withoutStart(next, live.startAt ?? live.createdAt)
      // A recycle being verified still holds its failure episode, so a cron
      // tick during the verification cannot count the failure again.
      if (!willVerify) next = recycleFinished(next, ran)
      return next
    })
    log.info({ site: site.name, recycle: live.id, state }, `recycle ${state}`)
    if (outcome.state === 'succeeded') notice(final, 'recycle-succeeded', outcome.message)
    else if (outcome.state === 'failed') notice(final, state === 'rolled-back' ? 'recycle-rolled-back' : 'recycle-failed', outcome.reason)
    metrics.recycles.inc({ site: site.name, strategy: live.strategy, outcome: state })
    metrics.recycleSeconds.observe({ site: site.name, strategy: live.strategy }, (clock.now() - Date.parse(live.createdAt)) / 1000)
    opts.onFinished?.(site)
    if (willVerify) await verify(site, final, signal)
  }

  /**
   * The site is probed again after a recycle. Still failing on the new pods:
   * restarting again would loop, so automatic recycles stop for this site
   * until it recovers or an operator acts; said in an Event and a loud log line.
   */
  /** Probes the site `attempts` times, `interval` apart, after `delay`; the last verdict (undefined when stopped). */
  async function probeUntilOk(site: SiteConfig, steps: RecycleRecord['steps'], signal: AbortSignal): Promise<Verdict | undefined> {
    const { delayMs, attempts, intervalMs } = site.recycle.verify
    await sleep(delayMs, signal)
    let last: Verdict | undefined
    for (let i = 0; i < attempts && !signal.aborted; i++) {
      if (i > 0) await sleep(intervalMs, signal)
      if (signal.aborted) break
      last = await opts.verifier!.probe(site)
      if (last.ok) break
      steps.push(step(clock.now(), `verification ${i + 1}/${attempts}: still failing: ${last.summary}`))
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
    return site.recycle.rollback === 'auto' && rec.strategy === 'rollout' && rec.state === 'succeeded' && executor.rollBack !== undefined
      && rec.revisionBefore !== undefined && rec.commit !== undefined && rec.commit !== rec.commitBefore
  }

  async function verify(site: SiteConfig, rec: RecycleRecord, signal: AbortSignal): Promise<void> {
    const { delayMs, attempts } = site.recycle.verify
    const steps = [...rec.steps, step(clock.now(), `verifying: probing ${site.name} again in ${Math.round(delayMs / 1000)} s (up to ${attempts} tries)`)]
    let last = await probeUntilOk(site, steps, signal)
    if (!last) return
    let state: RecycleRecord['state'] = rec.state
    if (!last.ok && mayRollBack(site, rec)) {
      const because = `still failing on ${rec.commit!.slice(0, 12)} after the rollout: ${last.summary}`
      const rolled = await executor.rollBack!(site, { toRevision: rec.revisionBefore!, because, recycleId: rec.id, step: (m) => steps.push(step(clock.now(), m)), signal })
      if (signal.aborted) return
      if (rolled.state === 'succeeded') {
        state = 'rolled-back'
        steps.push(step(clock.now(), `rolled-back: ${rolled.message}${rec.commitBefore ? ` (back on ${rec.commitBefore.slice(0, 12)})` : ''}; verifying again`))
        metrics.recycles.inc({ site: site.name, strategy: rec.strategy, outcome: 'rolled-back' })
        notice({ ...rec, state: 'rolled-back' }, 'recycle-rolled-back', `${because}; ${rolled.message}`)
        log.warn({ site: site.name, recycle: rec.id }, `rolled back: ${because}`)
        last = await probeUntilOk(site, steps, signal)
        if (!last) return
      } else {
        steps.push(step(clock.now(), `rollback failed: ${rolled.state === 'failed' ? rolled.reason : rolled.reason}`))
      }
    }
    const ok = last.ok
    const msg = ok
      ? `recovered: ${last.summary}`
      : `recycle-did-not-help: ${site.name} still fails after recycle ${rec.id}${rec.commit ? ` onto ${rec.commit.slice(0, 12)}` : ''}: ${last.summary}; automatic recycles stop until it recovers or an operator recycles it`
    steps.push(step(clock.now(), msg))
    const seen = last
    await updateRecord(site.name, rec.id, (cur, s) => {
      let next = putRecord(s, { ...cur, state, steps, verification: ok ? 'recovered' : 'recycle-did-not-help' })
      next = recycleFinished(verified({ ...next, lastVerdict: boundVerdict(seen) }, ok), true)
      return next
    })
    if (ok) {
      log.info({ site: site.name, recycle: rec.id }, msg)
      await executor.recordEvent?.(site, { type: 'Normal', reason: 'RecycleVerified', message: `kube-recycler ${rec.id}: the site is healthy again (${last.summary})` })
    } else {
      log.error({ site: site.name, recycle: rec.id, commit: rec.commit }, msg)
      metrics.recycles.inc({ site: site.name, strategy: rec.strategy, outcome: 'did-not-help' })
      notice(rec, 'recycle-did-not-help', msg)
      await executor.recordEvent?.(site, { type: 'Warning', reason: 'RecycleDidNotHelp', message: msg })
    }
    opts.onFinished?.(site)
  }

  /** Jenkins silent past expectEvery: said once per silence, by the leader, remembered in the state. */
  function announceStale(site: SiteConfig): void {
    if (!opts.notifier || reviewing.has(`stale:${site.name}`) || !staleToAnnounce(store.get(site.name), site, clock.now())) return
    reviewing.add(`stale:${site.name}`)
    void store.update(site.name, (s) => {
      const next = staleToAnnounce(s, site, clock.now())
      return next ? { next, result: next.staleNoticeFor } : { result: undefined }
    }).then((from) => {
      if (from) opts.notifier?.notify({ event: 'jenkins-stale', site: site.name, message: `no Jenkins report since ${from} (expected every ${Math.round(site.jenkins.expectEveryMs! / 60_000)} min)` })
    }, () => undefined).finally(() => reviewing.delete(`stale:${site.name}`))
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
        timer = setTimeout(() => { sweep(); loop() }, every)
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
