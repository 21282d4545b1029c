// The per-site health state machine. It turns a stream of verdicts into
// "healthy", "failing" or "unknown", and decides when a failure is real
// enough to ask for a recycle: `failureThreshold` consecutive failing
// verdicts, once per failure episode. A recovery never asks for a restart.

import type { SiteConfig } from '../config/types.ts'
import type { Verdict } from './verdict.ts'

export type Health = 'healthy' | 'failing' | 'unknown'

export interface Episode {
  /** When the site became failing. */
  since: string
  /** A recycle for this episode is running. */
  recycleActive: boolean
  /** A recycle for this episode finished (succeeded or failed). */
  recycled: boolean
  /** The site still failed after a recycle: no more automatic ones. */
  didNotHelp: boolean
}

export interface SiteHealth {
  health: Health
  consecutiveFailures: number
  consecutiveSuccesses: number
  lastVerdict?: Verdict
  lastJenkinsAt?: string
  episode?: Episode
}

export interface Observation {
  health: Health
  /** Ask the policy for a recycle. */
  recycle: boolean
  /** Why (not): shown in the webhook answer and the log. */
  reason: string
  transition: 'none' | 'became-failing' | 'recovered'
}

export interface HealthBook {
  get(site: string): SiteHealth
  observe(site: SiteConfig, verdict: Verdict): Observation
  recycleStarted(site: string): void
  /** `ran`: the recycle acted on the cluster; false when it was skipped. */
  recycleFinished(site: string, ran: boolean): void
  /** An operator recycle lifts the did-not-help stop. */
  operatorRecycled(site: string): void
  /** The probe run after a recycle: ok → healthy; failing → no more automatic recycles. */
  verified(site: string, ok: boolean): void
  all(): Map<string, SiteHealth>
}

export function createHealthBook(siteNames: string[]): HealthBook {
  const book = new Map<string, SiteHealth>()
  for (const n of siteNames) book.set(n, { health: 'unknown', consecutiveFailures: 0, consecutiveSuccesses: 0 })
  const get = (site: string): SiteHealth => {
    let h = book.get(site)
    if (!h) {
      h = { health: 'unknown', consecutiveFailures: 0, consecutiveSuccesses: 0 }
      book.set(site, h)
    }
    return h
  }

  return {
    get,
    all: () => book,
    observe(site, verdict) {
      const h = get(site.name)
      h.lastVerdict = verdict
      if (verdict.source === 'jenkins') h.lastJenkinsAt = verdict.at
      if (verdict.ok) {
        h.consecutiveFailures = 0
        h.consecutiveSuccesses++
        if (h.consecutiveSuccesses >= site.successThreshold) {
          const was = h.health
          h.health = 'healthy'
          h.episode = undefined
          if (was === 'failing') return { health: h.health, recycle: false, reason: 'recovered', transition: 'recovered' }
          return { health: h.health, recycle: false, reason: 'healthy', transition: 'none' }
        }
        return { health: h.health, recycle: false, reason: `${h.consecutiveSuccesses}/${site.successThreshold} passing verdicts`, transition: 'none' }
      }
      h.consecutiveSuccesses = 0
      h.consecutiveFailures++
      if (h.consecutiveFailures < site.failureThreshold) {
        return { health: h.health, recycle: false, reason: `${h.consecutiveFailures}/${site.failureThreshold} consecutive failures`, transition: 'none' }
      }
      let transition: Observation['transition'] = 'none'
      if (h.health !== 'failing' || !h.episode) {
        h.health = 'failing'
        h.episode = { since: verdict.at, recycleActive: false, recycled: false, didNotHelp: false }
        transition = 'became-failing'
      }
      const ep = h.episode!
      if (ep.didNotHelp) return { health: h.health, recycle: false, reason: 'recycle-did-not-help: waiting for the site to recover or an operator', transition }
      if (ep.recycleActive) return { health: h.health, recycle: false, reason: 'a recycle for this failure is already running', transition }
      if (ep.recycled) {
        // Still failing after a finished recycle: restarting again would loop.
        ep.didNotHelp = true
        return { health: h.health, recycle: false, reason: 'recycle-did-not-help: still failing after a recycle', transition }
      }
      return { health: h.health, recycle: true, reason: `${h.consecutiveFailures} consecutive failures (threshold ${site.failureThreshold})`, transition }
    },
    recycleStarted(site) {
      const h = get(site)
      if (h.episode) h.episode.recycleActive = true
    },
    recycleFinished(site, ran) {
      const h = get(site)
      if (!h.episode) return
      h.episode.recycleActive = false
      if (ran) h.episode.recycled = true
    },
    verified(site, ok) {
      const h = get(site)
      if (ok) {
        h.health = 'healthy'
        h.consecutiveFailures = 0
        h.episode = undefined
      } else if (h.episode) {
        h.episode.didNotHelp = true
        h.episode.recycled = true
      }
    },
    operatorRecycled(site) {
      const h = get(site)
      if (h.episode) {
        h.episode.didNotHelp = false
        h.episode.recycled = false
      }
    },
  }
}
