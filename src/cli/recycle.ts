// `kube-recycler recycle SITE --reason …`: an operator's manual recycle
// (POST /recycle). With --wait it follows the recycle (GET /recycles/:id),
// printing each new step, until it has ended and been verified, and exits
// with a code that says how it went (RECYCLE_EXIT).

import { setTimeout as sleep } from 'node:timers/promises'
import { STRATEGIES, type StrategyName } from '../config/types.ts'
import type { RecycleRecord, RecycleStep } from '../state/schema.ts'
import type { StatusModel } from '../status/model.ts'
import { durationOption, parseCommand, refuseSecretOptions, UsageError, type CliContext } from './args.ts'
import { createClient, printable, ServiceError } from './client.ts'

/** Exit codes, by outcome; the usage text and the README list the same. */
export const RECYCLE_EXIT = {
  ok: 0,
  refused: 1,
  usage: 2,
  failed: 3,
  skipped: 4,
  didNotHelp: 5,
  waitTimedOut: 6,
} as const

export const RECYCLE_USAGE = `usage: kube-recycler recycle SITE --reason TEXT [--strategy NAME] [--commit SHA]
                             [--dry-run] [--wait] [--url URL] [--timeout DURATION]

Asks the service to recycle SITE now, as an operator (POST /recycle). The
service's policy still applies: one recycle per site at a time, the
cooldown. An operator's recycle is not stopped by an open circuit breaker
or by an earlier recycle-did-not-help.

  SITE               the site, as named in the service's config
  --reason TEXT      why (required; kept with the recycle and in the Event)
  --strategy NAME    ${STRATEGIES.join(', ')} (default: the site's)
  --commit SHA       pin this commit (default: the production head, with git)
  --dry-run          plan and record only; nothing changes in the cluster
  --wait             follow the recycle, printing each step, until it ends
                     and the site has been probed again
  --url URL          the service (default: KUBE_RECYCLER_URL, then http://127.0.0.1:8080)
  --timeout DURATION how long --wait follows (default 15m); each request gives
                     up after 10s

The operator token comes from the environment only: KUBE_RECYCLER_RECYCLE_TOKEN.

exit status:
  0  accepted (without --wait); with --wait: succeeded, and recovered when the
     site has checks, or planned (a dry-run)
  1  refused by the service (its reason is printed) or unreachable
  2  bad arguments
  3  the recycle failed
  4  skipped: the policy refused it (cooldown, another recycle in flight)
  5  it succeeded but the site still fails (recycle-did-not-help)
  6  --wait gave up (--timeout) before the end; the recycle goes on in the service
`

