// The webhook's HMAC (src/triggers/signature.ts): the signing key's
// one-shot HMAC-SHA256 must be createHmac's, byte for byte, for every key
// length around the block size (and far past it: hashed first) and every
// body; and verification must refuse what createHmac would not sign.

import t from 'tap'
import { createHmac, randomBytes } from 'node:crypto'
import { sign, signingKey, verifySignature } from '../../src/triggers/signature.ts'

const reference = (secret: string, ts: string, body: Buffer): string => `sha256=${createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex')}`

t.test('the signing key signs exactly as createHmac', async (t) => {
  let compared = 0
  const lengths = [0, 1, 31, 32, 63, 64, 65, 100, 128, 129, 500]
  for (const n of lengths) {
    // ASCII and multi-byte secrets: the key is the secret's UTF-8 bytes.
    for (const secret of ['k'.repeat(n), 'é'.repeat(n), randomBytes(n).toString('base64').slice(0, n)]) {
      const key = signingKey(secret)
      for (const body of [Buffer.alloc(0), Buffer.from('{}'), randomBytes(63), randomBytes(64), randomBytes(1000), Buffer.from('{"job":"ünïcode ✓"}')]) {
        const ts = String(1_700_000_000 + compared)
        t.equal(sign(key, ts, body), reference(secret, ts, body), `${n}-char secret, ${body.length}-byte body`)
        t.equal(sign(secret, ts, body), reference(secret, ts, body))
        compared++
      }
    }
  }
  t.ok(compared >= lengths.length * 18, `${compared} MACs compared`)
})

t.test('verification accepts createHmac\'s signature and refuses any other', async (t) => {
  const secret = 'bench-webhook-secret-5d1e0c2b7a'
  const key = signingKey(secret)
  const body = Buffer.from('{"job":"j","build":1,"status":"SUCCESS"}')
  const now = 1_700_000_000_000
  const ts = String(now / 1000)
  const good = reference(secret, ts, body)
  t.same(verifySignature({ secret: key, timestamp: ts, signature: good, body, nowMs: now }), { ok: true })
  t.same(verifySignature({ secret, timestamp: ts, signature: good, body, nowMs: now }), { ok: true }, 'a string secret too')
  t.same(verifySignature({ secret: key, timestamp: ts, signature: good.toUpperCase().replace('SHA256', 'sha256'), body, nowMs: now }), { ok: true }, 'hex in capitals')
  const flipped = `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`
  t.match(verifySignature({ secret: key, timestamp: ts, signature: flipped, body, nowMs: now }), { ok: false, why: 'mismatch' })
  t.match(verifySignature({ secret: signingKey(`${secret}x`), timestamp: ts, signature: good, body, nowMs: now }), { ok: false, why: 'mismatch' }, 'another key')
  t.match(verifySignature({ secret: key, timestamp: ts, signature: good, body: Buffer.from(`${body.toString()} `), nowMs: now }), { ok: false, why: 'mismatch' }, 'another body')
  t.match(verifySignature({ secret: key, timestamp: String(now / 1000 + 1), signature: good, body, nowMs: now }), { ok: false, why: 'mismatch' }, 'another timestamp')
})
