// kube-recycler's own cron: one node-cron task per site with checks, each
// tick probes the site's endpoints and hands the verdict to the intake.
// Ticks never overlap; only the leader probes (isLeader); every task is
// stopped on close and a tick that was running is awaited.
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

/**
 * How long a tick fired at `now` waits before it probes: the site's
 * fraction of the spread, and never more than half the time to the next
 * tick, so that the probe (up to its timeout) still ends before it.
 */
export function spreadDelay(fraction: number, spreadMs: number, now: number, next: number | undefined): number {
  if (spreadMs <= 0 || next === undefined || !(next > now)) return 0
  return Math.floor(fraction * Math.min(spreadMs, (next - now) / 2))
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
      for (const site of sites.values()) {
        if (!site.schedule) continue
        const fraction = spreadFraction(site.name)
        const task: ScheduledTask = createTask(
          site.schedule.cron,
          async () => {
            // node-cron's clock, not opts.clock: the next run is its own.
            const delay = spreadDelay(fraction, opts.spreadMs ?? 0, Date.now(), task.getNextRun()?.getTime())
            if (delay > 0) await wait(delay)
            await tick(site.name)
          },
          {
            name: `probe:${site.name}`,
            noOverlap: true,
            ...(site.schedule.timezone ? { timezone: site.schedule.timezone } : {}),
            logger: {
              info: (m: string) => log.debug(m),
              warn: (m: string) => log.warn({ site: site.name }, m),
              error: (m: string | Error) =>
                typeof m === 'string'
                  ? log.error({ site: site.name }, m)
                  : log.error({ site: site.name, err: m }, m.message),
              debug: (m: string) => log.debug(m),
            },
          } as Parameters<typeof createTask>[2],
        )
        tasks.push(task)
        void task.start()
        log.info(
          { site: site.name, cron: site.schedule.cron, timezone: site.schedule.timezone ?? 'local' },
          'probe schedule started',
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
      await Promise.allSettled([...inFlight])
    },
  }
}
