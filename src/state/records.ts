// Small pure helpers over the recycles kept in a site's state, and what makes
// a stored record one the service could have written.

import type { SiteConfig } from '../config/types.ts'
import type { RecycleRecord, RecycleStep, SiteState } from './schema.ts'

export const findRecord = (s: SiteState, id: string): RecycleRecord | undefined => s.recycles.find((r) => r.id === id)

/** The state with record `id` replaced by `r` (appended when new). */
export function putRecord(s: SiteState, r: RecycleRecord): SiteState {
  const i = s.recycles.findIndex((x) => x.id === r.id)
  const recycles = i < 0 ? [...s.recycles, r] : [...s.recycles.slice(0, i), r, ...s.recycles.slice(i + 1)]
  return { ...s, recycles }
}

export const step = (at: number, message: string): RecycleStep => ({ at: new Date(at).toISOString(), message })

/**
 * What the schema cannot say about a record (it needs the site's config):
 * it belongs to this site, its strategy is one this site can run, its times
 * are times. Undefined when the record is sound.
 */
export function recordProblem(r: RecycleRecord, site: SiteConfig): string | undefined {
  if (r.site !== site.name) return `it names site "${r.site}", but is kept in the state of "${site.name}"`
  if (r.strategy === 'rollout' && !('name' in site.target))
    return `strategy "rollout" needs a named workload; site "${site.name}" targets a selector`
  for (const [field, value] of [
    ['createdAt', r.createdAt],
    ['startAt', r.startAt],
  ] as const) {
    if (value !== undefined && Number.isNaN(Date.parse(value))) return `${field} is not a time`
  }
  return undefined
}
