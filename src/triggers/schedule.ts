// kube-recycler's own cron: each tick probes a site's endpoints and hands
// the verdict to the intake. A site's ticks never overlap; only the leader
// probes (isLeader); the cron is stopped on close and a tick that was
// running is awaited.
//
// One node-cron task per schedule (cron expression and timezone), not one
// per site: each task computes its next run with Intl on every tick, about
// 90 µs, and 5,000 tasks due in the same second held the event loop for
// 450 ms every 10 s (docs/benchmarks.md). The task's tick starts every site
// on that schedule; a site whose last tick still runs is skipped and
// counted (kube_recycler_probe_ticks_skipped_total), as node-cron's
// noOverlap would, without a warning per site and tick.
//
// Sites on one schedule do not all probe in the same second: each waits
// its own share of the period first (spreadDelay), as Prometheus spreads
// its scrapes. 1,000 sites on `*/10 * * * * *` fired 1,000 probes at once,
// a burst for the sites' shared ingress; and at start 1,000 first verdicts
// were written in the same second, some answered 429 by the API server
// (docs/benchmarks.md).

import { createHash } from 'node:crypto'
import { createTask, type ScheduledTask } from 'node-cron'
import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { SiteConfig } from '../config/types.ts'
import type { CheckResult, Verdict } from '../health/verdict.ts'
import { isAppError } from '../errors.ts'
import type { Intake } from './intake.ts'
import type { Prober } from './probe.ts'
import { podsSummary, probePods, type PodLister } from './pod-probe.ts'
import type { PodsResult } from '../state/schema.ts'
import type { Metrics } from '../status/metrics.ts'

export interface Scheduler {
  start(): void
  /** Runs one site's checks now (a tick); resolves with the verdict. */
  tick(site: string): Promise<Verdict | undefined>
  stop(): Promise<void>
  readonly ticks: number
}

export interface SchedulerOptions {
  sites: SiteConfig[]
  prober: Prober
  intake: Intake
  clock: Clock
  logger: Logger
  metrics: Metrics
  /** Only the Lease leader probes; a single replica is always the leader. */
  isLeader?: () => boolean
  /** Called with each verdict, before the intake (git/status refresh). */
  onProbe?: (site: SiteConfig, v: Verdict) => void
  /** The site's pods, for the per-pod checks (absent: no cluster; they do not run). */
  pods?: PodLister
  /** The most a tick waits before it probes (config service.probeSpread); 0 probes on the cron's second. */
  spreadMs?: number
}

/** A site's place in its period, in [0, 1): from its name, so every replica (a new leader too) keeps it. */
export function spreadFraction(site: string): number {
  return createHash('sha256').update(site).digest().readUInt32BE(0) / 2 ** 32
}

/** The longest a site's probe may take: its slowest check's timeout (the per-pod checks run beside them). */
export function probeTimeoutMs(site: SiteConfig): number {
  return Math.max(0, ...site.checks.map((c) => c.timeoutMs))
}

/**
 * How long a tick fired at `now` waits before it probes: the site's
 * fraction of the spread, and never so long that a probe running to its
 * timeout, and the verdict's write (a tenth of the period is left for it),
 * would still run at the next tick. That tick would be skipped, and a
 * hanging site, the one to act on, probed half as often. A timeout that
 * leaves no room: no wait.
 */
export function spreadDelay(
  fraction: number,
  spreadMs: number,
  now: number,
  next: number | undefined,
  timeoutMs = 0,
): number {
  if (spreadMs <= 0 || next === undefined || !(next > now)) return 0
  const period = next - now
  return Math.floor(fraction * Math.max(0, Math.min(spreadMs, period - period / 10 - timeoutMs)))
}

export function verdictFromChecks(
  site: SiteConfig,
  checks: CheckResult[],
  at: string,
  source: Verdict['source'] = 'probe',
  pods?: PodsResult,
): Verdict {
  const failed = checks.filter((c) => !c.ok)
  const podWords = pods ? podsSummary(pods) : undefined
  const ok = failed.length === 0 && podWords === undefined
  const siteWords =
    failed.length === 0
      ? `all ${checks.length} checks passed`
      : `${failed.length}/${checks.length} checks failed: ${failed.map((c) => `${c.name} (${c.message ?? 'failed'})`).join('; ')}`
  return {
    site: site.name,
    ok,
    source,
    at,
    checks,
    summary: (podWords === undefined ? siteWords : failed.length === 0 ? podWords : `${siteWords}; ${podWords}`).slice(
      0,
      500,
    ),
    ...(pods ? { pods } : {}),
  }
}

/**
 * One run of a site's checks, as a verdict (ticks, and the verification
 * after a recycle): the checks through the site's address and, with a pod
 * lister, every per-pod check against each Ready pod.
 */
export async function probeOnce(
  prober: Prober,
  site: SiteConfig,
  clock: Clock,
  metrics: Metrics,
  lister?: PodLister,
): Promise<Verdict> {
  const at = new Date(clock.now()).toISOString()
  const [checks, pods] = await Promise.all([
    prober.runChecks(site.checks),
    lister ? probePods(prober, site, lister) : Promise.resolve(undefined),
  ])
  for (const c of checks) {
    metrics.probes.inc({ site: site.name, check: c.name, ok: String(c.ok) })
    if (c.latencyMs !== undefined) metrics.probeSeconds.observe({ site: site.name, check: c.name }, c.latencyMs / 1000)
  }
  // Unknown pods (not listed) leave the gauge as it was: no evidence either way.
  if (pods && pods.error === undefined) metrics.failingPods.set({ site: site.name }, pods.failing)
  return verdictFromChecks(site, checks, at, 'probe', pods)
}

