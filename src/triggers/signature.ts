// The webhook's HMAC contract: X-Recycler-Signature is
// `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` and
// X-Recycler-Timestamp is unix seconds within a window. Comparisons are
// constant-time. `kube-recycler report` signs with the same function.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_WINDOW_S = 300

/** HMAC-SHA256 of `timestamp.body`. */
function mac(secret: string, timestamp: string, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest()
}

export function sign(secret: string, timestamp: string | number, body: Buffer | string): string {
  return `sha256=${mac(secret, String(timestamp), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')).toString('hex')}`
}

export type SignatureResult =
  { ok: true } | { ok: false; why: 'missing' | 'malformed' | 'stale' | 'future' | 'mismatch'; message: string }

export function verifySignature(opts: {
  secret: string
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
  if (skew > windowS)
    return { ok: false, why: 'future', message: `the timestamp is more than ${windowS} s in the future` }
  const expected = mac(opts.secret, opts.timestamp, opts.body)
  const given = Buffer.from(opts.signature.slice(7), 'hex')
  if (!timingSafeEqual(expected, given))
    return { ok: false, why: 'mismatch', message: 'the signature does not match the body' }
  return { ok: true }
}

/** Constant-time string comparison that does not leak the length. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb) && a.length === b.length
}
