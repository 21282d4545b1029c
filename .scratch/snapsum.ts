import { readFileSync } from 'node:fs'
const s = JSON.parse(readFileSync(process.argv[2]!, 'utf8'))
const m = s.snapshot.meta, nf = m.node_fields, nt = m.node_types[0], ef = m.edge_fields
const N = nf.length, ti = nf.indexOf('type'), ni = nf.indexOf('name'), si = nf.indexOf('self_size'), eci = nf.indexOf('edge_count')
const by = new Map<string, [number, number]>()
let total = 0
for (let i = 0; i < s.nodes.length; i += N) {
  const type = nt[s.nodes[i + ti]]; let name = s.strings[s.nodes[i + ni]]
  const size = s.nodes[i + si]; total += size
  const k = type === 'object' || type === 'closure' || type === 'native' ? `${type}:${name.slice(0, 60)}` : type === 'code' ? `code:${name.slice(0, 40)}` : type
  const e = by.get(k) ?? [0, 0]; e[0] += size; e[1]++; by.set(k, e)
}
console.log('total MB', (total / 2 ** 20).toFixed(1))
for (const [k, [sz, n]] of [...by].sort((a, b) => b[1][0] - a[1][0]).slice(0, 40)) console.log((sz / 2 ** 20).toFixed(2).padStart(7), String(n).padStart(8), k)
