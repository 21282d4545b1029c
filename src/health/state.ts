// The per-site health state machine, as pure functions of the stored site
// state. It turns a stream of verdicts into "healthy", "failing" or
// "unknown", and decides when a failure is real enough to ask for a recycle:
// `failureThreshold` consecutive failing verdicts, once per failure episode.
// A recovery never asks for a restart. This file is the one owner of these
// transitions; the recycle lifecycle reaches them through the functions
// below, never by writing the fields itself.

import type { SiteConfig } from '../config/types.ts'
import type { Health, SiteState } from '../state/schema.ts'
import type { Verdict } from './verdict.ts'

export type { Health }

export interface Observation {
  health: Health
  /** Ask the policy for a recycle. */
  recycle: boolean
  /** Why (not): shown in the webhook answer and the log. */
  reason: string
  transition: 'none' | 'became-failing' | 'recovered'
}

/**
 * The thresholds a verdict is judged by. An Alertmanager alert meets both at
 * once: Prometheus already waited the rule's `for:` before it fired (and
 * `keep_firing_for` before it resolved), so it is a confirmed failure, not
 * one sample; and its repeats (every repeat_interval, hours by default) are
 * the same delivery, counted once, so a threshold above 1 would never be
 * reached by one alert, or only after hours. Jenkins builds and probe runs
 * are single samples: the site's thresholds apply.
 */
export function thresholdsFor(
  site: Pick<SiteConfig, 'failureThreshold' | 'successThreshold'>,
  verdict: Pick<Verdict, 'source'>,
): { failure: number; success: number } {
  if (verdict.source === 'alertmanager') return { failure: 1, success: 1 }
  return { failure: site.failureThreshold, success: site.successThreshold }
}

/** Advances the machine by one verdict. Never mutates `s`. */
export function observe(s: SiteState, site: SiteConfig, verdict: Verdict): { next: SiteState; obs: Observation } {
  const h: SiteState = { ...s }
  const threshold = thresholdsFor(site, verdict)
  if (verdict.ok) {
    h.consecutiveFailures = 0
    // Capped at the threshold: a long healthy run is one state, not a counter
    // that changes (and is written) on every report.
    h.consecutiveSuccesses = Math.min(s.consecutiveSuccesses + 1, site.successThreshold)
    if (h.consecutiveSuccesses >= threshold.success) {
      const was = s.health
      h.health = 'healthy'
      delete h.episode
      if (was === 'failing')
        return { next: h, obs: { health: h.health, recycle: false, reason: 'recovered', transition: 'recovered' } }
      return { next: h, obs: { health: h.health, recycle: false, reason: 'healthy', transition: 'none' } }
    }
    return {
      next: h,
      obs: {
        health: h.health,
        recycle: false,
        reason: `${h.consecutiveSuccesses}/${site.successThreshold} passing verdicts`,
        transition: 'none',
      },
    }
  }
  h.consecutiveSuccesses = 0
  h.consecutiveFailures = s.consecutiveFailures + 1
  if (h.consecutiveFailures < threshold.failure) {
    return {
      next: h,
      obs: {
        health: h.health,
        recycle: false,
        reason: `${h.consecutiveFailures}/${site.failureThreshold} consecutive failures`,
        transition: 'none',
      },
    }
  }
  let transition: Observation['transition'] = 'none'
  if (h.health !== 'failing' || !h.episode) {
    h.health = 'failing'
    h.episode = { since: verdict.at, recycleActive: false, recycled: false, didNotHelp: false }
    transition = 'became-failing'
  }
  const ep = h.episode
  const said = (reason: string) => ({ next: h, obs: { health: h.health, recycle: false, reason, transition } })
  if (ep.didNotHelp) return said('recycle-did-not-help: waiting for the site to recover or an operator')
  if (ep.recycleActive) return said('a recycle for this failure is already running')
  if (ep.recycled) {
    // Still failing after a finished recycle: restarting again would loop.
    h.episode = { ...ep, didNotHelp: true }
    return said('recycle-did-not-help: still failing after a recycle')
  }
  const why =
    verdict.source === 'alertmanager'
      ? 'a firing alert (Prometheus already waited its for:, so it meets failureThreshold at once)'
      : `${h.consecutiveFailures} consecutive failures (threshold ${site.failureThreshold})`
  return { next: h, obs: { health: h.health, recycle: true, reason: why, transition } }
}

export function recycleStarted(s: SiteState): SiteState {
  return s.episode ? { ...s, episode: { ...s.episode, recycleActive: true } } : s
}

/** `ran`: the recycle acted on the cluster; false when it was skipped or never started. */
export function recycleFinished(s: SiteState, ran: boolean): SiteState {
  if (!s.episode) return s
  return { ...s, episode: { ...s.episode, recycleActive: false, recycled: s.episode.recycled || ran } }
}

/** The probe run after a recycle: ok → healthy; failing → no more automatic recycles. */
export function verified(s: SiteState, ok: boolean): SiteState {
  if (ok) {
    const { episode: _gone, ...rest } = s
    return { ...rest, health: 'healthy', consecutiveFailures: 0 }
  }
  if (!s.episode) return s
  return { ...s, episode: { ...s.episode, didNotHelp: true, recycled: true, recycleActive: false } }
}

/** An operator recycle lifts the did-not-help stop. */
export function operatorRecycled(s: SiteState): SiteState {
  return s.episode ? { ...s, episode: { ...s.episode, didNotHelp: false, recycled: false } } : s
}
