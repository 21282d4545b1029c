// Time windows (maintenance, recycleWindows): a window opens at every match
// of its cron expression and stays open for its duration, in its time zone.
// Pure functions of the time, so the policy stays a table test and every
// replica agrees. node-cron parses the expression; matching is done here,
// a minute (or, for a six-field expression, a second) at a time.

import { parse } from 'node-cron'
import type { WindowConfig } from '../config/types.ts'

interface Fields {
  second: Set<number>
  minute: Set<number>
  hour: Set<number>
  dom: Set<number>
  lastDom: boolean
  month: Set<number>
  dow: Set<number>
  /** Standard cron: when both day fields are restricted, either matching is enough. */
  dayOr: boolean
  /** Seconds between candidate starts: 60 unless the expression names seconds. */
  stepS: number
}

/** Scans are bounded: a window this long needs at most this many steps to check. */
export const MAX_WINDOW_STEPS = 20_000
const MAX_LOOKAHEAD_DAYS = 400

const compiled = new Map<string, Fields>()

/** Parses and checks a window's cron expression; throws with a plain message. */
export function compileCron(expr: string): Fields {
  const hit = compiled.get(expr)
  if (hit) return hit
  const p = parse(expr)
  const nums = (xs: (number | string)[], what: string): Set<number> =>
    new Set(
      xs.map((x) => {
        if (typeof x !== 'number') throw new Error(`"${x}" in the ${what} field is not supported in a window`)
        return x
      }),
    )
  const lastDom = p.dayOfMonth.includes('L')
  const dom = nums(
    p.dayOfMonth.filter((x) => x !== 'L'),
    'day-of-month',
  )
  const f: Fields = {
    second: new Set(p.second),
    minute: new Set(p.minute),
    hour: new Set(p.hour),
    dom,
    lastDom,
    month: new Set(p.month),
    dow: nums(p.dayOfWeek, 'day-of-week'),
    dayOr: (lastDom || dom.size < 31) && p.dayOfWeek.length < 7,
    stepS: p.second.length === 1 && p.second[0] === 0 ? 60 : 1,
  }
  compiled.set(expr, f)
  return f
}

/** Checks a window as config/load.ts does; undefined when valid, else what is wrong. */
export function windowProblem(w: WindowConfig): string | undefined {
  let f: Fields
  try {
    f = compileCron(w.cron)
  } catch (e) {
    return `not a valid cron expression: ${JSON.stringify(w.cron)} (${(e as Error).message})`
  }
  if (w.durationMs / 1000 / f.stepS > MAX_WINDOW_STEPS)
    return `too long for this schedule (at most ${Math.floor((MAX_WINDOW_STEPS * f.stepS) / 3600)} h)`
  return undefined
}

const formats = new Map<string, Intl.DateTimeFormat>()
function fmt(tz: string): Intl.DateTimeFormat {
  let f = formats.get(tz)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    })
    formats.set(tz, f)
  }
  return f
}
const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 }

interface Local {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  dow: number
}
function local(t: number, tz: string): Local {
  const o: Record<string, string> = {}
  for (const p of fmt(tz).formatToParts(new Date(t))) o[p.type] = p.value
  return {
    year: Number(o.year),
    month: Number(o.month),
    day: Number(o.day),
    hour: Number(o.hour),
    minute: Number(o.minute),
    second: Number(o.second),
    dow: WEEKDAYS[o.weekday!] ?? 0,
  }
}

function dayMatches(f: Fields, l: Local): boolean {
  const last = new Date(Date.UTC(l.year, l.month, 0)).getUTCDate()
  const domOk = f.dom.has(l.day) || (f.lastDom && l.day === last)
  const dowOk = f.dow.has(l.dow)
  return f.dayOr ? domOk || dowOk : domOk && dowOk
}

/** Does the expression match the start of this second (or minute)? */
function matchesAt(f: Fields, l: Local): boolean {
  return (
    f.month.has(l.month) &&
    dayMatches(f, l) &&
    f.hour.has(l.hour) &&
    f.minute.has(l.minute) &&
    f.second.has(f.stepS === 60 ? 0 : l.second)
  )
}

const tzOf = (w: WindowConfig): string => w.timezone ?? 'UTC'

/** The start of the window open at `now`, if one is. */
export function openWindowStart(w: WindowConfig, now: number): number | undefined {
  const f = compileCron(w.cron)
  const step = f.stepS * 1000
  const first = Math.floor(now / step) * step
  // Backwards, skipping whole days and hours that cannot match (with an
  // hour's margin for a daylight-saving day, as nextWindowStart does).
  for (let t = first; t > now - w.durationMs;) {
    const l = local(t, tzOf(w))
    if (!f.month.has(l.month) || !dayMatches(f, l)) {
      const back = (l.hour * 3600 + l.minute * 60 + l.second) * 1000
      t -= back > 3_600_000 ? back - 3_600_000 : back + step
      continue
    }
    if (!f.hour.has(l.hour)) {
      t -= (l.minute * 60 + l.second) * 1000 + step
      continue
    }
    if (f.stepS === 1 && !f.minute.has(l.minute)) {
      t -= l.second * 1000 + step
      continue
    }
    if (matchesAt(f, l)) return t
    t -= step
  }
  return undefined
}

/** The next time the window opens after `now` (within about a year), skipping whole hours and days that cannot match. */
export function nextWindowStart(w: WindowConfig, now: number): number | undefined {
  const f = compileCron(w.cron)
  const step = f.stepS * 1000
  let t = Math.floor(now / step) * step + step
  const end = now + MAX_LOOKAHEAD_DAYS * 86_400_000
  while (t < end) {
    const l = local(t, tzOf(w))
    if (!f.month.has(l.month) || !dayMatches(f, l)) {
      // To the local midnight, less an hour: a day with a daylight-saving
      // change (at night, not in its last hour) is 23 or 25 hours long; the
      // next turn finishes it.
      const toMidnight = ((23 - l.hour) * 3600 + (59 - l.minute) * 60 + (60 - l.second)) * 1000
      t += toMidnight > 3_600_000 ? toMidnight - 3_600_000 : toMidnight
      continue
    }
    if (!f.hour.has(l.hour)) {
      t += ((59 - l.minute) * 60 + (60 - l.second)) * 1000
      continue
    }
    if (f.stepS === 1 && !f.minute.has(l.minute)) {
      t += (60 - l.second) * 1000
      continue
    }
    if (matchesAt(f, l)) return t
    t += step
  }
  return undefined
}

export interface WindowView {
  /** The window open now, with its end. */
  open?: { from: string; until: string }
  /** When the next one opens. */
  next?: string
}

/** Which of `windows` is open at `now` (the one that ends last), and when the next one opens. */
export function windowsAt(windows: WindowConfig[], now: number): WindowView {
  let until: number | undefined
  let from: number | undefined
  let next: number | undefined
  for (const w of windows) {
    const start = openWindowStart(w, now)
    if (start !== undefined && (until === undefined || start + w.durationMs > until)) {
      until = start + w.durationMs
      from = start
    }
    const n = nextWindowStart(w, now)
    if (n !== undefined && (next === undefined || n < next)) next = n
  }
  return {
    ...(until !== undefined
      ? { open: { from: new Date(from!).toISOString(), until: new Date(until).toISOString() } }
      : {}),
    ...(next !== undefined ? { next: new Date(next).toISOString() } : {}),
  }
}
