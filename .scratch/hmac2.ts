import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
const secret = 'bench-webhook-secret-5d1e0c2b7a'
const key = createSecretKey(Buffer.from(secret))
const kbuf = Buffer.from(secret)
const body = Buffer.from(JSON.stringify({ job: 'shop-integrity', build: 12345, status: 'SUCCESS', url: 'https://jenkins.example.com/job/shop-integrity/12345/', commit: 'abcdef12'.repeat(5) }))
const ts = '1764740000'
const given = Buffer.alloc(32)
function bench(name: string, f: () => unknown) {
  for (let round = 0; round < 2; round++) {
    const N = 200000
    const t0 = process.cpuUsage()
    for (let i = 0; i < N; i++) f()
    const d = process.cpuUsage(t0)
    if (round) console.log(name, ((d.user + d.system) / N).toFixed(2))
  }
}
bench('keyobj hex', () => createHmac('sha256', key).update(`${ts}.`).update(body).digest('hex'))
bench('keyobj buf', () => createHmac('sha256', key).update(`${ts}.`).update(body).digest())
bench('buf key buf', () => createHmac('sha256', kbuf).update(`${ts}.`).update(body).digest())
bench('str key buf', () => createHmac('sha256', secret).update(`${ts}.`).update(body).digest())
bench('keyobj buf+cmp', () => timingSafeEqual(createHmac('sha256', key).update(`${ts}.`).update(body).digest(), given))
bench('hexdecode', () => Buffer.from('ab'.repeat(32), 'hex'))
bench('regex', () => /^sha256=[0-9a-fA-F]{64}$/.test('sha256=' + 'ab'.repeat(32)))
