// The HTML dashboard GET /status serves to a browser, and the page of one
// recycle (GET /recycles/:id). Rendered on the server from the same data as
// the JSON, every value escaped, no script (the CSP forbids it, and no style
// attribute either: only classes of the one hashed style); /status refreshes
// itself.

import { createHash } from 'node:crypto'
import type { StatusModel } from './model.ts'
import type { RecycleBrief, RecycleRecord, TimelineRun } from '../state/schema.ts'

// The page's only style, inline; the CSP allows exactly this text by its hash.
const STYLE = `
  :root { color-scheme: light dark; --fg: #1d232a; --bg: #f7f8fa; --card: #fff; --head: #eef0f3; --line: #e6e8eb; --muted: #67707a;
    --ok: #2da44e; --bad: #cf222e; --rec: #8250df; --link: #0550ae; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --card: #161b22; --head: #21262d; --line: #30363d; --muted: #8b949e;
    --ok: #3fb950; --bad: #f85149; --rec: #a371f7; --link: #58a6ff; } }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: var(--fg); background: var(--bg); }
  a { color: var(--link); }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
  table { border-collapse: collapse; width: 100%; background: var(--card); box-shadow: 0 1px 2px #0001; }
  th, td { text-align: left; padding: .55rem .7rem; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-weight: 600; background: var(--head); }
  .muted { color: var(--muted); font-size: 12px; }
  .badge { display: inline-block; padding: .1rem .5rem; border-radius: 1rem; font-weight: 600; font-size: 12px; }
  .healthy { background: #d8f3df; color: #11602a; } .failing { background: #fddcdc; color: #8a1414; } .unknown { background: #e8e8e8; color: #444; }
  .banner { background: #fff4d6; color: #1d232a; border: 1px solid #e9c46a; padding: .6rem .8rem; margin: 1rem 0; border-radius: 4px; }
  code { font-size: 12px; }
  tr.details td { border-bottom: 2px solid var(--line); padding-top: 0; }
  .timeline { display: flex; gap: 2px; align-items: flex-end; height: 26px; margin: .3rem 0; }
  .timeline .bar { display: block; flex: 0 0 8px; height: 24px; border-radius: 2px; }
  .timeline .bar.ok { background: var(--ok); } .timeline .bar.bad { background: var(--bad); }
  .timeline .bar.recycle { flex-basis: 4px; height: 26px; background: var(--rec); }
  .timeline .empty { color: var(--muted); font-size: 12px; }
  table.checks { box-shadow: none; margin-top: .3rem; } table.checks td, table.checks th { padding: .25rem .5rem; font-size: 12px; }
  .check-ok { color: var(--ok); font-weight: 600; } .check-bad { color: var(--bad); font-weight: 600; } .warn { color: #b35900; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; background: var(--card); padding: .8rem; }
  dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
`

