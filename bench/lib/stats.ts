// Numbers for the benchmarks: a small latency histogram (constant memory, so
// it does not weigh on the peak RSS it sits next to), medians with min–max
// over runs, and ratios.

/** Sub-buckets per power of two: ~1.1 % resolution. */
const SUB = 64
const BUCKETS = 40 * SUB

/** Latencies in milliseconds, kept as microsecond log buckets. */
export class Histogram {
  counts = new Uint32Array(BUCKETS)
  n = 0
  max = 0

  record(ms: number): void {
    const us = ms * 1000
    let i = Math.floor(Math.log2(us + 1) * SUB)
    if (i < 0) i = 0
    else if (i >= BUCKETS) i = BUCKETS - 1
    this.counts[i]!++
    this.n++
    if (ms > this.max) this.max = ms
  }

  /** The latency (ms) below which `p` percent of the samples fall. */
  percentile(p: number): number {
    if (this.n === 0) return NaN
    const want = Math.max(1, Math.ceil((p / 100) * this.n))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!
      if (seen >= want) {
        // Middle of the bucket, back in milliseconds.
        const lo = 2 ** (i / SUB) - 1
        const hi = 2 ** ((i + 1) / SUB) - 1
        return Math.min(this.max, (lo + hi) / 2 / 1000)
      }
    }
    return this.max
  }
}

export interface Spread {
  median: number
  min: number
  max: number
  n: number
}

export function spread(values: number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 }
  const mid = v.length >> 1
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length }
}

/** `1,234` / `12.3` / `0.061`: three significant digits, thousands separated. */
export function num(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return 'n/a'
  const abs = Math.abs(x)
  if (abs >= 1000 || Number.isInteger(x)) return Math.round(x).toLocaleString('en-US')
  if (abs === 0) return '0'
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)))
  return x.toFixed(Math.min(decimals, 4))
}

/** `2,610 (2,540–2,700)` for a spread over several runs; just the number for one. */
export function fmtSpread(s: Spread, digits = 3): string {
  if (s.n === 0) return 'n/a'
  if (s.n === 1 || s.min === s.max) return num(s.median, digits)
  return `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`
}

export function ratio(a: number, b: number): number {
  return b === 0 || !Number.isFinite(a) || !Number.isFinite(b) ? NaN : a / b
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a'
}

/** Columns holding figures only (aligned right); the first column never is. */
function figureColumns(head: string[], rows: string[][]): boolean[] {
  return head.map((_, i) => i > 0 && rows.every((r) => /^([+-]?[\d.,]+|—|n\/a|)(\s|%|×|\/|$)/.test(r[i] ?? '')))
}

/** A plain-text table: columns of figures aligned right, words left. */
export function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const figures = figureColumns(head, rows)
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (figures[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** The same table in Markdown. */
export function markdownTable(head: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|')
  const figures = figureColumns(head, rows)
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `|${figures.map((f) => (f ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n')
}

export interface TargetCheck {
  name: string
  met: boolean
  /** e.g. `2.41× blackbox (target ≥ 2×)`. */
  detail: string
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
