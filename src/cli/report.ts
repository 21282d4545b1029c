// `kube-recycler report`: sends a results file (from `check --json`) to the
// service's Jenkins webhook in the project's own format, one POST per site
// (the webhook maps one payload to one site), signed with
// KUBE_RECYCLER_WEBHOOK_SECRET (HMAC over "<timestamp>.<raw body>") or, with
// no secret, sent with KUBE_RECYCLER_WEBHOOK_TOKEN as a bearer token.
// Secrets come from the environment only and are never printed.
// Exit codes: 0 every site accepted (2xx), 1 refused or unreachable, 2 usage.

import { Agent, request } from 'undici'
import { secretsFromEnv } from '../config/secrets.ts'
import { JENKINS_STATUSES, type JenkinsStatus } from '../config/types.ts'
import type { OwnPayload } from '../triggers/jenkins.ts'
import { FAILURE_CAUSES } from '../health/verdict.ts'
import { sign } from '../triggers/signature.ts'
import { parseDuration } from '../config/duration.ts'
import { parseOptions, UsageError, type CliContext } from './args.ts'
import { readResults, type Results, type SiteResults } from './results.ts'
import { connectionProblem } from './client.ts'

export const REPORT_USAGE = `usage: kube-recycler report --url URL --results FILE [--job NAME] [--build N] [--site NAME]
                            [--status STATUS] [--timeout DURATION]

Sends the results of \`kube-recycler check --json FILE\` to the service's
webhook, one signed POST per site in the file.

  --url URL          the service: its base URL (http://kube-recycler:8080, a path
                     prefix is kept) or the full http://…/webhooks/jenkins
                     (default: KUBE_RECYCLER_URL)
  --results FILE     the results file written by \`check --json\`
  --job NAME         the Jenkins job (default: JOB_NAME)
  --build N          the build number (default: BUILD_NUMBER)
  --site NAME        send only this site's results
  --status STATUS    SUCCESS, UNSTABLE, FAILURE, ABORTED or NOT_BUILT for every
                     site (default: FAILURE for a site with a failed check, else SUCCESS)
  --timeout DURATION per request, e.g. 10s (default 10s)

The build URL comes from BUILD_URL and the commit from GIT_COMMIT when set.
Authentication comes from the environment only: KUBE_RECYCLER_WEBHOOK_SECRET
(HMAC signature) or else KUBE_RECYCLER_WEBHOOK_TOKEN (bearer token).

exit status: 0 every site accepted, 1 refused or unreachable, 2 bad arguments or file
`

