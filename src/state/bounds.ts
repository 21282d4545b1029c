// Everything kept for the service is bounded: in count (records, steps,
// delivery keys, checks) and in bytes (every string, and the whole site
// state, which must fit a ConfigMap with room to spare). A flood of large
// reports can make the history shorter, never the process bigger.

import type { RecycleRecord, SiteState } from './schema.ts'
import type { Verdict } from '../health/verdict.ts'
import type { PodsResult } from './schema.ts'

export const LIMITS = {
  /** Characters of any stored free text (reasons, messages, summaries). */
  text: 300,
  summary: 500,
  /** Checks kept of a verdict; the summary still counts them all. */
  checks: 20,
  warnings: 5,
  /** Pods listed in a verdict's per-pod results (failing ones first); the counts cover them all. */
  pods: 30,
  /** Rungs kept of a recycle's ladder (a ladder has at most six: four configured, rollback, stop). */
  rungs: 8,
  /** Steps kept of a recycle: the first ones (what was decided) and the last ones (how it ended). */
  stepsHead: 10,
  stepsTail: 30,
  /** Delivery keys remembered per site (a retry of any of them is a duplicate). */
  deliveries: 200,
  /** Recycles kept per site beyond the current circuit-breaker window. */
  recycles: 50,
  /** Runs of verdicts kept per site for the /status timeline, and their summaries' length. */
  timeline: 48,
  timelineSummary: 200,
  /** Serialized bytes of one site's state (a ConfigMap holds 1 MiB). */
  siteBytes: 256 * 1024,
} as const