/**
 * Headers for the page: no script at all, the one style above, no framing
 * (clickjacking), no content sniffing. The page needs nothing else.
 */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'none'",
    `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
    "script-src 'none'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]!)
}

function agoText(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (!Number.isFinite(s)) return iso
  if (s < 90) return `${s}s ago`
  if (s < 5400) return `${Math.round(s / 60)}m ago`
  return `${Math.round(s / 3600)}h ago`
}

/** "82s ago", with the absolute time on hover. */
function ago(iso: string | undefined, now: number): string {
  if (!iso) return '—'
  return `<time datetime="${escapeHtml(iso)}" title="${escapeHtml(iso)}">${escapeHtml(agoText(iso, now))}</time>`
}

const HEX = /^[0-9a-f]{7,64}$/i

/** A commit, linked to the git host when the site has git.commitUrl (only a hex commit goes into a URL). */
export function commitLink(commit: string | undefined, template: string | undefined, len = 12): string {
  if (!commit) return '—'
  const code = `<code>${escapeHtml(commit.slice(0, len))}</code>`
  if (!template || !HEX.test(commit)) return code
  return `<a class="commit" href="${escapeHtml(template.replaceAll('{commit}', encodeURIComponent(commit)))}" title="${escapeHtml(commit)}">${code}</a>`
}

/**
 * The Jenkins build (or, for an alert, the rule's graph in Prometheus: its
 * generatorURL), when the verdict's ref is an http(s) URL (never another scheme).
 */
export function buildLink(ref: string | undefined, source?: string): string {
  if (!ref || !/^https?:\/\/[^\s]+$/i.test(ref)) return ''
  return ` · <a class="build" href="${escapeHtml(ref)}">${source === 'alertmanager' ? 'graph' : 'build'}</a>`
}

function runTitle(r: TimelineRun): string {
  const span = r.from === r.to ? r.from : `${r.from} – ${r.to}`
  return `${span} · ${r.source} · ${r.ok ? 'passing' : 'failing'}${r.count > 1 ? ` ×${r.count}` : ''}: ${r.summary}`
}

/** The verdict runs and, between them, the recycles of the same span, oldest first: coloured bars. */
export function timelineBars(runs: readonly TimelineRun[], recycles: readonly RecycleBrief[]): string {
  if (runs.length === 0) return '<span class="empty">no verdicts yet</span>'
  const first = runs[0]!.from
  const items: { at: string; html: string }[] = runs.map((r) => ({
    at: r.from,
    html: `<span class="bar ${r.ok ? 'ok' : 'bad'}" data-ok="${r.ok}" title="${escapeHtml(runTitle(r))}"></span>`,
  }))
  for (const r of recycles) {
    if (r.createdAt < first) continue
    items.push({
      at: r.createdAt,
      html: `<a class="bar recycle" href="/recycles/${escapeHtml(r.id)}" data-state="${escapeHtml(r.state)}" title="${escapeHtml(`${r.createdAt} · recycle ${r.state}: ${r.trigger.reason}`)}"></a>`,
    })
  }
  // By start time; the sort is stable, so a recycle made by a verdict sorts
  // after that verdict's run. A run that went on after a recycle (still
  // failing) is drawn before it: the bar is the run, its title says its span.
  items.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
  return items.map((i) => i.html).join('')
}

/** The last verdict's checks: status, latency, certificate and other warnings. */
function checksTable(v: StatusModel['sites'][number]['lastVerdict']): string {
  if (!v || v.checks.length === 0) return ''
  const rows = v.checks
    .map(
      (c) => `<tr class="check" data-ok="${c.ok}">
      <td class="${c.ok ? 'check-ok' : 'check-bad'}">${c.ok ? 'ok' : 'failed'}</td><td>${escapeHtml(c.name)}${c.url ? `<div class="muted">${escapeHtml(c.url)}</div>` : ''}</td>
      <td>${c.status !== undefined ? escapeHtml(c.status) : '—'}</td><td>${c.latencyMs !== undefined ? `${escapeHtml(Math.round(c.latencyMs))} ms` : '—'}</td>
      <td>${c.message ? escapeHtml(c.message) : ''}${c.cause ? ` <span class="muted">(${escapeHtml(c.cause)})</span>` : ''}${(c.warnings ?? []).map((w) => `<div class="warn">⚠ ${escapeHtml(w)}</div>`).join('')}</td></tr>`,
    )
    .join('')
  return `<table class="checks"><thead><tr><th>Check</th><th>Name</th><th>Status</th><th>Latency</th><th>Detail</th></tr></thead><tbody>${rows}</tbody></table>`
}

/** The last verdict's per-pod results: each pod, the commit it runs, which check failed and how. */
function podsTable(s: StatusModel['sites'][number]): string {
  const p = s.lastVerdict?.pods
  if (!p) return ''
  const head = `<div class="muted pods-summary">per-pod checks: ${escapeHtml(p.failing)} of ${escapeHtml(p.total)} pods failing${p.leftOut ? ` (${escapeHtml(p.leftOut)} passing pods not listed)` : ''}${p.error ? ` · ${escapeHtml(p.error)}` : ''}</div>`
  if (p.pods.length === 0) return head
  const rows = p.pods
    .map(
      (r) => `<tr class="pod" data-pod="${escapeHtml(r.name)}" data-ok="${r.ok}">
      <td class="${r.ok ? 'check-ok' : 'check-bad'}">${r.ok ? 'ok' : 'failed'}</td><td>${escapeHtml(r.name)}${r.ip ? `<div class="muted">${escapeHtml(r.ip)}</div>` : ''}</td>
      <td>${r.commit ? commitLink(r.commit, s.commitUrl) : '—'}</td>
      <td>${r.ok ? '' : `${escapeHtml(r.check ?? '')}: ${escapeHtml(r.message ?? 'failed')}${r.cause ? ` <span class="muted">(${escapeHtml(r.cause)})</span>` : ''}`}</td></tr>`,
    )
    .join('')
  return `${head}<table class="checks pods"><thead><tr><th>Pod</th><th>Name</th><th>Commit</th><th>Failed check</th></tr></thead><tbody>${rows}</tbody></table>`
}

function commitCell(s: StatusModel['sites'][number]): string {
  const g = s.git
  if (!g || (!g.head && !g.running && !g.error)) return '—'
  const short = (c?: string) => commitLink(c, s.commitUrl)
  const drift = g.drift
    ? ' <span class="badge failing" title="the workload does not run the production head">drift</span>'
    : ''
  const err = g.error ? `<div class="muted">${escapeHtml(g.error)}</div>` : ''
  return `runs ${short(g.running)}${drift}<div class="muted">${escapeHtml(g.branch || 'branch')} head ${short(g.head)}</div>${err}`
}

const pauseText = (p: { by: string; reason: string; since: string; until?: string }): string =>
  `paused by ${escapeHtml(p.by)} since ${escapeHtml(p.since)}${p.until ? ` until ${escapeHtml(p.until)}` : ''}: ${escapeHtml(p.reason)}`

/** Pause, mode, what waits, and the windows: the operator's column. */
function controlCell(s: StatusModel['sites'][number]): string {
  const parts: string[] = []
  if (s.paused) parts.push(`<span class="badge paused">paused</span><div class="muted">${pauseText(s.paused)}</div>`)
  if (s.mode !== 'auto') parts.push(`<span class="badge unknown">mode ${escapeHtml(s.mode)}</span>`)
  if (s.waiting)
    parts.push(
      `<div><a href="/recycles/${escapeHtml(s.waiting.id)}">${escapeHtml(s.waiting.state)}</a>${s.waiting.expiresAt ? ` until ${escapeHtml(s.waiting.expiresAt)}` : ''}</div>`,
    )
  const m = s.windows?.maintenance
  if (m)
    parts.push(
      `<div class="muted">maintenance: ${m.open ? `<strong>open until ${escapeHtml(m.open.until)}</strong>` : 'closed'}${m.next ? ` · next ${escapeHtml(m.next)}` : ''}</div>`,
    )
  const r = s.windows?.recycle
  if (r)
    parts.push(
      `<div class="muted">recycle window: ${r.open ? `open until ${escapeHtml(r.open.until)}` : '<strong>closed</strong>'}${r.next ? ` · next ${escapeHtml(r.next)}` : ''}</div>`,
    )
  if (s.lastReset)
    parts.push(`<div class="muted">reset by ${escapeHtml(s.lastReset.by)} ${escapeHtml(s.lastReset.at)}</div>`)
  return parts.join('') || '—'
}

export function renderStatusPage(m: StatusModel, now: number, refreshSeconds = 10): string {
  const rows = m.sites
    .map((s) => {
      const badge = s.stale ? `${s.health} · stale` : s.health
      const lr = s.lastRecycle
      return `<tr class="site" data-site="${escapeHtml(s.name)}" data-health="${escapeHtml(s.health)}">
      <td><strong>${escapeHtml(s.name)}</strong><div class="muted">${escapeHtml(s.target)} · ${escapeHtml(s.strategy)}</div></td>
      <td><span class="badge ${escapeHtml(s.health)}">${escapeHtml(badge)}</span>${s.circuitOpen ? ' <span class="badge failing">circuit open</span>' : ''}${s.note ? `<div class="muted">${escapeHtml(s.note)}</div>` : ''}</td>
      <td>${s.consecutiveFailures}</td>
      <td>${s.lastVerdict ? `${escapeHtml(s.lastVerdict.summary)}<div class="muted">${escapeHtml(s.lastVerdict.source)} · ${ago(s.lastVerdict.at, now)}${s.lastVerdict.commit ? ` · ${commitLink(s.lastVerdict.commit, s.commitUrl)}` : ''}${buildLink(s.lastVerdict.ref, s.lastVerdict.source)}</div>` : '—'}</td>
      <td>${commitCell(s)}</td>
      <td class="control">${controlCell(s)}</td>
      <td>${lr ? `<a href="/recycles/${escapeHtml(lr.id)}">${escapeHtml(lr.state)}</a>${lr.verification ? ` · ${escapeHtml(lr.verification)}` : ''}${lr.commit ? ` ${commitLink(lr.commit, s.commitUrl)}` : ''}${lr.rungs?.length ? `<div class="rungs muted">${lr.rungs.map((g) => `${escapeHtml(g.rung)} ${escapeHtml(g.outcome)}`).join(' → ')}</div>` : ''}<div class="muted">${ago(lr.createdAt, now)}${lr.reason ? ` · ${escapeHtml(lr.reason)}` : ''}</div>` : '—'}</td>
    </tr>
    <tr class="details" data-site="${escapeHtml(s.name)}"><td colspan="7">
      <div class="timeline" aria-label="last verdicts of ${escapeHtml(s.name)}">${timelineBars(
        s.timeline ?? [],
        m.recent.filter((r) => r.site === s.name),
      )}</div>
      ${checksTable(s.lastVerdict)}
      ${podsTable(s)}
    </td></tr>`
    })
    .join('\n')
  const commitUrls = new Map(m.sites.flatMap((s) => (s.commitUrl ? [[s.name, s.commitUrl] as const] : [])))
  const recent = m.recent
    .slice(0, 20)
    .map(
      (r) => `<tr class="recycle" data-state="${escapeHtml(r.state)}">
      <td><a href="/recycles/${escapeHtml(r.id)}"><code>${escapeHtml(r.id)}</code></a></td><td>${escapeHtml(r.site)}</td>
      <td>${escapeHtml(r.state)}${r.repeats ? ` ×${r.repeats}` : ''}${r.dryRun ? ' (dry-run)' : ''}${r.canary ? `<div class="muted canary">canary ${escapeHtml(r.canary.pod)}: ${r.canary.passed ? 'healthy' : `failed${r.canary.check ? ` ${escapeHtml(r.canary.check)}` : ''}`}</div>` : ''}</td><td>${escapeHtml(r.trigger.source)}: ${escapeHtml(r.trigger.reason)}</td>
      <td>${commitLink(r.commit, commitUrls.get(r.site))}</td><td>${ago(r.createdAt, now)}</td></tr>`,
    )
    .join('\n')
  const banner = m.service.dryRun
    ? `<div class="banner" role="alert">Dry-run: recycles are planned and recorded, nothing changes in the cluster${m.service.note ? ` — ${escapeHtml(m.service.note)}` : ''}.</div>`
    : ''
  const paused = m.service.paused
    ? `<div class="banner paused-banner" role="alert">The service is ${pauseText(m.service.paused)}. Automatic recycles are answered "paused"; verdicts are still taken.</div>`
    : ''
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${refreshSeconds}">
<title>kube-recycler status</title>
<style>${STYLE}</style></head>
<body>
<h1>kube-recycler</h1>
<div class="muted">version ${escapeHtml(m.service.version)} · up since ${ago(m.service.startedAt, now)} · cluster: ${escapeHtml(m.service.cluster)} · replica <code>${escapeHtml(m.service.replica)}</code>${m.service.leader ? ' (leader)' : ''}${m.service.ready ? '' : ' · <strong>not ready</strong>'} · <a href="/status?format=json">JSON</a> · <a href="/metrics">metrics</a></div>
${banner}
${paused}
<h2>Sites</h2>
<table id="sites"><thead><tr><th>Site</th><th>Health</th><th>Failures</th><th>Last verdict</th><th>Commit</th><th>Control</th><th>Last recycle</th></tr></thead>
<tbody>${rows || '<tr><td colspan="7">No sites configured.</td></tr>'}</tbody></table>
<h2>Recent recycles</h2>
<table id="recent"><thead><tr><th>Id</th><th>Site</th><th>State</th><th>Trigger</th><th>Commit</th><th>When</th></tr></thead>
<tbody>${recent || '<tr><td colspan="6">None yet.</td></tr>'}</tbody></table>
</body></html>`
}