const OPTIONS = {
  url: { type: 'string' },
  results: { type: 'string' },
  job: { type: 'string' },
  build: { type: 'string' },
  site: { type: 'string' },
  status: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** The webhook's limits (triggers/jenkins.ts OwnPayload). */
const LIMITS = { job: 512, url: 2048, checkName: 200, message: 2000, checks: 1000 }

export interface PayloadOptions {
  job: string
  build: number
  /** Overrides the status derived from the checks. */
  status?: JenkinsStatus
  /** The build's URL (BUILD_URL). */
  url?: string
  commit?: string
}

const cut = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`)

/** The project's own webhook payload for one site's results; only the fields the webhook accepts. */
export function sitePayload(site: SiteResults, o: PayloadOptions): OwnPayload {
  const checks = site.checks.slice(0, LIMITS.checks).map((c) => ({
    name: cut(c.name, LIMITS.checkName),
    ok: c.ok,
    ...(c.url !== undefined && c.url !== '' && c.url.length <= LIMITS.url ? { url: c.url } : {}),
    ...(c.status !== undefined ? { status: c.status } : {}),
    ...(c.latencyMs !== undefined ? { latencyMs: c.latencyMs } : {}),
    ...(c.message !== undefined ? { message: cut(c.message, LIMITS.message) } : {}),
    // Only a cause the webhook knows: a results file from a newer CLI must not be refused.
    ...(c.cause !== undefined && (FAILURE_CAUSES as readonly string[]).includes(c.cause) ? { cause: c.cause } : {}),
  }))
  const failed = site.checks.some((c) => !c.ok) || !site.ok
  return {
    site: site.site,
    job: o.job,
    build: o.build,
    status: o.status ?? (failed ? 'FAILURE' : 'SUCCESS'),
    ...(o.url !== undefined ? { url: o.url } : {}),
    ...(o.commit !== undefined ? { commit: o.commit } : {}),
    checks,
  }
}

/**
 * The webhook endpoint for `--url`: a base URL gets `/webhooks/jenkins`
 * appended to its path; a URL already ending in it is used as is.
 */
export function webhookEndpoint(raw: string): URL {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new UsageError('--url must be an absolute http(s) URL, e.g. http://kube-recycler.kube-recycler.svc:8080')
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UsageError(`--url must be http: or https:, not ${u.protocol}`)
  if (u.username !== '' || u.password !== '') {
    throw new UsageError(
      '--url must not contain credentials; set KUBE_RECYCLER_WEBHOOK_SECRET or KUBE_RECYCLER_WEBHOOK_TOKEN in the environment',
    )
  }
  if (u.search !== '') throw new UsageError('--url must not have a query string')
  u.hash = ''
  const path = u.pathname.replace(/\/+$/, '')
  u.pathname = path.endsWith('/webhooks/jenkins') ? path : `${path}/webhooks/jenkins`
  return u
}

function env(ctx: CliContext, name: string): string | undefined {
  const v = ctx.env[name]
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}

interface Plan {
  endpoint: URL
  timeoutMs: number
  auth: { kind: 'hmac'; secret: string } | { kind: 'bearer'; token: string }
  payloads: OwnPayload[]
}

function plan(ctx: CliContext): Plan | 'help' {
  if (ctx.args.some((a) => /^--(webhook-)?(secret|token)(=|$)/.test(a))) {
    throw new UsageError(
      'secrets are never arguments: set KUBE_RECYCLER_WEBHOOK_SECRET or KUBE_RECYCLER_WEBHOOK_TOKEN in the environment',
    )
  }
  const o = parseOptions(ctx.args, OPTIONS)
  if (o.help) return 'help'
  const rawUrl = o.url ?? env(ctx, 'KUBE_RECYCLER_URL')
  if (rawUrl === undefined) throw new UsageError('--url URL is required (or set KUBE_RECYCLER_URL)')
  const endpoint = webhookEndpoint(rawUrl)
  if (o.results === undefined)
    throw new UsageError('--results FILE is required (the file `kube-recycler check --json FILE` wrote)')

  const job = o.job ?? env(ctx, 'JOB_NAME')
  if (job === undefined || job === '') throw new UsageError('--job NAME is required (or JOB_NAME, which Jenkins sets)')
  if (job.length > LIMITS.job) throw new UsageError(`--job must be at most ${LIMITS.job} characters`)
  const buildText = o.build ?? env(ctx, 'BUILD_NUMBER')
  if (buildText === undefined) throw new UsageError('--build N is required (or BUILD_NUMBER, which Jenkins sets)')
  if (!/^\d{1,10}$/.test(buildText) || Number(buildText) > 2 ** 31) {
    throw new UsageError(`--build must be a build number (a whole number), got ${JSON.stringify(buildText)}`)
  }
  let status: JenkinsStatus | undefined
  if (o.status !== undefined) {
    const s = o.status.toUpperCase()
    if (!(JENKINS_STATUSES as readonly string[]).includes(s)) {
      throw new UsageError(`--status must be one of ${JENKINS_STATUSES.join(', ')}, got ${JSON.stringify(o.status)}`)
    }
    status = s as JenkinsStatus
  }
  const timeoutMs = o.timeout === undefined ? 10_000 : parseDuration(o.timeout)
  if (timeoutMs === undefined || timeoutMs < 1 || timeoutMs > 600_000) {
    throw new UsageError(`--timeout must be a duration from 1ms to 10m, like "10s", got ${JSON.stringify(o.timeout)}`)
  }

  let buildUrl = env(ctx, 'BUILD_URL')
  if (buildUrl !== undefined && buildUrl.length > LIMITS.url) {
    ctx.stderr.write(`kube-recycler: BUILD_URL is longer than ${LIMITS.url} characters; not sent\n`)
    buildUrl = undefined
  }
  let commit = env(ctx, 'GIT_COMMIT')
  if (commit !== undefined && !/^[0-9a-fA-F]{7,64}$/.test(commit)) {
    ctx.stderr.write('kube-recycler: GIT_COMMIT is not a commit sha; not sent\n')
    commit = undefined
  }

  const secrets = secretsFromEnv(ctx.env)
  let auth: Plan['auth']
  if (secrets.webhookSecret !== undefined) auth = { kind: 'hmac', secret: secrets.webhookSecret }
  else if (secrets.webhookToken !== undefined) auth = { kind: 'bearer', token: secrets.webhookToken }
  else
    throw new UsageError(
      'set KUBE_RECYCLER_WEBHOOK_SECRET (HMAC signature) or KUBE_RECYCLER_WEBHOOK_TOKEN (bearer token) in the environment',
    )

  const results: Results = readResults(o.results)
  let sites = results.sites
  if (o.site !== undefined) {
    sites = sites.filter((s) => s.site === o.site)
    if (sites.length === 0) {
      throw new UsageError(
        `no results for site "${o.site}" in ${o.results} (sites: ${results.sites.map((s) => s.site).join(', ') || 'none'})`,
      )
    }
  }
  if (sites.length === 0) throw new UsageError(`${o.results} has no site results to report`)
  for (const s of sites) {
    if (s.checks.length > LIMITS.checks)
      ctx.stderr.write(
        `kube-recycler: site "${s.site}" has ${s.checks.length} checks; only the first ${LIMITS.checks} are sent\n`,
      )
  }
  const payloadOptions: PayloadOptions = {
    job,
    build: Number(buildText),
    ...(status !== undefined ? { status } : {}),
    ...(buildUrl !== undefined ? { url: buildUrl } : {}),
    ...(commit !== undefined ? { commit } : {}),
  }
  return { endpoint, timeoutMs, auth, payloads: sites.map((s) => sitePayload(s, payloadOptions)) }
}

interface Answer {
  ok: boolean
  line: string
}

/** What the service said, in one line; never the request's credentials. */
function describeAnswer(site: string, status: number, text: string): Answer {
  let body: Record<string, unknown> | undefined
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>
  } catch {
    body = undefined
  }
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
  if (status >= 200 && status < 300) {
    const parts = [`${site}: accepted (${status})`, `action ${str(body?.action) ?? '?'}`]
    if (str(body?.health)) parts.push(`health ${str(body?.health)}`)
    let line = parts.join(', ')
    if (str(body?.reason)) line += ` - ${str(body?.reason)}`
    const recycle = body?.recycle as Record<string, unknown> | undefined
    if (recycle && typeof recycle === 'object') {
      line += `\n  recycle ${str(recycle.id) ?? '?'}: ${str(recycle.state) ?? '?'}${recycle.dryRun === true ? ' (dry-run)' : ''}${str(recycle.reason) ? ` - ${str(recycle.reason)}` : ''}`
    }
    return { ok: true, line }
  }
  if (body && str(body.code) && str(body.message) !== undefined) {
    return { ok: false, line: `${site}: refused (${status}) ${str(body.code)}: ${str(body.message)}` }
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200)
  return { ok: false, line: `${site}: refused (${status})${snippet ? `: ${snippet}` : ''}` }
}

export async function reportCommand(ctx: CliContext): Promise<number> {
  const p = plan(ctx)
  if (p === 'help') {
    ctx.stdout.write(REPORT_USAGE)
    return 0
  }
  const where = `${p.endpoint.origin}${p.endpoint.pathname}`
  ctx.stdout.write(
    `reporting ${p.payloads.length} site${p.payloads.length === 1 ? '' : 's'} to ${where} (${p.auth.kind === 'hmac' ? 'signed' : 'bearer token'})\n`,
  )
  const agent = new Agent({ connect: { timeout: p.timeoutMs }, headersTimeout: p.timeoutMs, bodyTimeout: p.timeoutMs })
  let failures = 0
  try {
    for (const payload of p.payloads) {
      const body = JSON.stringify(payload)
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'kube-recycler-report',
      }
      if (p.auth.kind === 'hmac') {
        const ts = String(Math.floor(Date.now() / 1000))
        headers['x-recycler-timestamp'] = ts
        headers['x-recycler-signature'] = sign(p.auth.secret, ts, body)
      } else {
        headers.authorization = `Bearer ${p.auth.token}`
      }
      try {
        const res = await request(p.endpoint, {
          method: 'POST',
          headers,
          body,
          dispatcher: agent,
          signal: AbortSignal.timeout(p.timeoutMs),
        })
        const text = await res.body.text()
        const a = describeAnswer(payload.site ?? '?', res.statusCode, text)
        if (a.ok) ctx.stdout.write(`${a.line}\n`)
        else {
          failures++
          ctx.stderr.write(`kube-recycler: ${a.line}\n`)
        }
      } catch (e) {
        failures++
        ctx.stderr.write(
          `kube-recycler: ${payload.site ?? '?'}: not sent: ${connectionProblem(e, p.endpoint, p.timeoutMs)}\n`,
        )
      }
    }
  } finally {
    await agent.destroy()
  }
  return failures === 0 ? 0 : 1
}
