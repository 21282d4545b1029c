// The webhook's HMAC (src/triggers/signature.ts) is the standard primitive:
// crypto.createHmac, compared with timingSafeEqual; no hand-made HMAC from
// padded keys. Signing matches createHmac byte for byte for every key
// length around SHA-256's block size, and verification refuses what
// createHmac would not sign.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { createHmac, randomBytes } from 'node:crypto'
import { sign, verifySignature } from '../../src/triggers/signature.ts'

const reference = (secret: string, ts: string, body: Buffer): string =>
  `sha256=${createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex')}`

t.test('signature.ts uses createHmac and timingSafeEqual, not a hand-made HMAC', async (t) => {
  const src = readFileSync(new URL('../../src/triggers/signature.ts', import.meta.url), 'utf8')
  t.match(src, /\bcreateHmac\(/, "the MAC is createHmac's")
  t.match(src, /\btimingSafeEqual\(/, 'compared in constant time')
  t.notMatch(src, /0x36|0x5c|ipad|opad/i, 'no padded keys of a hand-made HMAC')
  t.notMatch(src, /export function signingKey|SigningKey/, 'no precomputed signing key')
})

t.test('signing is createHmac, byte for byte', async (t) => {
  const lengths = [0, 1, 31, 32, 63, 64, 65, 100, 128, 129, 500]
  for (const n of lengths) {
    // ASCII and multi-byte secrets: the key is the secret's UTF-8 bytes.
    for (const secret of ['k'.repeat(n), 'é'.repeat(n), randomBytes(n).toString('base64').slice(0, n)]) {
      for (const body of [
        Buffer.alloc(0),
        Buffer.from('{}'),
        randomBytes(64),
        randomBytes(1000),
        Buffer.from('{"job":"ünïcode ✓"}'),
      ]) {
        const ts = '1700000000'
        t.equal(sign(secret, ts, body), reference(secret, ts, body), `${n}-char secret, ${body.length}-byte body`)
        t.equal(
          sign(secret, ts, body.toString('utf8')),
          reference(secret, ts, Buffer.from(body.toString('utf8'), 'utf8')),
          'a string body is its UTF-8 bytes',
        )
      }
    }
  }
})

t.test("verification accepts createHmac's signature and refuses any other", async (t) => {
  const secret = 'bench-webhook-secret-5d1e0c2b7a'
  const body = Buffer.from('{"job":"j","build":1,"status":"SUCCESS"}')
  const now = 1_700_000_000_000
  const ts = String(now / 1000)
  const good = reference(secret, ts, body)
  t.same(verifySignature({ secret, timestamp: ts, signature: good, body, nowMs: now }), { ok: true })
  t.same(
    verifySignature({
      secret,
      timestamp: ts,
      signature: good.toUpperCase().replace('SHA256', 'sha256'),
      body,
      nowMs: now,
    }),
    { ok: true },
    'hex in capitals',
  )
  const flipped = `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`
  t.match(verifySignature({ secret, timestamp: ts, signature: flipped, body, nowMs: now }), {
    ok: false,
    why: 'mismatch',
  })
  t.match(
    verifySignature({ secret: `${secret}x`, timestamp: ts, signature: good, body, nowMs: now }),
    { ok: false, why: 'mismatch' },
    'another key',
  )
  t.match(
    verifySignature({ secret, timestamp: ts, signature: good, body: Buffer.from(`${body.toString()} `), nowMs: now }),
    { ok: false, why: 'mismatch' },
    'another body',
  )
  t.match(
    verifySignature({ secret, timestamp: String(now / 1000 + 1), signature: good, body, nowMs: now }),
    { ok: false, why: 'mismatch' },
    'another timestamp',
  )
  t.match(
    verifySignature({
      secret,
      timestamp: String(now / 1000 - 301),
      signature: reference(secret, String(now / 1000 - 301), body),
      body,
      nowMs: now,
    }),
    { ok: false, why: 'stale' },
  )
  t.match(
    verifySignature({
      secret,
      timestamp: String(now / 1000 + 301),
      signature: reference(secret, String(now / 1000 + 301), body),
      body,
      nowMs: now,
    }),
    { ok: false, why: 'future' },
  )
  t.match(verifySignature({ secret, timestamp: 'x', signature: good, body, nowMs: now }), {
    ok: false,
    why: 'malformed',
  })
  t.match(verifySignature({ secret, timestamp: ts, signature: 'sha256=abc', body, nowMs: now }), {
    ok: false,
    why: 'malformed',
  })
  t.match(verifySignature({ secret, timestamp: undefined, signature: good, body, nowMs: now }), {
    ok: false,
    why: 'missing',
  })
})
