// `kube-recycler check`: runs the configured checks once with the real probe
// engine, prints a table, writes the results file (`--json`, what `report`
// sends) and JUnit XML (`--junit`, for Jenkins' `junit` step).
// Exit codes: 0 every check passed, 1 a check failed, 2 a usage or config error.

import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { performance } from 'node:perf_hooks'

import type { Config, SiteConfig } from '../config/types.ts'
import { createProber } from '../triggers/probe.ts'
import { loadCommandConfig, parseOptions, positiveInt, UsageError, type CliContext } from './args.ts'
import { toJUnit } from './junit.ts'
import { formatTable } from './table.ts'
import { RESULTS_VERSION, type Results, type SiteResults } from './results.ts'

export const CHECK_USAGE = `usage: kube-recycler check --config FILE [--site NAME]... [--json FILE] [--junit FILE] [--concurrency N]

Runs every check of every site in the config once (or of each --site) and
prints a table. Sites without checks are skipped.

  --config FILE     the service's YAML config (default: KUBE_RECYCLER_CONFIG)
  --site NAME       only this site; repeat for several
  --json FILE       write the results, the file \`kube-recycler report\` sends
  --junit FILE      write JUnit XML, one test suite per site (Jenkins: junit)
  --concurrency N   checks in flight at once (default: service.probeConcurrency, 16)

exit status: 0 every check passed, 1 a check failed, 2 bad arguments or config
`

const OPTIONS = {
  config: { type: 'string' },
  site: { type: 'string', multiple: true },
  json: { type: 'string' },
  junit: { type: 'string' },
  concurrency: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function checkCommand(ctx: CliContext): Promise<number> {
  const o = parseOptions(ctx.args, OPTIONS)
  if (o.help) {
    ctx.stdout.write(CHECK_USAGE)
    return 0
  }
  const configPath = o.config ?? nonEmpty(ctx.env.KUBE_RECYCLER_CONFIG)
  if (configPath === undefined) throw new UsageError('--config FILE is required (or set KUBE_RECYCLER_CONFIG)')
  if (o.json === '' || o.junit === '') throw new UsageError('--json and --junit need a file name')
  const config = loadCommandConfig(configPath, ctx)
  if (!config) return 2
  const concurrency = positiveInt(o.concurrency, '--concurrency', config.service.probeConcurrency)
  const sites = selectSites(config, configPath, o.site ?? [], ctx)

  const results = await runSites(sites, concurrency)

  ctx.stdout.write(renderTable(results))
  ctx.stdout.write(`${summary(results)}\n`)
  if (o.json !== undefined) {
    writeOut(o.json, `${JSON.stringify(results, null, 2)}\n`)
    ctx.stdout.write(`results written to ${o.json}\n`)
  }
  if (o.junit !== undefined) {
    writeOut(o.junit, toJUnit(results))
    ctx.stdout.write(`JUnit XML written to ${o.junit}\n`)
  }
  return results.ok ? 0 : 1
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s
}

function selectSites(config: Config, configPath: string, names: string[], ctx: CliContext): SiteConfig[] {
  if (names.length > 0) {
    return [...new Set(names)].map((name) => {
      const site = config.sites.find((s) => s.name === name)
      if (!site)
        throw new UsageError(
          `no site named "${name}" in ${configPath} (sites: ${config.sites.map((s) => s.name).join(', ')})`,
        )
      if (site.checks.length === 0) throw new UsageError(`site "${name}" has no checks in ${configPath}`)
      return site
    })
  }
  const withChecks = config.sites.filter((s) => s.checks.length > 0)
  for (const s of config.sites) {
    if (s.checks.length === 0) ctx.stderr.write(`kube-recycler: site "${s.name}" has no checks; skipped\n`)
  }
  if (withChecks.length === 0) throw new UsageError(`no site in ${configPath} has checks`)
  return withChecks
}

/** Every site's checks at once, bounded by one prober's concurrency. */
export async function runSites(sites: SiteConfig[], concurrency: number): Promise<Results> {
  const prober = createProber({ concurrency, keepAlive: true })
  const at = new Date().toISOString()
  try {
    const perSite = await Promise.all(
      sites.map(async (site): Promise<SiteResults> => {
        const siteAt = new Date().toISOString()
        const started = performance.now()
        const checks = await prober.runChecks(site.checks)
        return {
          site: site.name,
          ok: checks.every((c) => c.ok),
          at: siteAt,
          durationMs: Math.round((performance.now() - started) * 100) / 100,
          checks,
        }
      }),
    )
    return { version: RESULTS_VERSION, at, ok: perSite.every((s) => s.ok), sites: perSite }
  } finally {
    await prober.close()
  }
}

function writeOut(path: string, text: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, text)
  } catch (e) {
    throw new UsageError(`cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
}

function latency(ms: number | undefined): string {
  if (ms === undefined) return '-'
  return ms < 100 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`
}

const oneLine = (s: string): string => s.replace(/\s*[\r\n]+\s*/g, ' ')

/** The table: site, check, OK/FAIL, status, latency, message; a WARN row under a check per warning. */
export function renderTable(results: Results): string {
  const rows: string[][] = [['SITE', 'CHECK', 'RESULT', 'STATUS', 'LATENCY', 'MESSAGE']]
  for (const s of results.sites) {
    for (const c of s.checks) {
      rows.push([
        s.site,
        c.name,
        c.ok ? 'OK' : 'FAIL',
        c.status === undefined ? '-' : String(c.status),
        latency(c.latencyMs),
        oneLine(c.message ?? ''),
      ])
      for (const w of c.warnings ?? []) rows.push(['', '', 'WARN', '', '', oneLine(w)])
    }
  }
  return formatTable(rows)
}

export function summary(results: Results): string {
  const all = results.sites.flatMap((s) => s.checks.map((c) => ({ site: s.site, c })))
  const failed = all.filter((x) => !x.c.ok)
  const warned = all.filter((x) => (x.c.warnings?.length ?? 0) > 0)
  const sites = results.sites.length
  let line = `${all.length} check${all.length === 1 ? '' : 's'} on ${sites} site${sites === 1 ? '' : 's'}: ${all.length - failed.length} passed, ${failed.length} failed`
  if (failed.length > 0) line += ` (${failed.map((x) => `${x.site}/${x.c.name}`).join(', ')})`
  if (warned.length > 0)
    line += `; ${warned.length} with warnings (${warned.map((x) => `${x.site}/${x.c.name}`).join(', ')})`
  return line
}
