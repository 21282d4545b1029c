// The Kubernetes-backed Executor: finds the workload, takes the cluster-wide
// lock (an annotation written with the resourceVersion precondition) in one
// request with the strategy's first change (it is the lock's one writer),
// lets the strategy go on, writes the outcome back and records an Event.

import { hostname } from 'node:os'
import type { Logger } from 'pino'
import { abortableSleep, type Clock } from '../clock.ts'
import type { SiteConfig, StrategyName } from '../config/types.ts'
import { Errors, isAppError } from '../errors.ts'
import {
  CANARY_ANNOTATION,
  COMMIT_ANNOTATION,
  refKey,
  type Kube,
  type WorkloadCache,
  type WorkloadRef,
  type WorkloadState,
} from '../kube/types.ts'
import type { RecyclePlan } from '../state/schema.ts'
import type { Executor, RunContext, RunOutcome } from './executor.ts'
import { LAST_RECYCLE_ANNOTATION, mayTakeLock, parseLastRecycle, type LastRecycle } from './lock.ts'
import { afterCanary, rollout, watchRollout } from './strategies/rollout.ts'
import { judgeCanary, parseCanary, podProbe, type CheckRunner } from './strategies/canary.ts'
import { del, evict } from './strategies/evict.ts'
import { replacePods } from './strategies/replace-pods.ts'
import type { CanaryContext, Strategy, StrategyContext } from './strategies/types.ts'
import { rollback, rollbackFailed } from './rollback.ts'
import { ladderFor } from './ladder.ts'

const STRATEGIES: Record<StrategyName, Strategy> = { rollout, evict, delete: del }

const selectorOf = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')

export interface EngineOptions {
  kube: Kube
  clock: Clock
  logger: Logger
  /** This replica's name in the lock (default: the pod's hostname). */
  holder?: string
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** Runs one check (the prober): a canary pod is probed with the site's checks aimed at its IP. Without it, no canary. */
  checks?: CheckRunner
  /**
   * Named workloads kept by watches (workloadCacheKeys): inspect() answers
   * from it without a request. Selector targets, and workloads it has not
   * seen, are read as before.
   */
  cache?: WorkloadCache
}

/** What inspect() reads of a workload: what a WorkloadCache must keep for it. */
export const workloadCacheKeys = {
  annotations: [LAST_RECYCLE_ANNOTATION],
  templateAnnotations: [COMMIT_ANNOTATION],
} as const

/** The workloads the sites name (a selector's owner is found at run time: not here). */
export function namedWorkloads(sites: readonly SiteConfig[]): WorkloadRef[] {
  return sites.flatMap((s) =>
    'name' in s.target ? [{ kind: s.target.kind, namespace: s.target.namespace, name: s.target.name }] : [],
  )
}

