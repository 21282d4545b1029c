// Alertmanager's webhook payload (version 4) and how its alerts become
// verdicts. An alert belongs to every site whose `alertmanager.matchers` all
// match its labels; a firing alert is a failing verdict, a resolved one a
// passing verdict. Pure: the route hands the verdicts to the intake.
//
// The delivery key is the alert's fingerprint (a hash of its labels) and
// startsAt (when this firing began), with its status and the site:
// Alertmanager repeats a firing alert every repeat_interval, sends it again
// in every notification of its group (group_interval), from every
// Alertmanager of an HA pair, and retries a notification that failed; all
// of those carry the same fingerprint and startsAt, so each firing and each
// resolution of an alert counts once, on any replica, after any restart.

import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Config, SiteConfig } from '../config/types.ts'
import { formatSchemaErrors } from '../config/errors.ts'
import { matchesAll } from '../config/matchers.ts'
import { Errors } from '../errors.ts'
import type { Verdict } from '../health/verdict.ts'
import { clip, LIMITS } from '../state/bounds.ts'

const Labels = Type.Record(Type.String({ maxLength: 1024 }), Type.String({ maxLength: 4096 }))

export const ALERT_STATUSES = ['firing', 'resolved'] as const
export type AlertStatus = (typeof ALERT_STATUSES)[number]

// Alertmanager sends more (groupKey, truncatedAlerts, endsAt, ...) and may
// add fields: unknown fields are accepted and ignored.
export const AlertSchema = Type.Object(
  {
    status: Type.Enum(ALERT_STATUSES),
    labels: Labels,
    annotations: Type.Optional(Labels),
    startsAt: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'RFC 3339: when this firing of the alert began',
    }),
    endsAt: Type.Optional(Type.String({ maxLength: 64 })),
    generatorURL: Type.Optional(Type.String({ maxLength: 4096 })),
    fingerprint: Type.String({
      pattern: '^[0-9a-fA-F]{1,64}$',
      description: "Alertmanager's hash of the alert's labels",
    }),
  },
  { title: 'AlertmanagerAlert' },
)
export type Alert = Static<typeof AlertSchema>

export const AlertmanagerPayload = Type.Object(
  {
    version: Type.Literal('4'),
    status: Type.Optional(Type.Enum(ALERT_STATUSES)),
    receiver: Type.Optional(Type.String({ maxLength: 1024 })),
    groupKey: Type.Optional(Type.String({ maxLength: 8192 })),
    externalURL: Type.Optional(Type.String({ maxLength: 4096 })),
    alerts: Type.Array(AlertSchema, { maxItems: 1000 }),
  },
  { title: 'AlertmanagerWebhook', description: "Alertmanager's webhook_configs payload, version 4" },
)
export type AlertmanagerPayload = Static<typeof AlertmanagerPayload>

const payloadCheck = Compile(AlertmanagerPayload)

/** Validates a parsed JSON body; throws Errors.invalidField naming every bad field. */
export function parseAlertmanagerPayload(body: unknown): AlertmanagerPayload {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw Errors.invalidField('body: must be a JSON object')
  if (payloadCheck.Check(body)) return body
  throw Errors.invalidField(formatSchemaErrors(payloadCheck.Errors(body), 'body').join('; '))
}

/** The alert as the answer and the log name it. */
export interface AlertRef {
  fingerprint: string
  alertname?: string
  status: AlertStatus
}

export type AlertOutcome =
  | { kind: 'verdict'; site: SiteConfig; alert: AlertRef; labels: Record<string, string>; verdict: Verdict }
  | { kind: 'ignored'; site?: SiteConfig; alert: AlertRef; reason: string }

export function alertKey(a: Pick<Alert, 'fingerprint' | 'startsAt' | 'status'>, site: string): string {
  // Normalized so that two Alertmanagers writing the same instant differently agree.
  const t = Date.parse(a.startsAt)
  const starts = Number.isNaN(t) ? a.startsAt : new Date(t).toISOString()
  return `alertmanager:${a.fingerprint.toLowerCase()}@${starts}:${a.status}@${site}`
}

function describe(a: Alert): string {
  const name = a.labels.alertname ?? `alert ${a.fingerprint}`
  const text = a.annotations?.summary ?? a.annotations?.description ?? a.annotations?.message
  return text ? `${name}: ${text}` : name
}

/**
 * Every alert of a notification, mapped: a verdict per (alert, site), or
 * the reason it is ignored. A resolved alert says nothing while another
 * alert of the same notification still fires for the site: one symptom
 * going away is not the site recovering.
 */
export function alertVerdicts(config: Config, payload: AlertmanagerPayload, now: Date): AlertOutcome[] {
  const out: AlertOutcome[] = []
  const sitesOf = (a: Alert): SiteConfig[] =>
    config.sites.filter((s) => s.alertmanager !== undefined && matchesAll(s.alertmanager.matchers, a.labels))
  const firingFor = new Map<string, string[]>()
  for (const a of payload.alerts) {
    if (a.status !== 'firing') continue
    for (const s of sitesOf(a))
      firingFor.set(s.name, [...(firingFor.get(s.name) ?? []), a.labels.alertname ?? a.fingerprint])
  }
  for (const a of payload.alerts) {
    const ref: AlertRef = {
      fingerprint: a.fingerprint.toLowerCase(),
      status: a.status,
      ...(a.labels.alertname !== undefined ? { alertname: clip(a.labels.alertname, 200) } : {}),
    }
    const sites = sitesOf(a)
    if (sites.length === 0) {
      out.push({
        kind: 'ignored',
        alert: ref,
        reason: `no site's alertmanager.matchers match ${describeLabels(a.labels)}`,
      })
      continue
    }
    for (const site of sites) {
      const still = firingFor.get(site.name)
      if (a.status === 'resolved' && still) {
        out.push({
          kind: 'ignored',
          site,
          alert: ref,
          reason: `resolved, but ${nameList(still)} still firing for site ${site.name}`,
        })
        continue
      }
      const firing = a.status === 'firing'
      const what = describe(a)
      out.push({
        kind: 'verdict',
        site,
        alert: ref,
        labels: a.labels,
        verdict: {
          site: site.name,
          ok: !firing,
          source: 'alertmanager',
          at: now.toISOString(),
          checks: [
            {
              name: clip(a.labels.alertname ?? a.fingerprint, 100),
              ok: !firing,
              message: clip(
                `${firing ? 'firing' : 'resolved'} since ${firing ? a.startsAt : (a.endsAt ?? a.startsAt)}: ${what}`,
              ),
            },
          ],
          ...(a.generatorURL && /^https?:\/\//i.test(a.generatorURL) ? { ref: clip(a.generatorURL, 2048) } : {}),
          key: alertKey(a, site.name),
          summary: clip(`alert ${firing ? 'firing' : 'resolved'}: ${what}`, LIMITS.summary),
        },
      })
    }
  }
  return out
}

function nameList(names: string[]): string {
  const u = [...new Set(names)]
  return u.length > 3
    ? `${u.slice(0, 3).join(', ')} and ${u.length - 3} more are`
    : `${u.join(', ')} ${u.length > 1 ? 'are' : 'is'}`
}

function describeLabels(labels: Record<string, string>): string {
  const text = Object.entries(labels)
    .slice(0, 8)
    .map(([k, v]) => `${k}=${JSON.stringify(clip(v, 60))}`)
    .join(', ')
  return clip(`{${text}${Object.keys(labels).length > 8 ? ', …' : ''}}`, 300)
}
