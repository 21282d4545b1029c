import { createHmac, createSecretKey, hash } from 'node:crypto'
const v = process.argv[2]
const secret = Buffer.from('bench-webhook-secret-5d1e0c2b7a')
const key = createSecretKey(secret)
const block = Buffer.alloc(64); secret.copy(block)
const ipad = Buffer.from(block.map((b) => b ^ 0x36)); const opad = Buffer.from(block.map((b) => b ^ 0x5c))
const body = Buffer.from(JSON.stringify({ job: 'shop-integrity', build: 12345, status: 'SUCCESS', url: 'https://jenkins.example.com/job/shop-integrity/12345/', commit: 'abcdef12'.repeat(5) }))
const ts = '1764740000'
const f = v === 'oneshot' ? () => hash('sha256', Buffer.concat([opad, hash('sha256', Buffer.concat([ipad, Buffer.from(`${ts}.`), body]), 'buffer')]), 'buffer')
  : v === 'keyobj' ? () => createHmac('sha256', key).update(`${ts}.`).update(body).digest()
  : v === 'string' ? () => createHmac('sha256', 'bench-webhook-secret-5d1e0c2b7a').update(`${ts}.`).update(body).digest()
  : () => createHmac('sha256', secret).update(`${ts}.`).update(body).digest()
// interleave with garbage, like a server does
let junk: unknown[] = []
for (let round = 0; round < 4; round++) {
  const N = 100000
  const t0 = process.cpuUsage()
  for (let i = 0; i < N; i++) { f(); if (process.argv[3]) { junk.push({ a: i, b: String(i), c: [i] }); if (junk.length > 1000) junk = [] } }
  const d = process.cpuUsage(t0)
  if (round) process.stdout.write(`${v} ${((d.user + d.system) / N).toFixed(2)}  `)
}
console.log()
