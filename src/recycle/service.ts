// The policy and the bookkeeping of recycles. A request is decided at once
// (cooldown, circuit breaker, one at a time per site, dry-run) and answered
// with a record; the work itself runs in the background through the Executor,
// and the record follows it. The cluster-wide lock (two replicas never act at
// once) is the Executor's: it lives in annotations on the workload.

import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { Config, SiteConfig, StrategyName } from '../config/types.ts'
import { targetLabel } from '../config/types.ts'
import { Errors, isAppError } from '../errors.ts'
import type { HealthBook } from '../health/state.ts'
import type { Verdict, VerdictSource } from '../health/verdict.ts'
import type { History, RecycleRecord } from '../status/history.ts'
import type { Metrics } from '../status/metrics.ts'
import type { Executor, RunOutcome } from './executor.ts'
import { abortableSleep } from '../clock.ts'

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
}

export interface CommitResolver {
  /** Newest commit of the site's production branch. Throws Errors.git. */
  headCommit(site: SiteConfig): Promise<string>
}

export interface RecyclerOptions {
  config: Config
  history: History
  health: HealthBook
  metrics: Metrics
  clock: Clock
  logger: Logger
  /** Absent: no cluster; every recycle is planned and recorded only. */
  executor?: Executor
  commits?: CommitResolver
  /** Probes the site again after a succeeded recycle (the scheduler's checks). */
  verify?: (site: SiteConfig) => Promise<Verdict>
  /** Called when a recycle has settled (refresh what /status shows). */
  onFinished?: (site: SiteConfig) => void
  /** Waits that stop early on close; tests pass a fast one. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
}

export interface Recycler {
  request(req: RecycleRequest): RecycleRecord
  /** True when recycles only plan (no cluster, or service.dryRun). */
  readonly dryRun: boolean
  circuitOpen(site: string): boolean
  /** Picks up recycles this replica left running before a restart (watch again, never start again). */
  resumeInFlight(): Promise<number>
  /** Resolves when every background recycle has settled (tests, shutdown). */
  idle(): Promise<void>
  close(): Promise<void>
}

export function newRecycleId(now: number): string {
  return `rc-${now.toString(36)}-${randomBytes(4).toString('hex')}`
}