const OPTIONS = {
  reason: { type: 'string' },
  strategy: { type: 'string' },
  commit: { type: 'string' },
  'dry-run': { type: 'boolean' },
  wait: { type: 'boolean' },
  url: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const TERMINAL = new Set(['planned', 'succeeded', 'failed', 'skipped'])

/** Has the recycle ended, including the verification after it? */
export function finished(r: Pick<RecycleRecord, 'state' | 'verification'>): boolean {
  return TERMINAL.has(r.state) && r.verification !== 'pending'
}

/** The exit code for a recycle as last seen: pending or running counts as accepted (no --wait). */
export function recycleExitCode(r: Pick<RecycleRecord, 'state' | 'verification'>): number {
  if (r.state === 'failed') return RECYCLE_EXIT.failed
  if (r.state === 'skipped') return RECYCLE_EXIT.skipped
  if (r.verification === 'recycle-did-not-help') return RECYCLE_EXIT.didNotHelp
  return RECYCLE_EXIT.ok
}

/** One line for where a recycle stands. */
export function describeRecycle(r: RecycleRecord): string {
  let line = `${printable(r.id)}: ${r.state}`
  if (r.state === 'planned') line += ' (dry-run: nothing changed)'
  else if (r.dryRun) line += ' (dry-run)'
  if (r.verification === 'pending') line += ', verifying'
  else if (r.verification) line += `, ${r.verification}`
  if (r.reason && (r.state === 'failed' || r.state === 'skipped')) line += `: ${printable(r.reason)}`
  if (r.repeats !== undefined && r.repeats > 1) line += ` (refused ${r.repeats} times in a row)`
  return line
}

const stepLine = (s: RecycleStep): string =>
  `  ${s.at.length >= 19 ? `${s.at.slice(11, 19)}Z` : printable(s.at)}  ${printable(s.message)}`

interface Summary {
  id: string
  site: string
  state: string
  strategy: string
  dryRun: boolean
  url: string
  reason?: string
}

export async function recycleCommand(ctx: CliContext): Promise<number> {
  refuseSecretOptions(ctx.args, 'KUBE_RECYCLER_RECYCLE_TOKEN')
  const { values: o, positionals } = parseCommand(ctx.args, OPTIONS, { max: 1, names: 'one SITE' })
  if (o.help) {
    ctx.stdout.write(RECYCLE_USAGE)
    return 0
  }
  const site = positionals[0]
  if (site === undefined || site === '') throw new UsageError('which site? kube-recycler recycle SITE --reason TEXT')
  if (o.reason === undefined || o.reason.trim() === '')
    throw new UsageError('--reason TEXT is required: say why, it is kept with the recycle')
  if (o.strategy !== undefined && !(STRATEGIES as readonly string[]).includes(o.strategy)) {
    throw new UsageError(`--strategy must be one of ${STRATEGIES.join(', ')}, got ${JSON.stringify(o.strategy)}`)
  }
  if (o.commit !== undefined && !/^[0-9a-fA-F]{7,64}$/.test(o.commit))
    throw new UsageError('--commit must be a commit sha (7 to 64 hex digits)')
  const waitMs = durationOption(o.timeout, '--timeout', 15 * 60_000, 24 * 3_600_000)
  const client = createClient(ctx, { url: o.url, timeoutMs: Math.min(10_000, waitMs) })
  try {
    const body = {
      site,
      reason: o.reason.trim(),
      ...(o.strategy !== undefined ? { strategy: o.strategy as StrategyName } : {}),
      ...(o.commit !== undefined ? { commit: o.commit } : {}),
      ...(o['dry-run'] ? { dryRun: true } : {}),
    }
    const accepted = await client.post<Summary>('/recycle', body)
    ctx.stdout.write(
      `recycle ${printable(accepted.id)} of ${printable(accepted.site)} (${printable(accepted.strategy)}): ${accepted.state}${accepted.dryRun ? ' (dry-run)' : ''}${accepted.reason ? `: ${printable(accepted.reason)}` : ''}\n`,
    )
    if (!o.wait) {
      ctx.stdout.write(`follow it: GET ${client.base.href.replace(/\/$/, '')}${accepted.url}\n`)
      return recycleExitCode({ state: accepted.state as RecycleRecord['state'] })
    }
    return await follow(ctx, client, accepted, waitMs)
  } finally {
    await client.close()
  }
}

async function follow(
  ctx: CliContext,
  client: ReturnType<typeof createClient>,
  accepted: Summary,
  waitMs: number,
): Promise<number> {
  const deadline = Date.now() + waitMs
  // Steps are bounded in the store (the first and the last ones are kept),
  // so what was printed is remembered by content, not by position.
  const printed = new Set<string>()
  const show = (r: RecycleRecord): void => {
    for (const s of r.steps) {
      const key = `${s.at} ${s.message}`
      if (printed.has(key)) continue
      printed.add(key)
      ctx.stdout.write(`${stepLine(s)}\n`)
    }
  }
  // A dry-run against a cluster gets its plan (read from the cluster) a
  // moment later; without a cluster there is none to wait for.
  let awaitPlan = false
  if (accepted.state === 'planned') {
    try {
      awaitPlan = (await client.get<StatusModel>('/status?format=json')).service.cluster === 'connected'
    } catch {
      awaitPlan = false
    }
  }
  const path = `/recycles/${encodeURIComponent(accepted.id)}`
  for (;;) {
    let r: RecycleRecord
    try {
      r = await client.get<RecycleRecord>(path)
    } catch (e) {
      // A replica restarting (503) or a hiccup: keep following until the deadline.
      if (!(e instanceof ServiceError) || e.status === 404 || Date.now() >= deadline) throw e
      await sleep(1000)
      continue
    }
    show(r)
    const done = finished(r) && !(awaitPlan && r.state === 'planned' && r.plan === undefined && r.reason === undefined)
    if (done) {
      ctx.stdout.write(`${describeRecycle(r)}\n`)
      return recycleExitCode(r)
    }
    if (Date.now() >= deadline) {
      ctx.stderr.write(
        `kube-recycler recycle: gave up waiting after ${waitMs < 10_000 ? (waitMs / 1000).toFixed(1) : Math.round(waitMs / 1000)} s; ${describeRecycle(r)}; it goes on in the service (GET ${path})\n`,
      )
      return RECYCLE_EXIT.waitTimedOut
    }
    await sleep(Math.min(1000, Math.max(0, deadline - Date.now())))
  }
}
