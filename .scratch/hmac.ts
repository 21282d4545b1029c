import { sign, signingKey, verifySignature } from '../src/triggers/signature.ts'
const secret = 'bench-webhook-secret-5d1e0c2b7a'
const key = signingKey(secret)
const body = Buffer.from(JSON.stringify({ job: 'shop-integrity', build: 12345, status: 'SUCCESS', url: 'https://jenkins.example.com/job/shop-integrity/12345/', commit: 'abcdef12'.repeat(5) }))
const ts = String(Math.floor(Date.now() / 1000))
const sig = sign(secret, ts, body.toString())
for (let round = 0; round < 3; round++) {
  const N = 200000
  const t0 = process.cpuUsage()
  for (let i = 0; i < N; i++) {
    const r = verifySignature({ secret: key, timestamp: ts, signature: sig, body, nowMs: Date.now() })
    if (!r.ok) throw new Error('bad')
  }
  const d = process.cpuUsage(t0)
  console.log('verify µs', ((d.user + d.system) / N).toFixed(2))
}
