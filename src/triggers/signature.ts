// The webhook's HMAC contract: X-Recycler-Signature is
// `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` and
// X-Recycler-Timestamp is unix seconds within a window. Comparisons are
// constant-time. `kube-recycler report` signs with the same function.

import { hash, timingSafeEqual, createHash } from 'node:crypto'

export const SIGNATURE_WINDOW_S = 300

const BLOCK = 64 // SHA-256's block size

/**
 * The secret as HMAC-SHA256's two padded keys (RFC 2104: K xor ipad, K xor
 * opad; a key longer than a block is hashed first), made once. Verifying
 * with them is two one-shot SHA-256 hashes: the same MAC as createHmac
 * (test/unit/signature.test.ts compares them), without an Hmac object, its
 * key set-up and the native handle the garbage collector must finalize on
 * every delivery (the largest single share of a webhook's CPU:
 * docs/benchmarks.md).
 */
export interface SigningKey { readonly inner: Buffer; readonly outer: Buffer }

export function signingKey(secret: string): SigningKey {
  let k = Buffer.from(secret, 'utf8')
  if (k.length > BLOCK) k = createHash('sha256').update(k).digest()
  const inner = Buffer.alloc(BLOCK, 0x36)
  const outer = Buffer.alloc(BLOCK, 0x5c)
  for (let i = 0; i < k.length; i++) {
    inner[i]! ^= k[i]!
    outer[i]! ^= k[i]!
  }
  return { inner, outer }
}

/** HMAC-SHA256 of `timestamp.body` under a signing key. */
function mac(key: SigningKey, timestamp: string, body: Buffer): Buffer {
  const inner = hash('sha256', Buffer.concat([key.inner, Buffer.from(`${timestamp}.`, 'utf8'), body]), 'buffer')
  return hash('sha256', Buffer.concat([key.outer, inner]), 'buffer')
}

/** Given a string (the CLI, notifications: once per message), the key is made for this call. */
export function sign(secret: string | SigningKey, timestamp: string | number, body: Buffer | string): string {
  const key = typeof secret === 'string' ? signingKey(secret) : secret
  return `sha256=${mac(key, String(timestamp), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')).toString('hex')}`
}

export type SignatureResult = { ok: true } | { ok: false; why: 'missing' | 'malformed' | 'stale' | 'future' | 'mismatch'; message: string }

export function verifySignature(opts: {
  secret: string | SigningKey
  timestamp: string | undefined
  signature: string | undefined
  body: Buffer
  nowMs: number
  windowS?: number
}): SignatureResult {
  const windowS = opts.windowS ?? SIGNATURE_WINDOW_S
  if (opts.timestamp === undefined || opts.signature === undefined) {
    return { ok: false, why: 'missing', message: 'X-Recycler-Timestamp and X-Recycler-Signature are both required' }
  }
  if (!/^\d{1,12}$/.test(opts.timestamp)) {
    return { ok: false, why: 'malformed', message: 'X-Recycler-Timestamp must be unix seconds' }
  }
  if (!/^sha256=[0-9a-fA-F]{64}$/.test(opts.signature)) {
    return { ok: false, why: 'malformed', message: 'X-Recycler-Signature must be sha256=<64 hex digits>' }
  }
  const skew = Number(opts.timestamp) - Math.floor(opts.nowMs / 1000)
  if (skew < -windowS) return { ok: false, why: 'stale', message: `the timestamp is more than ${windowS} s old` }
  if (skew > windowS) return { ok: false, why: 'future', message: `the timestamp is more than ${windowS} s in the future` }
  const expected = mac(typeof opts.secret === 'string' ? signingKey(opts.secret) : opts.secret, opts.timestamp, opts.body)
  const given = Buffer.from(opts.signature.slice(7), 'hex')
  if (!timingSafeEqual(expected, given)) return { ok: false, why: 'mismatch', message: 'the signature does not match the body' }
  return { ok: true }
}

/** Constant-time string comparison that does not leak the length. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb) && a.length === b.length
}
