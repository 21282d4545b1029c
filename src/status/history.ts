// The in-memory record of recycles this replica has seen: what /status and
// GET /recycles/:id show. Bounded; the durable history is the Kubernetes
// Events on the workload.

import type { StrategyName } from '../config/types.ts'
import type { VerdictSource } from '../health/verdict.ts'

export type RecycleState = 'planned' | 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped'

export interface RecycleStep { at: string; message: string }

export interface RecyclePlan {
  workload: string
  strategy: StrategyName
  pods: string[]
  why: string
}

export interface RecycleRecord {
  id: string
  site: string
  target: string
  strategy: StrategyName
  trigger: { source: VerdictSource; reason: string; ref?: string; key?: string }
  commit?: string
  dryRun: boolean
  state: RecycleState
  /** Why it was skipped or failed, in plain words. */
  reason?: string
  plan?: RecyclePlan
  steps: RecycleStep[]
  createdAt: string
  finishedAt?: string
  /** After a succeeded recycle: did probing the site again show it healthy? */
  verification?: 'pending' | 'recovered' | 'recycle-did-not-help'
}

export interface History {
  add(r: RecycleRecord): void
  get(id: string): RecycleRecord | undefined
  recent(limit?: number): RecycleRecord[]
  lastFor(site: string): RecycleRecord | undefined
}

export function createHistory(size: number): History {
  const byId = new Map<string, RecycleRecord>()
  return {
    add(r) {
      byId.set(r.id, r)
      // Map keeps insertion order: the first key is the oldest.
      while (byId.size > size) byId.delete(byId.keys().next().value as string)
    },
    get: (id) => byId.get(id),
    recent(limit = 50) {
      return [...byId.values()].reverse().slice(0, limit)
    },
    lastFor(site) {
      let last: RecycleRecord | undefined
      for (const r of byId.values()) if (r.site === site) last = r
      return last
    },
  }
}
