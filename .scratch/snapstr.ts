import { readFileSync } from 'node:fs'
const s = JSON.parse(readFileSync(process.argv[2]!, 'utf8'))
const m = s.snapshot.meta, nf = m.node_fields, nt = m.node_types[0]
const N = nf.length, ti = nf.indexOf('type'), ni = nf.indexOf('name'), si = nf.indexOf('self_size')
const rows: [number, string][] = []
let small = 0
for (let i = 0; i < s.nodes.length; i += N) {
  if (nt[s.nodes[i + ti]] !== 'string') continue
  const size = s.nodes[i + si]; const name: string = s.strings[s.nodes[i + ni]]
  if (size > 20000) rows.push([size, name.slice(0, 100).replace(/\n/g, ' ')]); else small += size
}
rows.sort((a, b) => b[0] - a[0])
console.log('strings >20KB:', rows.length, (rows.reduce((n, r) => n + r[0], 0) / 2 ** 20).toFixed(2), 'MB; small', (small / 2 ** 20).toFixed(2))
for (const [sz, n] of rows.slice(0, 40)) console.log((sz / 1024).toFixed(0).padStart(6), 'KB', n)
