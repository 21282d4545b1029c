// `kube-recycler status`: a running service's sites (GET /status) as a
// table, or its JSON for scripts. Every replica answers the same (the state
// is shared), so any replica's URL will do.

import type { StatusModel, SiteStatus } from '../status/model.ts'
import { durationOption, parseCommand, refuseSecretOptions, type CliContext } from './args.ts'
import { createClient, printable } from './client.ts'
import { formatTable } from './table.ts'

export const STATUS_USAGE = `usage: kube-recycler status [--url URL] [--json] [--timeout DURATION]

Shows a running service's sites: health, the last verdict, the last recycle
and its verification, the circuit breaker, drift from the production head.

  --url URL           the service (default: KUBE_RECYCLER_URL, then http://127.0.0.1:8080)
  --json              print the service's JSON (GET /status) instead of the table
  --timeout DURATION  give up after this long, e.g. 5s (default 10s)

With service.statusAuth, /status needs the operator token: set
KUBE_RECYCLER_RECYCLE_TOKEN in the environment (never an option).

exit status: 0 the service answered, 1 refused or unreachable, 2 bad arguments
`

const OPTIONS = {
  url: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function statusCommand(ctx: CliContext): Promise<number> {
  refuseSecretOptions(ctx.args, 'KUBE_RECYCLER_RECYCLE_TOKEN')
  const { values: o } = parseCommand(ctx.args, OPTIONS, { max: 0, names: '' })
  if (o.help) {
    ctx.stdout.write(STATUS_USAGE)
    return 0
  }
  const client = createClient(ctx, { url: o.url, timeoutMs: durationOption(o.timeout, '--timeout', 10_000, 600_000) })
  try {
    const model = await client.get<StatusModel>('/status?format=json')
    if (o.json) ctx.stdout.write(`${jsonForTerminal(model)}\n`)
    else ctx.stdout.write(renderStatus(model, Date.now()))
    return 0
  } finally {
    await client.close()
  }
}

/** JSON.stringify leaves C1 control characters raw; escaped, the JSON is the same and a terminal is safe. */
export function jsonForTerminal(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** "12s ago", "5m ago", "3h ago", "2d ago"; a time in the future (clock skew) is "now". */
export function ago(iso: string | undefined, now: number): string {
  if (iso === undefined) return ''
  const t = Date.parse(iso)
  if (!Number.isFinite(t)) return ''
  const s = Math.max(0, Math.round((now - t) / 1000))
  if (s < 90) return `${s}s ago`
  if (s < 90 * 60) return `${Math.round(s / 60)}m ago`
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h ago`
  return `${Math.round(s / 86400)}d ago`
}

const cut = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`)

function verdictCell(s: SiteStatus, now: number): string {
  const v = s.lastVerdict
  if (!v) return '-'
  return printable(cut(`${v.ok ? 'ok' : 'FAIL'} ${v.source} ${ago(v.at, now)}: ${v.summary}`, 60))
}

function recycleCell(s: SiteStatus, now: number): string {
  const r = s.lastRecycle
  if (!r) return '-'
  const parts = [
    r.state,
    ...(r.verification ? [r.verification] : []),
    ...(r.dryRun && r.state !== 'planned' ? ['dry-run'] : []),
  ]
  return printable(`${r.id} ${parts.join(', ')} ${ago(r.createdAt, now)}`)
}

/** The table, then one line per thing an operator must know about a site. */
export function renderStatus(m: StatusModel, now: number): string {
  const svc = m.service
  let out = `kube-recycler ${printable(svc.version)}, replica ${printable(svc.replica)}${svc.leader ? ' (leader)' : ''}, cluster ${printable(svc.cluster)}, ${svc.ready ? 'ready' : 'NOT READY'}, up since ${printable(svc.startedAt)}\n`
  if (svc.dryRun)
    out += `DRY-RUN: ${svc.note ? `${printable(svc.note)}; ` : ''}recycles are planned and recorded, nothing changes in the cluster\n`
  out += '\n'
  if (m.sites.length === 0) return `${out}no sites configured\n`
  const rows = [['SITE', 'HEALTH', 'FAILURES', 'TARGET', 'LAST VERDICT', 'LAST RECYCLE']]
  for (const s of m.sites) {
    rows.push([
      printable(s.name),
      s.health + (s.circuitOpen ? ' (circuit open)' : '') + (s.stale ? ' (stale)' : ''),
      String(s.consecutiveFailures),
      printable(s.target),
      verdictCell(s, now),
      recycleCell(s, now),
    ])
  }
  out += formatTable(rows)
  const notes: string[] = []
  for (const s of m.sites) {
    const name = printable(s.name)
    if (s.circuitOpen)
      notes.push(`${name}: circuit open: automatic recycles stopped (recycle by hand once the cause is fixed)`)
    if (s.stale)
      notes.push(`${name}: stale: no Jenkins report ${s.lastReportAt ? `since ${printable(s.lastReportAt)}` : 'yet'}`)
    if (s.git?.drift)
      notes.push(
        `${name}: drift: runs ${printable((s.git.running ?? '?').slice(0, 12))}, the ${printable(s.git.branch)} head is ${printable((s.git.head ?? '?').slice(0, 12))}`,
      )
    if (s.git?.error) notes.push(`${name}: git: ${printable(s.git.error)}`)
    if (s.note) notes.push(`${name}: ${printable(s.note)}`)
    for (const c of s.lastVerdict?.checks ?? []) {
      for (const w of c.warnings ?? []) notes.push(`${name}: ${printable(c.name)}: ${printable(w)}`)
    }
  }
  if (notes.length > 0) out += `\n${notes.join('\n')}\n`
  return out
}
