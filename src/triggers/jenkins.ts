// Jenkins payloads: the project's own format (sent by `kube-recycler report`
// from the Jenkinsfile) and the Jenkins Notification plugin's. Both become
// one Verdict for one site. Validation names the bad field by its path.

import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Config, JenkinsStatus, SiteConfig } from '../config/types.ts'
import { formatSchemaErrors } from '../config/errors.ts'
import { clip, LIMITS } from '../state/bounds.ts'
import { Errors } from '../errors.ts'
import { FAILURE_CAUSES, type CheckResult, type Verdict } from '../health/verdict.ts'

const Status = Type.Enum(['SUCCESS', 'UNSTABLE', 'FAILURE', 'ABORTED', 'NOT_BUILT'])
const Commit = Type.String({ pattern: '^[0-9a-fA-F]{7,64}$', description: 'a git commit sha' })
const Str = (max: number) => Type.String({ minLength: 1, maxLength: max })

export const OwnPayload = Type.Object(
  {
    site: Type.Optional(Str(63)),
    job: Str(512),
    build: Type.Integer({ minimum: 0, maximum: 2 ** 31 }),
    status: Status,
    url: Type.Optional(Str(2048)),
    commit: Type.Optional(Commit),
    checks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Str(200),
            ok: Type.Boolean(),
            url: Type.Optional(Str(2048)),
            status: Type.Optional(Type.Integer({ minimum: 0, maximum: 999 })),
            latencyMs: Type.Optional(Type.Number({ minimum: 0 })),
            message: Type.Optional(Type.String({ maxLength: 2000 })),
            cause: Type.Optional(
              Type.Enum([...FAILURE_CAUSES], {
                description: 'why the check failed, as `kube-recycler check` reports it',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        { maxItems: 1000 },
      ),
    ),
  },
  { additionalProperties: false, title: 'KubeRecyclerReport' },
)

// The Notification plugin sends more fields than these (queue_id, log,
// artifacts, ...) and adds new ones across versions: unknown fields are
// accepted and ignored here, unlike in our own format.
export const NotificationPayload = Type.Object(
  {
    name: Str(512),
    url: Type.Optional(Type.String({ maxLength: 2048 })),
    build: Type.Object({
      number: Type.Integer({ minimum: 0, maximum: 2 ** 31 }),
      phase: Type.Enum(['QUEUED', 'STARTED', 'COMPLETED', 'FINALIZED']),
      // The plugin sends "status": null while a build runs (QUEUED, STARTED).
      status: Type.Optional(Type.Union([Status, Type.Null()])),
      full_url: Type.Optional(Type.String({ maxLength: 2048 })),
      scm: Type.Optional(
        Type.Object({
          url: Type.Optional(Type.String({ maxLength: 2048 })),
          branch: Type.Optional(Type.String({ maxLength: 512 })),
          commit: Type.Optional(Type.String({ maxLength: 64 })),
        }),
      ),
      parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  },
  { title: 'JenkinsNotification' },
)

export type OwnPayload = Static<typeof OwnPayload>
export type NotificationPayload = Static<typeof NotificationPayload>

export const JenkinsPayload = Type.Union([OwnPayload, NotificationPayload], {
  description:
    "kube-recycler's report format, or the Jenkins Notification plugin's (told apart by `build` being an object)",
})

const ownCheck = Compile(OwnPayload)
const notificationCheck = Compile(NotificationPayload)

export type ParsedPayload = { kind: 'own'; body: OwnPayload } | { kind: 'notification'; body: NotificationPayload }

/** Validates a parsed JSON body; throws Errors.invalidField naming every bad field. */
export function parseJenkinsPayload(body: unknown): ParsedPayload {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw Errors.invalidField('body: must be a JSON object')
  }
  const build = (body as Record<string, unknown>).build
  if (build !== null && typeof build === 'object' && !Array.isArray(build)) {
    if (notificationCheck.Check(body)) return { kind: 'notification', body }
    throw Errors.invalidField(formatSchemaErrors(notificationCheck.Errors(body), 'body').join('; '))
  }
  if (ownCheck.Check(body)) return { kind: 'own', body }
  throw Errors.invalidField(formatSchemaErrors(ownCheck.Errors(body), 'body').join('; '))
}

export type JenkinsVerdict =
  | { kind: 'verdict'; site: SiteConfig; verdict: Verdict; status: JenkinsStatus }
  | { kind: 'ignored'; site: SiteConfig; reason: string; key: string }

/** Maps a payload to its site and verdict; throws 404 for unknown sites and jobs, 403 for a job that is not the named site's. */
export function jenkinsVerdict(config: Config, parsed: ParsedPayload, now: Date): JenkinsVerdict {
  const job = parsed.kind === 'own' ? parsed.body.job : parsed.body.name
  const buildNo = parsed.kind === 'own' ? parsed.body.build : parsed.body.build.number
  const named = parsed.kind === 'own' ? parsed.body.site : siteParameter(parsed.body)
  let site: SiteConfig | undefined
  if (named !== undefined) {
    site = config.sites.find((s) => s.name === named)
    if (!site) throw Errors.unknownSite(`no site named "${named}"`)
    // Naming a site does not skip the mapping: only the site's own jobs
    // may report for it, or any job (any holder of the webhook credentials)
    // could recycle any site.
    if (!site.jenkins.jobs.includes(job))
      throw Errors.jobNotForSite(`job "${job}" does not report for site "${site.name}" (not in its jenkins.jobs)`)
  } else {
    const owners = config.sites.filter((s) => s.jenkins.jobs.includes(job))
    if (owners.length === 0) throw Errors.unknownJob(`no site is configured for job "${job}"`)
    // One job may check several sites (one POST each); then each POST must say which.
    if (owners.length > 1)
      throw Errors.invalidField(
        `body.site: is required: job "${job}" reports for several sites (${owners.map((s) => s.name).join(', ')})`,
      )
    site = owners[0]!
  }
  // One build may report for several sites (one POST each): the site is part of the key.
  const key = `jenkins:${job}#${buildNo}@${site.name}`
  if (parsed.kind === 'notification') {
    const b = parsed.body.build
    if (b.phase !== 'COMPLETED' && b.phase !== 'FINALIZED') {
      return { kind: 'ignored', site, key, reason: `phase ${b.phase} gives no verdict` }
    }
    if (b.status === undefined || b.status === null)
      return { kind: 'ignored', site, key, reason: `phase ${b.phase} without a status` }
  }
  const status = (parsed.kind === 'own' ? parsed.body.status : parsed.body.build.status) as JenkinsStatus
  const failing = site.jenkins.failingStatuses.includes(status)
  if (!failing && (status === 'ABORTED' || status === 'NOT_BUILT')) {
    return { kind: 'ignored', site, key, reason: `status ${status} says nothing about the site` }
  }
  const checks: CheckResult[] = parsed.kind === 'own' ? (parsed.body.checks ?? []).map((c) => ({ ...c })) : []
  const ref = parsed.kind === 'own' ? parsed.body.url : (parsed.body.build.full_url ?? parsed.body.url)
  const scmCommit = parsed.kind === 'notification' ? parsed.body.build.scm?.commit : undefined
  const commit =
    parsed.kind === 'own'
      ? parsed.body.commit
      : scmCommit && /^[0-9a-fA-F]{7,64}$/.test(scmCommit)
        ? scmCommit
        : undefined
  const bad = checks.filter((c) => !c.ok).map((c) => c.name)
  // Named in full up to a point: a report of a thousand failing checks must
  // not make a thousand-name summary in every log line and stored verdict.
  const summary = clip(
    failing
      ? `${job} #${buildNo} ${status}${bad.length > 0 ? `: ${nameSome(bad, 300)} failed` : ''}`
      : `${job} #${buildNo} ${status}`,
    LIMITS.summary,
  )
  return {
    kind: 'verdict',
    site,
    status,
    verdict: {
      site: site.name,
      ok: !failing,
      source: 'jenkins',
      at: now.toISOString(),
      checks,
      ...(commit ? { commit: commit.toLowerCase() } : {}),
      ...(ref ? { ref } : {}),
      key,
      summary,
    },
  }
}

/** "a, b and 12 more": as many names as fit `budget` characters (each clipped), then a count. */
export function nameSome(names: string[], budget: number): string {
  const shown: string[] = []
  let used = 0
  for (const n of names) {
    const c = clip(n, 60)
    if (shown.length > 0 && used + c.length + 2 > budget) break
    shown.push(c)
    used += c.length + 2
  }
  const rest = names.length - shown.length
  return rest > 0 ? `${shown.join(', ')} and ${rest} more` : shown.join(', ')
}

function siteParameter(body: NotificationPayload): string | undefined {
  const v = body.build.parameters?.SITE
  return typeof v === 'string' && v !== '' ? v : undefined
}
