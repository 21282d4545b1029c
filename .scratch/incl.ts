import { readFileSync } from 'node:fs'
const p = JSON.parse(readFileSync(process.argv[2]!, 'utf8'))
const byId = new Map<number, any>(p.nodes.map((n: any) => [n.id, n]))
const self = new Map<number, number>()
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0))
const parent = new Map<number, number>()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const key = (n: any) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/src\//, 'src/')}:${n.callFrame.lineNumber + 1}`
const incl = new Map<string, number>()
let total = 0
for (const [id, t] of self) {
  const n0 = byId.get(id)
  if (n0.callFrame.functionName === '(idle)') continue
  total += t
  const seen = new Set<string>()
  for (let id2: number | undefined = id; id2 !== undefined; id2 = parent.get(id2)) {
    const k = key(byId.get(id2)); if (seen.has(k)) continue; seen.add(k)
    incl.set(k, (incl.get(k) ?? 0) + t)
  }
}
const pat = new RegExp(process.argv[3] ?? '.')
console.log('total busy ms', (total / 1000).toFixed(0))
for (const [k, t] of [...incl].filter(([k]) => pat.test(k)).sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[4] ?? 45))) console.log((t / 1000).toFixed(0).padStart(6), (100 * t / total).toFixed(1).padStart(5) + '%', k)
