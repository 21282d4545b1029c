// Durations in the config are written as humans write them ("90s", "10m",
// "1h30m") or as a number of milliseconds. Everything inside works in ms.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y

export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input : undefined
  const s = input.trim()
  if (s === '') return undefined
  if (/^\d+$/.test(s)) return Number(s)
  let total = 0
  PART.lastIndex = 0
  let pos = 0
  while (pos < s.length) {
    PART.lastIndex = pos
    const m = PART.exec(s)
    if (!m) return undefined
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0)
    pos = PART.lastIndex
  }
  return Math.round(total)
}
