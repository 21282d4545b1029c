// The cluster-wide record of a workload's last recycle, kept in the
// annotation `kube-recycler.io/last-recycle` and written with the
// resourceVersion precondition: it is the lock (two replicas never act at
// once), the cooldown (shared by every replica), and the last outcome.

export const LAST_RECYCLE_ANNOTATION = 'kube-recycler.io/last-recycle'

export interface LastRecycle {
  id: string
  /** ISO time the recycle took the lock. */
  at: string
  commit?: string
  reason: string
  trigger: string
  /** The trigger's idempotency key (jenkins:<job>#<build>@<site>): the same failure acts once. */
  key?: string
  strategy: string
  outcome: 'running' | 'succeeded' | 'failed'
  finishedAt?: string
  /** Which replica holds it. */
  holder?: string
}

export function parseLastRecycle(annotations: Record<string, string>): LastRecycle | undefined {
  const raw = annotations[LAST_RECYCLE_ANNOTATION]
  if (!raw) return undefined
  try {
    const v = JSON.parse(raw) as Partial<LastRecycle>
    if (typeof v.id !== 'string' || typeof v.at !== 'string' || Number.isNaN(Date.parse(v.at))) return undefined
    return {
      id: v.id,
      at: v.at,
      reason: typeof v.reason === 'string' ? v.reason : '',
      trigger: typeof v.trigger === 'string' ? v.trigger : 'unknown',
      strategy: typeof v.strategy === 'string' ? v.strategy : 'unknown',
      outcome: v.outcome === 'running' || v.outcome === 'succeeded' || v.outcome === 'failed' ? v.outcome : 'failed',
      ...(typeof v.commit === 'string' ? { commit: v.commit } : {}),
      ...(typeof v.key === 'string' ? { key: v.key } : {}),
      ...(typeof v.finishedAt === 'string' ? { finishedAt: v.finishedAt } : {}),
      ...(typeof v.holder === 'string' ? { holder: v.holder } : {}),
    }
  } catch {
    // A hand-edited or foreign value is not a lock; the next recycle overwrites it.
    return undefined
  }
}

export type LockVerdict = { ok: true } | { ok: false; reason: string }

/** May a new recycle take the lock, given what the annotation says? */
export function mayTakeLock(
  last: LastRecycle | undefined,
  req: { id: string; key?: string; now: number; cooldownMs: number; timeoutMs: number },
): LockVerdict {
  if (!last || last.id === req.id) return { ok: true }
  const age = req.now - Date.parse(last.at)
  if (req.key !== undefined && last.key === req.key) {
    return { ok: false, reason: `duplicate: ${req.key} already caused recycle ${last.id}` }
  }
  if (last.outcome === 'running' && age < req.timeoutMs + 60_000) {
    return {
      ok: false,
      reason: `another recycle (${last.id}${last.holder ? ` by ${last.holder}` : ''}) has been running for ${Math.round(age / 1000)} s`,
    }
  }
  if (age < req.cooldownMs) {
    return {
      ok: false,
      reason: `cooldown: the last recycle (${last.id}, ${last.outcome}) started ${Math.round(age / 1000)} s ago (cooldown ${Math.round(req.cooldownMs / 1000)} s)`,
    }
  }
  return { ok: true }
}
