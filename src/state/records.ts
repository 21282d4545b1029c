// Small pure helpers over the recycles kept in a site's state.

import type { RecycleRecord, RecycleStep, SiteState } from './schema.ts'

export const findRecord = (s: SiteState, id: string): RecycleRecord | undefined => s.recycles.find((r) => r.id === id)

/** The state with record `id` replaced by `r` (appended when new). */
export function putRecord(s: SiteState, r: RecycleRecord): SiteState {
  const i = s.recycles.findIndex((x) => x.id === r.id)
  const recycles = i < 0 ? [...s.recycles, r] : [...s.recycles.slice(0, i), r, ...s.recycles.slice(i + 1)]
  return { ...s, recycles }
}

export const step = (at: number, message: string): RecycleStep => ({ at: new Date(at).toISOString(), message })