export function createScheduler(opts: SchedulerOptions): Scheduler {
  const log = opts.logger.child({ component: 'schedule' })
  const sites = new Map(opts.sites.filter((s) => s.checks.length > 0).map((s) => [s.name, s]))
  const tasks: ScheduledTask[] = []
  const inFlight = new Set<Promise<unknown>>()
  // Each site's current cron tick (its wait, probe and write), by name.
  const running = new Map<string, Promise<void>>()
  // Ticks waiting for their share of the period; stop() ends them.
  const waiting = new Map<NodeJS.Timeout, () => void>()
  let stopped = false
  let ticks = 0

  function wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        waiting.delete(t)
        resolve()
      }, ms)
      waiting.set(t, resolve)
    })
  }

  async function tick(name: string): Promise<Verdict | undefined> {
    const site = sites.get(name)
    if (!site || stopped) return undefined
    if (opts.isLeader && !opts.isLeader()) {
      log.debug({ site: name }, 'not the leader: skipping the probe')
      return undefined
    }
    ticks++
    const run = (async () => {
      const v = await probeOnce(opts.prober, site, opts.clock, opts.metrics, opts.pods)
      if (stopped) return v
      opts.onProbe?.(site, v)
      try {
        const d = await opts.intake.submit(site, v)
        log.info({ site: name, ok: v.ok, action: d.action, health: d.health }, `probe: ${v.summary}`)
      } catch (e) {
        // The state store is not reachable: this tick's verdict is lost, and
        // said; the next tick tries again. Nothing is decided on a local copy.
        log.warn(
          { site: name, err: e },
          `probe verdict not recorded: ${isAppError(e) ? e.message : 'unexpected error'}`,
        )
      }
      return v
    })()
    inFlight.add(run)
    try {
      return await run
    } finally {
      inFlight.delete(run)
    }
  }

  return {
    get ticks() {
      return ticks
    },
    start() {
      const bySchedule = new Map<string, { cron: string; timezone?: string; sites: SiteConfig[] }>()
      for (const site of sites.values()) {
        if (!site.schedule) continue
        const key = `${site.schedule.cron}\0${site.schedule.timezone ?? ''}`
        const group = bySchedule.get(key) ?? {
          cron: site.schedule.cron,
          ...(site.schedule.timezone ? { timezone: site.schedule.timezone } : {}),
          sites: [],
        }
        group.sites.push(site)
        bySchedule.set(key, group)
      }
      for (const group of bySchedule.values()) {
        const plan = group.sites.map((site) => ({
          site,
          fraction: spreadFraction(site.name),
          timeout: probeTimeoutMs(site),
        }))
        const task: ScheduledTask = createTask(
          group.cron,
          () => {
            // node-cron's clock, not opts.clock: the next run is its own.
            const now = Date.now()
            const next = task.getNextRun()?.getTime()
            const skipped: string[] = []
            for (const { site, fraction, timeout } of plan) {
              if (running.has(site.name)) {
                skipped.push(site.name)
                opts.metrics.ticksSkipped.inc({ site: site.name })
                continue
              }
              const delay = spreadDelay(fraction, opts.spreadMs ?? 0, now, next, timeout)
              const run = (async () => {
                if (delay > 0) await wait(delay)
                await tick(site.name)
              })()
                .catch((e: unknown) => log.error({ site: site.name, err: e }, 'probe tick failed'))
                .finally(() => running.delete(site.name))
              running.set(site.name, run)
            }
            if (skipped.length > 0)
              log.warn(
                { cron: group.cron, skipped: skipped.length, sites: skipped.slice(0, 10) },
                `${skipped.length} of ${plan.length} sites' ticks skipped: their last tick still runs (probe and verdict write)`,
              )
          },
          {
            name: `probe:${group.cron}`,
            ...(group.timezone ? { timezone: group.timezone } : {}),
            logger: {
              info: (m: string) => log.debug(m),
              warn: (m: string) => log.warn({ cron: group.cron }, m),
              error: (m: string | Error) =>
                typeof m === 'string'
                  ? log.error({ cron: group.cron }, m)
                  : log.error({ cron: group.cron, err: m }, m.message),
              debug: (m: string) => log.debug(m),
            },
          } as Parameters<typeof createTask>[2],
        )
        tasks.push(task)
        void task.start()
        log.info(
          { cron: group.cron, timezone: group.timezone ?? 'local', sites: plan.length },
          `probe schedule started for ${plan.length} site(s)`,
        )
      }
    },
    tick,
    async stop() {
      stopped = true
      for (const [t, resolve] of waiting) {
        clearTimeout(t)
        resolve()
      }
      waiting.clear()
      for (const t of tasks) {
        await t.stop()
        await t.destroy()
      }
      tasks.length = 0
      await Promise.allSettled([...inFlight, ...running.values()])
    },
  }
}