export function createEngine(opts: EngineOptions): Executor &
  Required<Pick<Executor, 'inspect' | 'recordEvent' | 'resume' | 'rollBack' | 'pods'>> & {
    resolve(site: SiteConfig): Promise<WorkloadRef>
  } {
  const { kube, clock } = opts
  const log = opts.logger.child({ component: 'engine' })
  const holder = opts.holder ?? hostname()
  const sleep = opts.sleep ?? abortableSleep

  /** recycle.canary, when it can be judged: a prober, and checks to aim at the pod. */
  function canaryFor(site: SiteConfig, id: string, step: (m: string) => void): CanaryContext | undefined {
    if (!site.recycle.canary) return undefined
    if (!opts.checks || site.checks.length === 0) {
      step('canary: off here, the site has no checks to probe the new pod with; rolling every pod')
      return undefined
    }
    return {
      recycleId: id,
      probe: podProbe(opts.checks, site),
      attempts: site.recycle.verify.attempts,
      intervalMs: site.recycle.verify.intervalMs,
    }
  }

  /** A named workload, or the single workload that owns the selected pods. */
  async function resolve(site: SiteConfig): Promise<WorkloadRef> {
    const t = site.target
    if ('name' in t) return { kind: t.kind, namespace: t.namespace, name: t.name }
    const selector = selectorOf(t.selector)
    const pods = await kube.listPods(t.namespace, selector)
    if (pods.length === 0) throw Errors.kubeNotFound(`no pods match ${selector} in ${t.namespace}`)
    const owners = new Map<string, WorkloadRef>()
    for (const p of pods) {
      const o = await kube.ownerWorkload(p)
      if (!o)
        throw Errors.kube(
          `pod ${p.namespace}/${p.name} has no Deployment, StatefulSet or DaemonSet owner; kube-recycler only recycles managed pods`,
        )
      owners.set(`${o.kind}/${o.name}`, o)
    }
    if (owners.size > 1)
      throw Errors.kube(
        `the selector ${selector} spans ${[...owners.keys()].join(', ')}; name one workload in the site's target`,
      )
    return [...owners.values()][0]!
  }

  // Reads of a workload not in the cache, shared while one is in flight:
  // sites that name the same workload (5,000 probe-only sites on one
  // Deployment in the scale bench) ask for its facts together, at start
  // before its watch has spoken, and must cost one request, not one each.
  const reading = new Map<string, Promise<WorkloadState>>()
  function readOnce(ref: WorkloadRef): Promise<WorkloadState> {
    const key = refKey(ref)
    let p = reading.get(key)
    if (!p) {
      p = kube.getWorkload(ref).finally(() => reading.delete(key))
      reading.set(key, p)
    }
    return p
  }

  /**
   * The outcome goes into the lock annotation only while it still holds the
   * lock exactly as written (`written`): one JSON-patch test + replace, no
   * read first. Anything else there means the lock moved on: left alone.
   */
  async function writeOutcome(
    ref: WorkloadRef,
    lock: LastRecycle,
    written: string,
    outcome: RunOutcome,
  ): Promise<void> {
    const final: LastRecycle = {
      ...lock,
      outcome: outcome.state === 'succeeded' ? 'succeeded' : 'failed',
      finishedAt: new Date(clock.now()).toISOString(),
    }
    const r = await kube.replaceAnnotationIf(ref, LAST_RECYCLE_ANNOTATION, written, JSON.stringify(final))
    if (r === 'changed')
      log.warn({ workload: ref, ours: lock.id }, 'the lock moved on before our outcome was written; leaving it')
  }

  return {
    resolve,

    ...(opts.cache ? { onFactsChanged: (listener: (ref: WorkloadRef) => void) => opts.cache!.onChange(listener) } : {}),

    async inspect(site) {
      const ref = await resolve(site)
      // At start the watch may not have answered yet: its answer, not a read of the whole object.
      if (opts.cache && !opts.cache.get(ref)) await opts.cache.settled(ref)
      const w = opts.cache?.get(ref) ?? (await readOnce(ref))
      const last = parseLastRecycle(w.annotations)
      const running = w.templateAnnotations[COMMIT_ANNOTATION]
      return {
        ...(running ? { runningCommit: running } : {}),
        ...(last
          ? {
              lastRecycle: {
                id: last.id,
                at: last.at,
                outcome: last.outcome,
                ...(last.commit ? { commit: last.commit } : {}),
              },
            }
          : {}),
      }
    },

    async resume(ctx, inflight) {
      const ref = await resolve(ctx.site)
      const workload = await kube.getWorkload(ref)
      const lock = parseLastRecycle(workload.annotations)
      if (!lock || lock.id !== inflight.id) {
        return {
          state: 'skipped',
          reason: `never acted: the workload's lock is ${lock ? `recycle ${lock.id}` : 'free'}, so the replica that took this recycle stopped before it changed anything`,
        }
      }
      if (lock.outcome !== 'running') {
        // It ended on the cluster before its holder could record it in the service state.
        ctx.step(`adopted: the workload says it ${lock.outcome}${lock.finishedAt ? ` at ${lock.finishedAt}` : ''}`)
        return lock.outcome === 'succeeded'
          ? { state: 'succeeded', message: `${inflight.strategy} finished before its replica stopped` }
          : { state: 'failed', reason: `${inflight.strategy} failed before its replica stopped` }
      }
      const sctx: StrategyContext = {
        kube,
        clock,
        workload,
        commitEnv: ctx.site.recycle.commitEnv,
        maxUnavailable: ctx.site.recycle.maxUnavailable,
        unhealthyPods: ctx.site.recycle.unhealthyPods,
        deadline: Math.max(Date.parse(inflight.at) + ctx.site.recycle.timeoutMs, clock.now() + 60_000),
        step: ctx.step,
        signal: ctx.signal,
        sleep,
      }
      const since = Date.parse(inflight.at)
      const mark = parseCanary(workload.annotations, CANARY_ANNOTATION)
      // The canary pod is the one made after the template changed: the
      // patch's own restartedAt (the record may be older, e.g. approved later).
      const patchedAt = Date.parse(workload.templateAnnotations['kubectl.kubernetes.io/restartedAt'] ?? '')
      const canarySince = Number.isFinite(patchedAt) && patchedAt > since ? patchedAt : since
      let outcome: RunOutcome
      if (mark && mark.recycle === inflight.id && mark.phase !== 'released') {
        // A canary-first rollout: the workload says where it stood. Held:
        // judged now (the pod is probed again) and released or undone, never
        // left held. Undone: the revision before is watched to stand alone.
        const canary = canaryFor(ctx.site, inflight.id, ctx.step)
        if (mark.phase === 'holding') {
          ctx.step('adopted mid-canary: the workload is held on one new pod; judging it now')
          // Without checks now (the config changed), the held pod cannot be
          // judged healthy: it is undone, the safe end of a hold.
          const judge = canary ?? {
            recycleId: inflight.id,
            probe: async () => ({ ok: false, message: 'the site has no checks to probe it with now' }),
            attempts: 1,
            intervalMs: 0,
          }
          const end = await judgeCanary(sctx, judge, workload, mark, canarySince)
          outcome = await afterCanary(sctx, end, canarySince)
        } else {
          ctx.step(
            `adopted after the canary was undone (${mark.answer ?? 'failed'}); watching revision ${mark.revisionBefore} stand alone`,
          )
          const result = {
            pod: mark.pod ?? '(unknown)',
            passed: false,
            ...(mark.answer ? { message: mark.answer } : {}),
          }
          outcome = await afterCanary(
            sctx,
            {
              passed: false,
              result,
              reason: `the canary pod ${mark.pod ?? ''} answered ${mark.answer ?? 'nothing'}`,
              undone: workload,
            },
            since,
          )
        }
      } else {
        // Whatever the strategy, its end is the workload at its desired pods,
        // updated and available: a rollout finishes under its controller; pods
        // an interrupted evict/delete took are replaced by theirs. Nothing is
        // evicted or patched again.
        ctx.step(`watching the ${inflight.strategy} started at ${inflight.at} to its end`)
        outcome = await watchRollout(sctx, workload.generation, since)
      }
      if (ctx.signal.aborted) return outcome
      await writeOutcome(ref, lock, workload.annotations[LAST_RECYCLE_ANNOTATION]!, outcome).catch(() => undefined)
      const type = outcome.state === 'succeeded' ? 'Normal' : 'Warning'
      await kube.recordEvent(workload, {
        type,
        reason:
          outcome.state === 'succeeded'
            ? 'Recycled'
            : outcome.state === 'failed' && outcome.canary
              ? 'RecycleCanaryFailed'
              : 'RecycleFailed',
        message: `kube-recycler ${inflight.id} (adopted): ${outcome.state === 'succeeded' ? outcome.message : outcome.state === 'failed' ? outcome.reason : 'skipped'}`,
      })
      return outcome
    },

    async rollBack(site, o) {
      const ref = await resolve(site)
      const workload = await kube.getWorkload(ref)
      const outcome = await rollback({
        kube,
        clock,
        workload,
        commitEnv: site.recycle.commitEnv,
        maxUnavailable: site.recycle.maxUnavailable,
        unhealthyPods: site.recycle.unhealthyPods,
        deadline: clock.now() + site.recycle.timeoutMs,
        step: o.step,
        signal: o.signal,
        sleep,
        toRevision: o.toRevision,
        because: o.because,
      })
      if (!o.signal.aborted) {
        await kube.recordEvent(
          workload,
          outcome.state === 'succeeded'
            ? {
                type: 'Warning',
                reason: 'RecycleRolledBack',
                message: `kube-recycler ${o.recycleId}: ${o.because}; ${outcome.message}`,
              }
            : {
                type: 'Warning',
                reason: 'RecycleRollbackFailed',
                message: `kube-recycler ${o.recycleId}: ${o.because}; ${outcome.state === 'failed' ? outcome.reason : 'skipped'}`,
              },
        )
      }
      return outcome
    },

    async pods(site) {
      const t = site.target
      if (!('name' in t)) return kube.listPods(t.namespace, selectorOf(t.selector))
      const w = await kube.getWorkload({ kind: t.kind, namespace: t.namespace, name: t.name })
      return kube.listPods(t.namespace, w.selector)
    },

    async recordEvent(site, event) {
      try {
        const w = await kube.getWorkload(await resolve(site))
        await kube.recordEvent(w, event)
      } catch (e) {
        log.warn({ site: site.name, err: e }, `could not record the ${event.reason} event`)
      }
    },

    async plan(site, strategy): Promise<RecyclePlan> {
      const ref = await resolve(site)
      const w = await kube.getWorkload(ref)
      const pods = (await kube.listPods(ref.namespace, w.selector)).filter((p) => !p.terminating)
      const last = parseLastRecycle(w.annotations)
      const verdict = mayTakeLock(last, {
        id: '(plan)',
        now: clock.now(),
        cooldownMs: site.recycle.cooldownMs,
        timeoutMs: site.recycle.timeoutMs,
      })
      const how =
        strategy === 'rollout'
          ? `patch the pod template of ${ref.kind} ${ref.namespace}/${ref.name}; its controller replaces ${pods.length} pods${site.recycle.canary ? ' (canary first: one new pod, probed on its IP, before the others)' : ''}`
          : `${strategy} ${pods.length} pods, ${site.recycle.maxUnavailable} at a time, waiting for replacements to be Ready`
      // The ladder's first rung is decided when the recycle runs (a fresh per-pod probe).
      const first =
        ladderFor(site, strategy)[0] === 'replace-pods'
          ? 'first replace only the pods failing their per-pod checks (if some pass); if that cannot heal: '
          : ''
      const paused = w.paused ? ' — refused: the Deployment is paused' : ''
      const blocked = verdict.ok ? '' : ` — would be skipped now: ${verdict.reason}`
      return {
        workload: refKey(ref),
        strategy,
        pods: pods.map((p) => p.name),
        why: `${first}${how}${paused}${blocked}`,
      }
    },

    async run(ctx: RunContext): Promise<RunOutcome> {
      const { site, record } = ctx
      const ref = await resolve(site)
      const strategy = ctx.replace ? replacePods(ctx.replace) : STRATEGIES[ctx.strategy]
      const how = ctx.replace ? 'replace-pods' : ctx.strategy
      const started = clock.now()
      let workload: WorkloadState | undefined
      let lock: LastRecycle | undefined
      let outcome: RunOutcome
      let acted: StrategyContext | undefined
      const canary = canaryFor(site, record.id, ctx.step)
      try {
        for (let attempt = 0; ; attempt++) {
          workload = await kube.getWorkload(ref)
          const verdict = mayTakeLock(parseLastRecycle(workload.annotations), {
            id: record.id,
            ...(record.trigger.key ? { key: record.trigger.key } : {}),
            now: clock.now(),
            cooldownMs: site.recycle.cooldownMs,
            timeoutMs: site.recycle.timeoutMs,
          })
          if (!verdict.ok) {
            outcome = { state: 'skipped', reason: verdict.reason }
            break
          }
          const w = workload
          acted = {
            kube,
            clock,
            workload: w,
            ...(ctx.commit ? { commit: ctx.commit } : {}),
            commitEnv: site.recycle.commitEnv,
            maxUnavailable: site.recycle.maxUnavailable,
            unhealthyPods: site.recycle.unhealthyPods,
            deadline: started + site.recycle.timeoutMs,
            step: ctx.step,
            signal: ctx.signal,
            sleep,
          }
          if (canary) acted.canary = canary
          const prepared = await strategy.prepare(acted)
          if (prepared.kind === 'skip') {
            outcome = { state: 'skipped', reason: prepared.reason }
            break
          }
          const taking: LastRecycle = {
            id: record.id,
            at: new Date(clock.now()).toISOString(),
            ...(ctx.commit ? { commit: ctx.commit } : {}),
            reason: record.trigger.reason.slice(0, 300),
            trigger: record.trigger.source,
            ...(record.trigger.key ? { key: record.trigger.key } : {}),
            strategy: how,
            outcome: 'running',
            holder,
          }
          // The lock and the first change in one request, on the state the
          // decision was read at: both land, or neither (409).
          const annotations = { [LAST_RECYCLE_ANNOTATION]: JSON.stringify(taking) }
          let landed: WorkloadState
          try {
            landed = prepared.first
              ? await kube.restartWorkload(ref, { ...prepared.first, annotations, resourceVersion: w.resourceVersion })
              : await kube.patchAnnotations(ref, annotations, w.resourceVersion)
          } catch (e) {
            if (isAppError(e) && e.code === Errors.kubeConflict.code && attempt < 2) {
              // Someone wrote the workload between our read and our write.
              // If it was another replica's lock, the next read says so.
              ctx.step('the workload changed underneath us (409); reading it again')
              continue
            }
            throw e
          }
          lock = taking
          if (!prepared.first) ctx.step(`took the lock on ${ref.kind} ${ref.namespace}/${ref.name}`)
          outcome = await prepared.proceed(landed)
          break
        }
      } catch (e) {
        const reason = isAppError(e) ? e.message : 'unexpected error (see the log)'
        if (!isAppError(e)) log.error({ err: e, site: site.name }, 'recycle failed unexpectedly')
        outcome = { state: 'failed', reason }
      }
      // What the template pinned before: a rollback after a recycle that did
      // not help makes sense only when the recycle changed the pin.
      if (outcome.state === 'succeeded' && workload?.templateAnnotations['kube-recycler.io/commit'])
        outcome = { ...outcome, commitBefore: workload.templateAnnotations['kube-recycler.io/commit'] }
      // A failed rollout is undone once (recycle.rollback: auto), still under our lock.
      // replace-pods changed no template: the ladder's next rung follows instead.
      if (outcome.state === 'failed' && lock && acted && !ctx.replace)
        outcome = await rollbackFailed(acted, outcome, site.recycle)
      if (outcome.state === 'failed')
        log.warn(
          { site: site.name, recycle: record.id, cause: outcome.cause, rolledBack: outcome.rolledBack },
          outcome.reason,
        )
      if (ctx.signal.aborted && lock) {
        // Shutting down (or no longer leading) mid-recycle: the lock stays
        // `running`, and the next leader adopts the recycle (resume).
        log.warn(
          { site: site.name, recycle: record.id },
          'stopped while a recycle was in flight; the next leader adopts it',
        )
        return outcome
      }
      if (lock) {
        try {
          await writeOutcome(ref, lock, JSON.stringify(lock), outcome)
        } catch (e) {
          log.warn({ site: site.name, err: e }, 'could not record the outcome on the workload')
        }
      }
      if (workload) {
        const commit = ctx.commit ? ` onto ${ctx.commit.slice(0, 12)}` : ''
        if (outcome.state === 'succeeded') {
          await kube.recordEvent(workload, {
            type: 'Normal',
            reason: 'Recycled',
            message: `kube-recycler ${record.id} (${how}${commit}): ${outcome.message}; trigger: ${record.trigger.source}: ${record.trigger.reason}`,
          })
        } else if (outcome.state === 'failed') {
          await kube.recordEvent(workload, {
            type: 'Warning',
            reason: outcome.canary ? 'RecycleCanaryFailed' : outcome.rolledBack ? 'RecycleRolledBack' : 'RecycleFailed',
            message: `kube-recycler ${record.id} (${how}${commit}): ${outcome.reason}`,
          })
        } else {
          await kube.recordEvent(workload, {
            type: 'Normal',
            reason: 'RecycleSkipped',
            message: `kube-recycler ${record.id}: ${outcome.reason}`,
          })
        }
      }
      return outcome
    },
  }
}
