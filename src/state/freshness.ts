// How fresh a site's last verdict is, when nothing about it changed. Pure.
//
// A probe that says again what the site's stored verdict says changes no
// decision, so it is not written to the site's state (a write of the whole
// state, sent by watch to every replica, for nothing). The leader notes it
// instead, and once a minute writes one small heartbeat object for the whole
// service (state/heartbeat.ts): per site, "the stored verdict of <of> was
// said again, last at <at>, <n> times". Every replica reads the last verdict
// time and the timeline's last run from it, as Kubernetes reads a node's
// liveness from its Lease instead of a rewrite of the node's status.
//
// A confirmation names the stored verdict it repeats (`of`, its time): once
// the site's state is written with another verdict, the confirmation is
// obsolete and ignored, so nothing is counted twice.

import type { Verdict } from '../health/verdict.ts'
import type { SiteState, TimelineRun } from './schema.ts'

/** The stored verdict of time `of` (unix ms) was said again `n` times, the last at `at` (unix ms). */
export interface Confirmation {
  of: number
  at: number
  n: number
}

/** What the intake needs of the heartbeat: note a repeat, and read the freshest confirmation to fold in when it writes. */
export interface Confirmations {
  /** A verdict that said again what `stored` says, and was not written. */
  confirm(site: string, stored: SiteState, v: Verdict): void
  /** The freshest confirmation of `s`'s stored verdict this replica knows (its own notes, or the heartbeat object). */
  latest(site: string, s: SiteState): Confirmation | undefined
}

/** The heartbeat object: who wrote it, when, and the confirmations, per site. */
export interface HeartbeatDoc {
  at: number
  by: string
  sites: Map<string, Confirmation>
}

/**
 * Does `v` tell the same story as the stored verdict `lv`: same outcome,
 * summary and, per check, the same name, outcome, status, cause and
 * warnings, and the same per-pod results? Latency and times may differ
 * (they do on every probe).
 */
export function sameStory(lv: Verdict, v: Verdict): boolean {
  if (lv.ok !== v.ok || lv.source !== v.source || lv.summary !== v.summary || lv.checks.length !== v.checks.length)
    return false
  for (let i = 0; i < v.checks.length; i++) {
    const a = lv.checks[i]!
    const b = v.checks[i]!
    if (a.name !== b.name || a.ok !== b.ok || a.status !== b.status || a.cause !== b.cause || a.message !== b.message)
      return false
    if ((a.warnings ?? []).join('\n') !== (b.warnings ?? []).join('\n')) return false
  }
  // The per-pod results are the story too: a replaced pod, another commit, another failure.
  return JSON.stringify(lv.pods) === JSON.stringify(v.pods)
}

/** The confirmation `c`, when it repeats `s`'s stored verdict and is newer than it. */
export function validFor(s: SiteState, c: Confirmation | undefined): Confirmation | undefined {
  if (!c || !s.lastVerdict) return undefined
  const of = Date.parse(s.lastVerdict.at)
  return c.of === of && c.at > of ? c : undefined
}

/** The later of two confirmations of the same verdict (either may be absent). */
export function fresher(a: Confirmation | undefined, b: Confirmation | undefined): Confirmation | undefined {
  if (!a) return b
  if (!b) return a
  if (a.of !== b.of) return a.of > b.of ? a : b
  return a.at >= b.at ? a : b
}

/** One more repeat of `stored`'s verdict at `at`, counted on `prev` (a note of this replica, or the heartbeat's). */
export function noteRepeat(prev: Confirmation | undefined, stored: SiteState, at: number): Confirmation | undefined {
  if (!stored.lastVerdict) return undefined
  const of = Date.parse(stored.lastVerdict.at)
  if (!(at > of)) return undefined
  const base = prev && prev.of === of ? prev : undefined
  return { of, at: Math.max(at, base?.at ?? 0), n: (base?.n ?? 0) + 1 }
}

/** The timeline with its last run stretched over the confirmed repeats of the stored verdict. */
export function foldTimeline<T extends readonly TimelineRun[] | undefined>(
  timeline: T,
  s: SiteState,
  c: Confirmation | undefined,
): T | TimelineRun[] {
  const ok = validFor(s, c)
  const last = timeline?.at(-1)
  if (!ok || !timeline || !last || !s.lastVerdict) return timeline
  // Only the run the stored verdict closes: its `to` is that verdict's time.
  if (last.to !== s.lastVerdict.at || last.ok !== s.lastVerdict.ok || last.source !== s.lastVerdict.source)
    return timeline
  return [...timeline.slice(0, -1), { ...last, to: new Date(ok.at).toISOString(), count: last.count + ok.n }]
}

/** The site's last verdict as /status shows it: the stored one, at the time it was last said again. */
export function freshVerdict(s: SiteState, c: Confirmation | undefined): Verdict | undefined {
  const ok = validFor(s, c)
  if (!s.lastVerdict || !ok) return s.lastVerdict
  return { ...s.lastVerdict, at: new Date(ok.at).toISOString() }
}

// The object's text: small, because it is written every minute and sent to
// every replica. Per site [of, at - of, n], times in unix ms.
interface Wire {
  v: 1
  at: number
  by: string
  sites: Record<string, [number, number, number]>
}

export function encodeHeartbeat(doc: HeartbeatDoc): string {
  const sites: Wire['sites'] = {}
  for (const [name, c] of [...doc.sites].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    sites[name] = [c.of, c.at - c.of, c.n]
  const w: Wire = { v: 1, at: doc.at, by: doc.by, sites }
  return JSON.stringify(w)
}

const isInt = (x: unknown): x is number => Number.isSafeInteger(x)

/** undefined for an empty or foreign object (a hand edit): it is replaced by the next heartbeat. */
export function decodeHeartbeat(text: string): HeartbeatDoc | undefined {
  if (text === '') return undefined
  try {
    const w = JSON.parse(text) as Partial<Wire>
    if (w.v !== 1 || !isInt(w.at) || typeof w.by !== 'string' || typeof w.sites !== 'object' || w.sites === null)
      return undefined
    const sites = new Map<string, Confirmation>()
    for (const [name, e] of Object.entries(w.sites)) {
      if (!Array.isArray(e) || e.length !== 3 || !isInt(e[0]) || !isInt(e[1]) || !isInt(e[2]) || e[1] <= 0 || e[2] < 1)
        return undefined
      sites.set(name, { of: e[0], at: e[0] + e[1], n: e[2] })
    }
    return { at: w.at, by: w.by, sites }
  } catch {
    return undefined
  }
}

/** Same confirmations (the heartbeat's own time aside): nothing new to write. */
export function sameSites(a: ReadonlyMap<string, Confirmation>, b: ReadonlyMap<string, Confirmation>): boolean {
  if (a.size !== b.size) return false
  for (const [k, x] of a) {
    const y = b.get(k)
    if (!y || y.of !== x.of || y.at !== x.at || y.n !== x.n) return false
  }
  return true
}