export function createRecycler(opts: RecyclerOptions): Recycler {
  const { config, history, health, metrics, clock, executor } = opts
  const log = opts.logger.child({ component: 'recycle' })
  const sites = new Map(config.sites.map((s) => [s.name, s]))
  const dryRun = config.service.dryRun || executor === undefined
  /** Start times of recycles that acted, per site (cooldown and circuit). */
  const started = new Map<string, number[]>()
  const active = new Map<string, Promise<void>>()
  const abort = new AbortController()

  const stamp = (): string => new Date(clock.now()).toISOString()
  const step = (r: RecycleRecord, message: string, fields: Record<string, unknown> = {}): void => {
    r.steps.push({ at: stamp(), message })
    log.info({ site: r.site, recycle: r.id, workload: r.target, state: r.state, ...fields }, message)
  }

  const recentStarts = (site: SiteConfig): number[] => {
    const now = clock.now()
    const list = (started.get(site.name) ?? []).filter((t) => now - t < Math.max(site.recycle.windowMs, site.recycle.cooldownMs))
    started.set(site.name, list)
    return list
  }

  const circuitOpen = (site: SiteConfig): boolean => {
    const now = clock.now()
    return recentStarts(site).filter((t) => now - t < site.recycle.windowMs).length >= site.recycle.maxPerWindow
  }

  function finish(r: RecycleRecord, outcome: RunOutcome, startedAt: number): void {
    r.state = outcome.state
    r.finishedAt = stamp()
    if (outcome.state === 'succeeded') step(r, outcome.message)
    else {
      r.reason = outcome.reason
      step(r, `${outcome.state}: ${outcome.reason}`)
    }
    metrics.recycles.inc({ site: r.site, strategy: r.strategy, outcome: outcome.state })
    metrics.recycleSeconds.observe({ site: r.site, strategy: r.strategy }, (clock.now() - startedAt) / 1000)
  }

  /**
   * The site is probed again after a recycle. Still failing on the new pods:
   * restarting again would loop, so automatic recycles stop for this site
   * until it recovers or an operator acts; said in an Event and a loud log line.
   */
  async function verify(r: RecycleRecord, site: SiteConfig): Promise<void> {
    const { delayMs, attempts, intervalMs } = site.recycle.verify
    const sleep = opts.sleep ?? abortableSleep
    r.verification = 'pending'
    step(r, `verifying: probing ${site.name} again in ${Math.round(delayMs / 1000)} s (up to ${attempts} tries)`)
    await sleep(delayMs, abort.signal)
    let last: Verdict | undefined
    for (let i = 0; i < attempts && !abort.signal.aborted; i++) {
      if (i > 0) await sleep(intervalMs, abort.signal)
      if (abort.signal.aborted) break
      last = await opts.verify!(site)
      if (last.ok) {
        r.verification = 'recovered'
        health.verified(site.name, true)
        metrics.health.set({ site: site.name }, 1)
        step(r, `recovered: ${last.summary}`)
        await executor?.recordEvent?.(site, { type: 'Normal', reason: 'RecycleVerified', message: `kube-recycler ${r.id}: the site is healthy again (${last.summary})` })
        return
      }
      step(r, `verification ${i + 1}/${attempts}: still failing: ${last.summary}`)
    }
    if (abort.signal.aborted) return
    r.verification = 'recycle-did-not-help'
    health.verified(site.name, false)
    const msg = `recycle-did-not-help: ${site.name} still fails after recycle ${r.id}${r.commit ? ` onto ${r.commit.slice(0, 12)}` : ''}: ${last?.summary ?? ''}; automatic recycles stop until it recovers or an operator recycles it`
    log.error({ site: site.name, recycle: r.id, commit: r.commit }, msg)
    r.steps.push({ at: stamp(), message: msg })
    metrics.recycles.inc({ site: site.name, strategy: r.strategy, outcome: 'did-not-help' })
    await executor?.recordEvent?.(site, { type: 'Warning', reason: 'RecycleDidNotHelp', message: msg })
  }

  async function execute(r: RecycleRecord, site: SiteConfig, req: RecycleRequest): Promise<void> {
    const t0 = clock.now()
    let ran = false
    try {
      let commit = req.commit
      if (site.git && opts.commits) {
        try {
          commit = await opts.commits.headCommit(site)
          step(r, `production head of ${site.git.branch} is ${commit.slice(0, 12)}`, { commit })
        } catch (e) {
          const why = isAppError(e) ? e.message : 'the git remote could not be read'
          if (site.recycle.onGitError === 'skip') {
            finish(r, { state: 'skipped', reason: `git: ${why}` }, t0)
            return
          }
          commit = undefined
          step(r, `git: ${why}; recycling unpinned (onGitError: recycle-unpinned)`)
        }
      }
      if (commit !== undefined) r.commit = commit
      r.state = 'running'
      const outcome = await executor!.run({
        record: r,
        site,
        strategy: r.strategy,
        ...(commit !== undefined ? { commit } : {}),
        step: (m) => step(r, m),
        signal: abort.signal,
      })
      ran = outcome.state !== 'skipped'
      if (ran) recentStarts(site).push(t0)
      finish(r, outcome, t0)
      if (outcome.state === 'succeeded' && opts.verify && site.checks.length > 0) await verify(r, site)
    } catch (e) {
      ran = true
      recentStarts(site).push(t0)
      const reason = isAppError(e) ? e.message : 'unexpected error (see the log)'
      log.error({ site: r.site, recycle: r.id, err: isAppError(e) ? { code: e.code, message: e.message } : e }, 'recycle failed')
      finish(r, { state: 'failed', reason }, t0)
    } finally {
      health.recycleFinished(site.name, ran)
      opts.onFinished?.(site)
      metrics.circuitOpen.set({ site: site.name }, circuitOpen(site) ? 1 : 0)
    }
  }

  return {
    dryRun,
    circuitOpen: (name) => {
      const s = sites.get(name)
      return s ? circuitOpen(s) : false
    },
    request(req) {
      const site = sites.get(req.site)
      if (!site) throw Errors.unknownSite(`no site named "${req.site}"`)
      const strategy = req.strategy ?? site.recycle.strategy
      if (strategy === 'rollout' && !('name' in site.target)) {
        throw Errors.invalidField(`strategy: "rollout" needs a named workload; site "${site.name}" targets a selector`)
      }
      const now = clock.now()
      const r: RecycleRecord = {
        id: newRecycleId(now),
        site: site.name,
        target: targetLabel(site.target),
        strategy,
        trigger: { source: req.source, reason: req.reason, ...(req.ref ? { ref: req.ref } : {}), ...(req.key ? { key: req.key } : {}) },
        ...(req.commit ? { commit: req.commit } : {}),
        dryRun: dryRun || req.dryRun === true,
        state: 'pending',
        steps: [],
        createdAt: stamp(),
      }
      history.add(r)
      const skip = (reason: string): RecycleRecord => {
        r.state = 'skipped'
        r.reason = reason
        r.finishedAt = r.createdAt
        step(r, `skipped: ${reason}`)
        metrics.recycles.inc({ site: r.site, strategy, outcome: 'skipped' })
        return r
      }

      if (r.dryRun) {
        r.state = 'planned'
        step(r, `dry-run: planned ${strategy} of ${r.target} (${req.reason}); nothing changes in the cluster`)
        if (executor) {
          // The plan is read-only; fill it in when it arrives.
          const p = executor.plan(site, strategy).then(
            (plan) => { r.plan = plan; step(r, `plan: ${plan.why}`) },
            (e) => { r.reason = isAppError(e) ? e.message : 'could not plan'; step(r, `plan failed: ${r.reason}`) },
          )
          const tracked = p.finally(() => active.delete(r.id))
          active.set(r.id, tracked)
        }
        return r
      }
      if (active.has(site.name)) return skip('a recycle of this site is already running')
      const last = recentStarts(site).at(-1)
      if (last !== undefined && now - last < site.recycle.cooldownMs) {
        return skip(`cooldown: the last recycle started ${Math.round((now - last) / 1000)} s ago (cooldown ${Math.round(site.recycle.cooldownMs / 1000)} s)`)
      }
      if (req.source !== 'operator' && circuitOpen(site)) {
        metrics.circuitOpen.set({ site: site.name }, 1)
        log.error({ site: site.name }, `circuit open: ${site.recycle.maxPerWindow} recycles within the window; automatic recycles stopped`)
        return skip(`circuit open: ${site.recycle.maxPerWindow} recycles within ${Math.round(site.recycle.windowMs / 60_000)} min; an operator must look`)
      }
      if (req.source === 'operator') health.operatorRecycled(site.name)
      health.recycleStarted(site.name)
      step(r, `recycle requested by ${req.source}: ${req.reason}`)
      const run = execute(r, site, req).finally(() => active.delete(site.name))
      active.set(site.name, run)
      return r
    },
    async resumeInFlight() {
      if (!executor?.inFlight || !executor.resume) return 0
      let n = 0
      for (const site of config.sites) {
        let inflight
        try {
          inflight = await executor.inFlight(site)
        } catch (e) {
          log.warn({ site: site.name, code: isAppError(e) ? e.code : undefined }, 'could not read the workload to resume an in-flight recycle')
          continue
        }
        if (!inflight || active.has(site.name)) continue
        n++
        const r: RecycleRecord = {
          id: inflight.id,
          site: site.name,
          target: targetLabel(site.target),
          strategy: inflight.strategy,
          trigger: { source: (['jenkins', 'probe', 'operator'] as const).find((s) => s === inflight.trigger) ?? 'operator', reason: inflight.reason, ...(inflight.key ? { key: inflight.key } : {}) },
          ...(inflight.commit ? { commit: inflight.commit } : {}),
          dryRun: false,
          state: 'running',
          steps: [],
          createdAt: inflight.at,
        }
        history.add(r)
        const t0 = clock.now()
        health.recycleStarted(site.name)
        const run = executor.resume({ record: r, site, strategy: r.strategy, ...(r.commit ? { commit: r.commit } : {}), step: (m) => step(r, m), signal: abort.signal }, inflight)
          .then((o) => finish(r, o, t0), (e: unknown) => finish(r, { state: 'failed', reason: isAppError(e) ? e.message : 'resume failed' }, t0))
          .finally(() => { health.recycleFinished(site.name, true); active.delete(site.name); opts.onFinished?.(site) })
        active.set(site.name, run)
      }
      return n
    },
    async idle() {
      while (active.size > 0) await Promise.allSettled([...active.values()])
    },
    async close() {
      abort.abort()
      while (active.size > 0) await Promise.allSettled([...active.values()])
    },
  }
}