export function clip(s: string, max: number = LIMITS.text): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`
}

export function boundVerdict(v: Verdict): Verdict {
  const checks = v.checks.slice(0, LIMITS.checks).map((c) => ({
    ...c,
    name: clip(c.name, 100),
    ...(c.url !== undefined ? { url: clip(c.url) } : {}),
    ...(c.message !== undefined ? { message: clip(c.message) } : {}),
    ...(c.warnings !== undefined ? { warnings: c.warnings.slice(0, LIMITS.warnings).map((w) => clip(w)) } : {}),
  }))
  return {
    ...v,
    checks,
    ...(v.pods !== undefined ? { pods: boundPods(v.pods) } : {}),
    summary: clip(v.summary, LIMITS.summary),
    ...(v.ref !== undefined ? { ref: clip(v.ref) } : {}),
    ...(v.key !== undefined ? { key: clip(v.key) } : {}),
  }
}

/**
 * A site of 200 pods must not fill the state: failing pods are kept first
 * (they are the evidence and the pods a repair replaces), passing ones while
 * room is left; the rest are counted in `leftOut`.
 */
export function boundPods(p: PodsResult): PodsResult {
  const ordered = [...p.pods.filter((x) => !x.ok), ...p.pods.filter((x) => x.ok)]
  const kept = ordered.slice(0, LIMITS.pods).map((x) => ({
    ...x,
    name: clip(x.name, 253),
    ...(x.check !== undefined ? { check: clip(x.check, 100) } : {}),
    ...(x.message !== undefined ? { message: clip(x.message) } : {}),
  }))
  const leftOut = (p.leftOut ?? 0) + ordered.length - kept.length
  const { leftOut: _l, ...rest } = p
  return {
    ...rest,
    pods: kept,
    ...(leftOut > 0 ? { leftOut } : {}),
    ...(p.error !== undefined ? { error: clip(p.error) } : {}),
  }
}

/**
 * A recycle's steps within LIMITS: the first ones (what was decided) and the
 * last ones (how it ended); what lies between is counted in the record's
 * `stepsLeftOut`, so bounding a bounded record again loses no count.
 */
export function boundRecord(r: RecycleRecord): RecycleRecord {
  const max = LIMITS.stepsHead + LIMITS.stepsTail
  const clipped = r.steps.map((s) => (s.message.length > LIMITS.text ? { at: s.at, message: clip(s.message) } : s))
  const over = clipped.length - max
  return {
    ...r,
    trigger: { ...r.trigger, reason: clip(r.trigger.reason) },
    ...(r.reason !== undefined ? { reason: clip(r.reason) } : {}),
    ...(r.rungs
      ? {
          rungs: r.rungs.slice(-LIMITS.rungs).map((g) => ({
            ...g,
            ...(g.pods ? { pods: g.pods.slice(0, LIMITS.pods) } : {}),
            ...(g.reason !== undefined ? { reason: clip(g.reason) } : {}),
          })),
        }
      : {}),
    ...(r.plan ? { plan: { ...r.plan, pods: r.plan.pods.slice(0, 50), why: clip(r.plan.why) } } : {}),
    steps:
      over > 0 ? [...clipped.slice(0, LIMITS.stepsHead), ...clipped.slice(clipped.length - LIMITS.stepsTail)] : clipped,
    ...(over > 0 ? { stepsLeftOut: (r.stepsLeftOut ?? 0) + over } : {}),
  }
}

// A record's serialised size, once per record object (records are replaced,
// never changed in place): sizing a state near its bound on every write
// would otherwise serialise all of it again (docs/benchmarks.md).
const recordBytes = new WeakMap<RecycleRecord, number>()
const sizeOf = (r: RecycleRecord): number => {
  let n = recordBytes.get(r)
  if (n === undefined) {
    n = Buffer.byteLength(JSON.stringify(r))
    recordBytes.set(r, n)
  }
  return n
}

/** Exactly Buffer.byteLength(JSON.stringify(s)): the state without its recycles, plus each record and its comma. */
const bytes = (s: SiteState): number => {
  const rest = Buffer.byteLength(JSON.stringify({ ...s, recycles: [] }))
  let sum = 0
  for (const r of s.recycles) sum += sizeOf(r)
  return rest + sum + Math.max(0, s.recycles.length - 1)
}

/**
 * Trims a site's state to its bounds: delivery keys, then recycles older than
 * the window (never an unfinished one), then, while it is still too large,
 * the oldest finished recycles whatever their age. A state still too large
 * after that (only a state written by hand can be: an unfinished record is
 * bounded, and one runs at a time) gives up, in turn, the older half of its
 * delivery keys, its timeline, and its oldest unfinished records: the bound
 * holds whatever was stored.
 */
export function boundSiteState(s: SiteState, opts: { now: number; windowMs: number }): SiteState {
  const out: SiteState = { ...s, deliveries: s.deliveries.slice(-LIMITS.deliveries) }
  const unfinished = (r: RecycleRecord): boolean =>
    r.state === 'pending' ||
    r.state === 'running' ||
    r.state === 'waiting' ||
    r.state === 'awaiting-approval' ||
    r.verification === 'pending'
  const inWindow = (r: RecycleRecord): boolean => opts.now - Date.parse(r.createdAt) < opts.windowMs
  let recycles = s.recycles
  if (recycles.length > LIMITS.recycles) {
    const excess = recycles.length - LIMITS.recycles
    let dropped = 0
    recycles = recycles.filter((r) => {
      if (dropped < excess && !unfinished(r) && !inWindow(r)) {
        dropped++
        return false
      }
      return true
    })
  }
  out.recycles = recycles
  // Sized once, then each dropped record subtracts its own bytes (and its
  // comma): re-serialising the whole state per dropped record made a state
  // at its limit cost O(n²) on every write (a FAILURE storm: docs/benchmarks.md).
  let size = bytes(out)
  if (size <= LIMITS.siteBytes) return out
  const kept = [...recycles]
  for (let i = 0; i < kept.length && size > LIMITS.siteBytes;) {
    const r = kept[i]!
    if (unfinished(r)) {
      i++
      continue
    }
    size -= sizeOf(r) + (kept.length > 1 ? 1 : 0)
    kept.splice(i, 1)
  }
  out.recycles = kept
  if (size <= LIMITS.siteBytes) return out
  while (out.deliveries.length > 0 && bytes(out) > LIMITS.siteBytes)
    out.deliveries = out.deliveries.slice(Math.ceil(out.deliveries.length / 2))
  if (out.timeline && bytes(out) > LIMITS.siteBytes) delete out.timeline
  for (size = bytes(out); out.recycles.length > 0 && size > LIMITS.siteBytes;) {
    size -= sizeOf(out.recycles[0]!) + (out.recycles.length > 1 ? 1 : 0)
    out.recycles = out.recycles.slice(1)
  }
  return out
}
