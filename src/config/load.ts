// Loads the YAML file once at start, checks its structure and its meaning,
// and returns the normalized Config. Every problem is collected and reported
// together, each as `path: what was expected`; nothing is half-applied.

import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import Value from 'typebox/value'
import { Compile } from 'typebox/compile'
import type { Static } from 'typebox'
import { validate as validateCron } from 'node-cron'
import {
  FileSchema,
  type CheckSchema,
  type NotificationSchema,
  type RecycleSchema,
  type SiteAlertmanagerSchema,
  type SiteSchema,
  type WindowSchema,
} from './schema.ts'
import { windowProblem } from '../recycle/windows.ts'
import { formatSchemaErrors } from './errors.ts'
import { parseDuration } from './duration.ts'
import { compileBodyPattern } from './pattern.ts'
import { parseMatcher, type CompiledMatcher } from './matchers.ts'
import type {
  LadderRung,
  CheckConfig,
  Config,
  JenkinsStatus,
  NotificationConfig,
  RecycleConfig,
  SiteConfig,
  SkipCause,
  StatusRange,
  Target,
  WindowConfig,
  WorkloadKind,
} from './types.ts'

export const EXAMPLE_CONFIG_PATH = fileURLToPath(new URL('../../config/example.yaml', import.meta.url))