/** GET /recycles/:id for a browser: the record's facts, plan, steps, verification and rollback. */
export function renderRecyclePage(r: RecycleRecord, now: number, commitUrl?: string): string {
  const fact = (k: string, v: string): string => `<dt>${escapeHtml(k)}</dt><dd>${v}</dd>`
  const facts = [
    fact('site', escapeHtml(r.site)),
    fact('target', escapeHtml(r.target)),
    fact(
      'state',
      `<span class="badge ${r.state === 'succeeded' ? 'healthy' : r.state === 'failed' || r.state === 'rolled-back' || r.state === 'canary-failed' ? 'failing' : 'unknown'}" id="state">${escapeHtml(r.state)}</span>${r.repeats ? ` ×${escapeHtml(r.repeats)}` : ''}${r.dryRun ? ' (dry-run)' : ''}`,
    ),
    ...(r.state === 'rolled-back'
      ? [
          fact(
            'rollback',
            `rolled back to the revision before${r.revisionBefore !== undefined ? ` (${escapeHtml(r.revisionBefore)})` : ''}${r.commitBefore ? `, commit ${commitLink(r.commitBefore, commitUrl)}` : ''}`,
          ),
        ]
      : []),
    ...(r.reason ? [fact('reason', escapeHtml(r.reason))] : []),
    ...(r.canary
      ? [
          fact(
            'canary',
            `<span id="canary">pod <code>${escapeHtml(r.canary.pod)}</code>${r.canary.commit ? ` on ${commitLink(r.canary.commit, commitUrl)}` : ''}: ${r.canary.passed ? 'healthy, the other pods followed' : `failed${r.canary.check ? ` ${escapeHtml(r.canary.check)}` : ''}${r.canary.message ? `: ${escapeHtml(r.canary.message)}` : ''}; undone, the other pods never left the revision before`}</span>`,
          ),
        ]
      : []),
    fact('strategy', escapeHtml(r.strategy)),
    fact(
      'trigger',
      `${escapeHtml(r.trigger.source)}: ${escapeHtml(r.trigger.reason)}${buildLink(r.trigger.ref, r.trigger.source)}`,
    ),
    ...(r.commit ? [fact('commit', commitLink(r.commit, commitUrl, 40))] : []),
    fact('created', ago(r.createdAt, now)),
    ...(r.finishedAt ? [fact('finished', ago(r.finishedAt, now))] : []),
    ...(r.verification ? [fact('verification', `<span id="verification">${escapeHtml(r.verification)}</span>`)] : []),
    ...(r.holder ? [fact('run by', `<code>${escapeHtml(r.holder)}</code>`)] : []),
    ...(r.by ? [fact('asked by', escapeHtml(r.by))] : []),
    ...(r.approval
      ? [
          fact(
            'approval',
            `${escapeHtml(r.approval.decision)} by ${escapeHtml(r.approval.by)} ${ago(r.approval.at, now)}${r.approval.reason ? `: ${escapeHtml(r.approval.reason)}` : ''}`,
          ),
        ]
      : []),
  ].join('')
  const plan = r.plan
    ? `<h2>Plan</h2><dl class="facts" id="plan">${fact('workload', escapeHtml(r.plan.workload))}${fact('strategy', escapeHtml(r.plan.strategy))}${fact('why', escapeHtml(r.plan.why))}${fact('pods', r.plan.pods.length ? r.plan.pods.map((p) => `<code>${escapeHtml(p)}</code>`).join(' ') : '—')}</dl>`
    : ''
  const rungs = r.rungs?.length
    ? `<h2>Ladder of repairs</h2><table id="rungs"><thead><tr><th>When</th><th>Rung</th><th>Outcome</th><th>Pods</th><th>Why</th></tr></thead><tbody>${r.rungs
        .map(
          (g) =>
            `<tr class="rung" data-rung="${escapeHtml(g.rung)}" data-outcome="${escapeHtml(g.outcome)}"><td>${ago(g.at, now)}</td><td>${escapeHtml(g.rung)}</td><td>${escapeHtml(g.outcome)}</td><td>${(g.pods ?? []).map((p) => `<code>${escapeHtml(p)}</code>`).join(' ')}</td><td>${escapeHtml(g.reason ?? '')}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : ''
  const steps = r.steps
    .map((st) => `<tr class="step"><td>${ago(st.at, now)}</td><td>${escapeHtml(st.message)}</td></tr>`)
    .join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recycle ${escapeHtml(r.id)} · kube-recycler</title>
<style>${STYLE}</style></head>
<body>
<h1>Recycle <code>${escapeHtml(r.id)}</code></h1>
<div class="muted"><a href="/status">status</a> · <a href="/recycles/${escapeHtml(r.id)}?format=json">JSON</a></div>
<h2>Outcome</h2>
<dl class="facts" id="facts">${facts}</dl>
${plan}
${rungs}
<h2>Steps</h2>
<table id="steps"><thead><tr><th>When</th><th>Step</th></tr></thead><tbody>${steps || '<tr><td colspan="2">No steps yet.</td></tr>'}</tbody></table>
</body></html>`
}