export class ConfigError extends Error {
  readonly problems: string[]
  constructor(source: string, problems: string[]) {
    super(`invalid configuration in ${source}:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

type FileShape = Static<typeof FileSchema>

// Compiled once: the interpreted Value.Errors walked every site of a valid
// file too, 0.3-0.5 s of the start of 5,000 sites (docs/benchmarks.md). The
// errors are listed only for a file that fails the check.
const fileCheck = Compile(FileSchema)
type SiteShape = Static<typeof SiteSchema>
type CheckShape = Static<typeof CheckSchema>
type RecycleShape = Static<typeof RecycleSchema>
type WindowShape = Static<typeof WindowSchema>
type NotificationShape = Static<typeof NotificationSchema>
type SiteAlertmanagerShape = Static<typeof SiteAlertmanagerSchema>

const DEFAULT_RECYCLE: RecycleConfig = {
  mode: 'auto',
  approvalTimeoutMs: 30 * 60_000,
  strategy: 'rollout',
  cooldownMs: 10 * 60_000,
  maxPerWindow: 3,
  windowMs: 6 * 3_600_000,
  maxUnavailable: 1,
  timeoutMs: 10 * 60_000,
  commitEnv: 'SITE_COMMIT',
  onGitError: 'skip',
  verify: { delayMs: 10_000, attempts: 3, intervalMs: 10_000 },
  rollback: 'auto',
  unhealthyPods: 'delete',
  skipWhen: ['tls-expired', 'tls-not-yet-valid', 'dns-not-found'],
  // Empty: the default for the site's checks (siteLadder).
  ladder: [],
  canary: false,
}

export function loadConfigFile(path: string): Config {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new ConfigError(path, [`(file): cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`])
  }
  return parseConfig(text, path)
}

export function parseConfig(text: string, source = '(inline)'): Config {
  let doc: unknown
  try {
    doc = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true })
  } catch (e) {
    const where = e instanceof YAMLParseError && e.linePos ? ` at line ${e.linePos[0].line}` : ''
    throw new ConfigError(source, [`(file): not valid YAML${where}: ${(e as Error).message.split('\n')[0]}`])
  }
  return validateConfig(doc, source)
}

export function validateConfig(doc: unknown, source = '(inline)'): Config {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(source, ['(root): must be a mapping with a `sites` list'])
  }
  const problems = fileCheck.Check(doc) ? [] : formatSchemaErrors(Value.Errors(FileSchema, doc))
  if (problems.length > 0) throw new ConfigError(source, problems)
  const file = doc as FileShape
  const out = normalize(file, problems)
  if (problems.length > 0) throw new ConfigError(source, problems)
  return out
}

function duration(
  value: string | number | undefined,
  path: string,
  problems: string[],
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback
  const ms = parseDuration(value)
  if (ms === undefined) {
    problems.push(`${path}: must be a duration like "90s", "10m" or "1h30m"`)
    return fallback
  }
  if (ms < min) problems.push(`${path}: must be at least ${min} ms`)
  return ms
}

function normalize(file: FileShape, problems: string[]): Config {
  const s = file.service ?? {}
  const d = file.defaults ?? {}
  const config: Config = {
    service: {
      dryRun: s.dryRun ?? false,
      statusAuth: s.statusAuth ?? false,
      bodyLimitBytes: s.bodyLimit ?? 256 * 1024,
      rateLimit: {
        max: s.rateLimit?.max ?? 120,
        windowMs: duration(s.rateLimit?.window, 'service.rateLimit.window', problems, 60_000, 1000),
      },
      readRateLimit: {
        max: s.readRateLimit?.max ?? 600,
        windowMs: duration(s.readRateLimit?.window, 'service.readRateLimit.window', problems, 60_000, 1000),
      },
      failedAuthLimit: {
        max: s.failedAuthLimit?.max ?? 10,
        windowMs: duration(s.failedAuthLimit?.window, 'service.failedAuthLimit.window', problems, 5 * 60_000, 1000),
      },
      trustProxy: trustProxy(s.trustProxy, 'service.trustProxy', problems),
      timeouts: {
        headersMs: duration(s.timeouts?.headers, 'service.timeouts.headers', problems, 10_000, 100),
        requestMs: duration(s.timeouts?.request, 'service.timeouts.request', problems, 30_000, 100),
        idleMs: duration(s.timeouts?.idle, 'service.timeouts.idle', problems, 70_000, 100),
        // Above the 60 s upstream idle timeout of common proxies (nginx, cloud load
        // balancers): a proxy must never reuse a socket the service is closing.
        keepAliveMs: duration(s.timeouts?.keepAlive, 'service.timeouts.keepAlive', problems, 65_000, 100),
      },
      maxConnectionsPerClient: s.maxConnectionsPerClient ?? 16,
      namespace: s.namespace ?? 'kube-recycler',
      probeConcurrency: s.probeConcurrency ?? 16,
      probeSpreadMs: duration(s.probeSpread, 'service.probeSpread', problems, 30_000, 0),
      leaderElection: s.leaderElection ?? 'auto',
      leaseDurationMs: duration(s.leaseDuration, 'service.leaseDuration', problems, 15_000, 2000),
      heartbeatMs: duration(s.heartbeat, 'service.heartbeat', problems, 60_000, 1000),
      ...(s.publicUrl !== undefined ? { publicUrl: s.publicUrl.replace(/\/+$/, '') } : {}),
    },
    sites: [],
    notifications: (file.notifications ?? []).map((n, i) => notification(n, `notifications[${i}]`, problems)),
  }
  if (file.alertmanager) {
    const url = file.alertmanager.url.replace(/\/+$/, '')
    if (!/^https?:\/\/[^\s/@]+(\/[^\s]*)?$/.test(url))
      problems.push(
        'alertmanager.url: must be an http(s) URL without credentials (a token goes in KUBE_RECYCLER_ALERTMANAGER_TOKEN)',
      )
    config.alertmanager = {
      url,
      timeoutMs: duration(file.alertmanager.timeout, 'alertmanager.timeout', problems, 5000, 100),
    }
  }
  if (config.service.timeouts.headersMs > config.service.timeouts.requestMs)
    problems.push('service.timeouts.headers: must not exceed service.timeouts.request')
  if (s.publicUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(s.publicUrl))
    problems.push('service.publicUrl: must be an http(s) URL')
  const notifyNames = new Set<string>()
  config.notifications.forEach((n, i) => {
    if (notifyNames.has(n.name)) problems.push(`notifications[${i}].name: duplicate notification name "${n.name}"`)
    notifyNames.add(n.name)
  })
  const defaultMaintenance = windows(d.maintenance, 'defaults.maintenance', problems)
  const defaultRecycleWindows = windows(d.recycleWindows, 'defaults.recycleWindows', problems)
  const defaultRecycle = recycle(d.recycle, DEFAULT_RECYCLE, 'defaults.recycle', problems)
  if (d.schedule !== undefined && !validateCron(d.schedule))
    problems.push(`defaults.schedule: not a valid cron expression: ${JSON.stringify(d.schedule)}`)

  // A job may report for several sites (one Jenkins job checking them all,
  // one POST per site): then its payloads must name their site, and the
  // webhook accepts a named site only from one of that site's own jobs.
  const names = new Map<string, number>()
  file.sites.forEach((site, i) => {
    const base = `sites[${i}]`
    if (names.has(site.name))
      problems.push(`${base}.name: duplicate site name "${site.name}" (also sites[${names.get(site.name)}])`)
    names.set(site.name, i)
    const normalized = normalizeSite(site, base, d, defaultRecycle, problems)
    normalized.maintenance =
      site.maintenance !== undefined ? windows(site.maintenance, `${base}.maintenance`, problems) : defaultMaintenance
    normalized.recycleWindows =
      site.recycleWindows !== undefined
        ? windows(site.recycleWindows, `${base}.recycleWindows`, problems)
        : defaultRecycleWindows
    if (site.alertmanager) {
      normalized.alertmanager = siteAlertmanager(site.alertmanager, `${base}.alertmanager`, problems)
      if (normalized.alertmanager.silence && !file.alertmanager)
        problems.push(`${base}.alertmanager.silence: needs the top-level alertmanager.url (where silences are made)`)
    }
    config.sites.push(normalized)
  })
  return config
}

function siteAlertmanager(
  a: SiteAlertmanagerShape,
  path: string,
  problems: string[],
): NonNullable<SiteConfig['alertmanager']> {
  const matchers: CompiledMatcher[] = []
  a.matchers.forEach((text, i) => {
    try {
      matchers.push(parseMatcher(text))
    } catch (e) {
      problems.push(`${path}.matchers[${i}]: ${(e as Error).message}`)
    }
  })
  // Matchers that all accept an alert without labels would take every alert of every team.
  if (matchers.length === a.matchers.length && matchers.every((m) => m.test({}))) {
    problems.push(
      `${path}.matchers: must select some alerts (at least one matcher must need a label, e.g. alertname="SiteDown")`,
    )
  }
  return { matchers, silence: a.silence ?? false }
}

/** Each entry an IPv4/IPv6 address or CIDR (what proxy-addr, behind Fastify's trustProxy, accepts). */
function trustProxy(value: false | string[] | undefined, path: string, problems: string[]): string[] {
  if (value === undefined || value === false) return []
  value.forEach((entry, i) => {
    const [addr, bits, ...rest] = entry.split('/')
    const family = isIP(addr ?? '')
    const max = family === 6 ? 128 : 32
    const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max)
    if (family === 0 || !okBits || rest.length > 0)
      problems.push(`${path}[${i}]: must be an IP address or CIDR like "10.0.0.0/8", got ${JSON.stringify(entry)}`)
  })
  return [...value]
}

/** Maintenance windows and recycle windows: each cron and duration checked, named by its path. */
function windows(ws: WindowShape[] | undefined, path: string, problems: string[]): WindowConfig[] {
  return (ws ?? []).map((w, i) => {
    const at = `${path}[${i}]`
    const durationMs = duration(w.duration, `${at}.duration`, problems, 60_000, 1000)
    const out: WindowConfig = {
      cron: w.schedule,
      durationMs,
      ...(w.timezone !== undefined ? { timezone: w.timezone } : {}),
    }
    if (w.timezone !== undefined && !validTimezone(w.timezone)) {
      problems.push(`${at}.timezone: unknown time zone "${w.timezone}"`)
      return out
    }
    const why = windowProblem(out)
    if (why) problems.push(`${at}.${why.startsWith('too long') ? 'duration' : 'schedule'}: ${why}`)
    return out
  })
}

function notification(n: NotificationShape, path: string, problems: string[]): NotificationConfig {
  if ((n.urlEnv === undefined) === (n.urlFile === undefined))
    problems.push(`${path}: give exactly one of urlEnv or urlFile (a webhook URL is a secret: never in this file)`)
  if (n.secretEnv !== undefined && n.secretFile !== undefined)
    problems.push(`${path}: give at most one of secretEnv or secretFile`)
  return {
    name: n.name,
    format: n.format ?? 'json',
    events: [...(n.events ?? [])],
    ...(n.urlEnv !== undefined ? { urlEnv: n.urlEnv } : {}),
    ...(n.urlFile !== undefined ? { urlFile: n.urlFile } : {}),
    ...(n.secretEnv !== undefined ? { secretEnv: n.secretEnv } : {}),
    ...(n.secretFile !== undefined ? { secretFile: n.secretFile } : {}),
    timeoutMs: duration(n.timeout, `${path}.timeout`, problems, 5000, 100),
  }
}

function recycle(r: RecycleShape | undefined, base: RecycleConfig, path: string, problems: string[]): RecycleConfig {
  if (!r) return { ...base, verify: { ...base.verify }, skipWhen: [...base.skipWhen] }
  return {
    mode: r.mode ?? base.mode,
    approvalTimeoutMs: duration(r.approvalTimeout, `${path}.approvalTimeout`, problems, base.approvalTimeoutMs, 1000),
    strategy: r.strategy ?? base.strategy,
    cooldownMs: duration(r.cooldown, `${path}.cooldown`, problems, base.cooldownMs),
    maxPerWindow: r.maxPerWindow ?? base.maxPerWindow,
    windowMs: duration(r.window, `${path}.window`, problems, base.windowMs, 60_000),
    maxUnavailable: r.maxUnavailable ?? base.maxUnavailable,
    timeoutMs: duration(r.timeout, `${path}.timeout`, problems, base.timeoutMs, 1000),
    commitEnv: r.commitEnv ?? base.commitEnv,
    onGitError: r.onGitError ?? base.onGitError,
    verify: {
      delayMs: duration(r.verify?.delay, `${path}.verify.delay`, problems, base.verify.delayMs),
      attempts: r.verify?.attempts ?? base.verify.attempts,
      intervalMs: duration(r.verify?.interval, `${path}.verify.interval`, problems, base.verify.intervalMs),
    },
    rollback: r.rollback ?? base.rollback,
    unhealthyPods: r.unhealthyPods ?? base.unhealthyPods,
    skipWhen: [...(r.skipWhen ?? base.skipWhen)] as SkipCause[],
    ladder: [...(r.ladder ?? base.ladder)],
    canary: r.canary ?? base.canary,
  }
}

/**
 * The site's ladder: as configured, else replace-pods first when the site has
 * per-pod checks (they name the sick pods), then the strategy. replace-pods
 * needs per-pod checks, comes first, and is followed by at most the strategies.
 */
function siteLadder(r: RecycleConfig, checks: CheckConfig[], path: string, problems: string[]): LadderRung[] {
  const perPod = checks.some((c) => c.perPod !== undefined)
  if (r.ladder.length === 0) return perPod ? ['replace-pods', r.strategy] : [r.strategy]
  if (r.ladder.includes('replace-pods')) {
    if (!perPod)
      problems.push(`${path}: "replace-pods" needs a check with perPod (it replaces the pods that fail them)`)
    if (r.ladder[0] !== 'replace-pods') problems.push(`${path}: "replace-pods" must be the first rung`)
  }
  return [...r.ladder]
}

// Kubernetes' own rules for names (apimachinery's validation): a target's
// names go into API paths and label selectors, so nothing else may reach them.
const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'
const DNS1123_SUBDOMAIN = new RegExp(`^(?=.{1,253}$)${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`)
const LABEL_NAME = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const LABEL_VALUE = /^(?=.{0,63}$)([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/

function checkTargetNames(t: SiteShape['target'], base: string, problems: string[]): void {
  if (t.name !== undefined && !DNS1123_SUBDOMAIN.test(t.name)) {
    problems.push(
      `${base}.target.name: must be a Kubernetes object name (DNS-1123 subdomain: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit, at most 253 characters)`,
    )
  }
  for (const [key, value] of Object.entries(t.selector ?? {})) {
    const path = /^[A-Za-z0-9_.-]+$/.test(key)
      ? `${base}.target.selector.${key}`
      : `${base}.target.selector[${JSON.stringify(key)}]`
    const slash = key.lastIndexOf('/')
    const prefix = slash < 0 ? undefined : key.slice(0, slash)
    const name = slash < 0 ? key : key.slice(slash + 1)
    if ((prefix !== undefined && !DNS1123_SUBDOMAIN.test(prefix)) || !LABEL_NAME.test(name)) {
      problems.push(
        `${path}: must be a Kubernetes label key ([prefix/]name: a name of at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit)`,
      )
    } else if (!LABEL_VALUE.test(value)) {
      problems.push(
        `${path}: must be a Kubernetes label value (at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit, or empty)`,
      )
    }
  }
}

function normalizeSite(
  site: SiteShape,
  base: string,
  d: NonNullable<FileShape['defaults']>,
  defaultRecycle: RecycleConfig,
  problems: string[],
): SiteConfig {
  const t = site.target
  checkTargetNames(t, base, problems)
  let target: Target
  if (t.name !== undefined && t.selector !== undefined) {
    problems.push(`${base}.target: give either kind+name or selector, not both`)
    target = { namespace: t.namespace, selector: t.selector }
  } else if (t.selector !== undefined) {
    if (Object.keys(t.selector).length === 0) problems.push(`${base}.target.selector: must have at least one label`)
    if (t.kind !== undefined) problems.push(`${base}.target.kind: not used with selector (the selector picks pods)`)
    target = { namespace: t.namespace, selector: t.selector }
  } else if (t.name !== undefined) {
    target = { kind: (t.kind ?? 'Deployment') as WorkloadKind, namespace: t.namespace, name: t.name }
  } else {
    problems.push(`${base}.target: must name a workload (kind, name) or a selector`)
    target = { kind: 'Deployment', namespace: t.namespace, name: '' }
  }

  // A site with checks probes hourly unless it says otherwise.
  const schedule = site.schedule ?? d.schedule ?? '0 * * * *'
  if (site.schedule !== undefined && !validateCron(site.schedule))
    problems.push(`${base}.schedule: not a valid cron expression: ${JSON.stringify(site.schedule)}`)
  const timezone = site.timezone ?? d.timezone
  if (timezone !== undefined && !validTimezone(timezone))
    problems.push(`${base}.timezone: unknown time zone "${timezone}"`)

  const checks = (site.checks ?? []).map((c, j) => normalizeCheck(c, `${base}.checks[${j}]`, problems))
  const checkNames = new Set<string>()
  checks.forEach((c, j) => {
    if (checkNames.has(c.name)) problems.push(`${base}.checks[${j}].name: duplicate check name "${c.name}"`)
    checkNames.add(c.name)
  })

  const recycleCfg = recycle(site.recycle, defaultRecycle, `${base}.recycle`, problems)
  recycleCfg.ladder = siteLadder(recycleCfg, checks, `${base}.recycle.ladder`, problems)
  for (const rung of recycleCfg.ladder)
    if (rung === 'rollout' && recycleCfg.strategy !== 'rollout' && !('name' in target))
      problems.push(`${base}.recycle.ladder: "rollout" needs a named workload target`)
  if (recycleCfg.strategy === 'rollout' && !('name' in target)) {
    problems.push(
      `${base}.recycle.strategy: "rollout" needs a named workload target; use "evict" or "delete" with a selector`,
    )
  }

  let git: SiteConfig['git']
  if (site.git) {
    if (!/^https?:\/\/[^\s]+$/.test(site.git.repo) && !/^file:\/\//.test(site.git.repo)) {
      problems.push(`${base}.git.repo: must be an http(s) URL`)
    } else if (/^https?:\/\/[^/]*@/.test(site.git.repo)) {
      problems.push(`${base}.git.repo: must not contain credentials; set KUBE_RECYCLER_GIT_TOKEN instead`)
    }
    git = {
      repo: site.git.repo,
      branch: site.git.branch ?? 'production',
      username: site.git.username ?? 'git',
      cacheMs: duration(site.git.cache, `${base}.git.cache`, problems, 30_000),
    }
    const commitUrl = site.git.commitUrl
    if (commitUrl !== undefined) {
      if (!/^https?:\/\/[^\s/@]+\/[^\s]*\{commit\}[^\s]*$/.test(commitUrl)) {
        problems.push(`${base}.git.commitUrl: must be an http(s) URL without credentials containing {commit}`)
      } else {
        git.commitUrl = commitUrl
      }
    }
  }

  const out: SiteConfig = {
    name: site.name,
    target,
    jenkins: {
      jobs: site.jenkins?.jobs ?? [],
      failingStatuses: (site.jenkins?.failingStatuses ??
        d.failingStatuses ?? ['FAILURE', 'UNSTABLE']) as JenkinsStatus[],
      ...(site.jenkins?.expectEvery !== undefined
        ? { expectEveryMs: duration(site.jenkins.expectEvery, `${base}.jenkins.expectEvery`, problems, 0, 60_000) }
        : {}),
      commitIsSite: site.jenkins?.commitIsSite ?? false,
    },
    checks,
    ...(schedule !== undefined && checks.length > 0
      ? { schedule: { cron: schedule, ...(timezone ? { timezone } : {}) } }
      : {}),
    failureThreshold: site.failureThreshold ?? d.failureThreshold ?? 1,
    successThreshold: site.successThreshold ?? d.successThreshold ?? 1,
    recycle: recycleCfg,
    ...(git ? { git } : {}),
    maintenance: [],
    recycleWindows: [],
  }
  if (site.schedule !== undefined && checks.length === 0)
    problems.push(`${base}.schedule: needs at least one entry in checks`)
  return out
}

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

function normalizeCheck(c: CheckShape, path: string, problems: string[]): CheckConfig {
  let url: URL | undefined
  try {
    url = new URL(c.url)
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    problems.push(`${path}.url: must be an absolute http(s) URL`)
  if (c.bodyMatches !== undefined) {
    try {
      compileBodyPattern(c.bodyMatches)
    } catch (e) {
      problems.push(`${path}.bodyMatches: ${(e as Error).message}`)
    }
  }
  if (c.tls?.caFile !== undefined && url?.protocol === 'http:')
    problems.push(`${path}.tls.caFile: only used with https URLs`)
  const timeoutMs = duration(c.timeout, `${path}.timeout`, problems, 10_000, 1)
  const maxLatencyMs =
    c.maxLatency === undefined ? undefined : duration(c.maxLatency, `${path}.maxLatency`, problems, 0, 1)
  if (maxLatencyMs !== undefined && maxLatencyMs > timeoutMs)
    problems.push(`${path}.maxLatency: must not exceed timeout (${timeoutMs} ms)`)
  return {
    name: c.name,
    url: c.url,
    method: c.method ?? (c.body !== undefined ? 'POST' : 'GET'),
    headers: c.headers ?? {},
    ...(c.body !== undefined ? { body: c.body } : {}),
    timeoutMs,
    expectStatus: statusRanges(c.expectStatus, `${path}.expectStatus`, problems),
    ...(c.bodyContains !== undefined ? { bodyContains: c.bodyContains } : {}),
    ...(c.bodyMatches !== undefined ? { bodyMatches: c.bodyMatches } : {}),
    ...(c.json !== undefined ? { json: { path: c.json.path, equals: c.json.equals } } : {}),
    ...(maxLatencyMs !== undefined ? { maxLatencyMs } : {}),
    tls: { verify: c.tls?.verify ?? true, ...(c.tls?.caFile !== undefined ? { caFile: c.tls.caFile } : {}) },
    ...(c.certExpiryWarnDays !== undefined ? { certExpiryWarnDays: c.certExpiryWarnDays } : {}),
    ...(c.perPod === true ? { perPod: {} } : {}),
    ...(typeof c.perPod === 'object' ? { perPod: c.perPod.port !== undefined ? { port: c.perPod.port } : {} } : {}),
  }
}

/** 200, "200-299", "2xx", or a list of those. Default: 200-299. */
export function statusRanges(
  spec: number | string | (number | string)[] | undefined,
  path: string,
  problems: string[],
): StatusRange[] {
  if (spec === undefined) return [{ min: 200, max: 299 }]
  const items = Array.isArray(spec) ? spec : [spec]
  const out: StatusRange[] = []
  items.forEach((item, i) => {
    const where = Array.isArray(spec) ? `${path}[${i}]` : path
    const r = parseStatus(item)
    if (!r) problems.push(`${where}: must be a status (200), a range ("200-299") or a class ("2xx")`)
    else out.push(r)
  })
  return out
}

function parseStatus(item: number | string): StatusRange | undefined {
  const ok = (n: number): boolean => Number.isInteger(n) && n >= 100 && n <= 599
  if (typeof item === 'number') return ok(item) ? { min: item, max: item } : undefined
  const s = item.trim()
  let m = /^([1-5])xx$/i.exec(s)
  if (m) return { min: Number(m[1]) * 100, max: Number(m[1]) * 100 + 99 }
  m = /^(\d{3})\s*-\s*(\d{3})$/.exec(s)
  if (m) {
    const min = Number(m[1]),
      max = Number(m[2])
    return ok(min) && ok(max) && min <= max ? { min, max } : undefined
  }
  if (/^\d{3}$/.test(s)) return ok(Number(s)) ? { min: Number(s), max: Number(s) } : undefined
  return undefined
}
