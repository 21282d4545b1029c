// The HTML dashboard GET /status serves to a browser. Rendered on the server
// from the same model as the JSON, every value escaped; it refreshes itself.

import { createHash } from 'node:crypto'
import type { StatusModel } from './model.ts'

// The page's only style, inline; the CSP allows exactly this text by its hash.
const STYLE = `
  body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d232a; background: #f7f8fa; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px #0001; }
  th, td { text-align: left; padding: .55rem .7rem; border-bottom: 1px solid #e6e8eb; vertical-align: top; }
  th { font-weight: 600; background: #eef0f3; }
  .muted { color: #67707a; font-size: 12px; }
  .badge { display: inline-block; padding: .1rem .5rem; border-radius: 1rem; font-weight: 600; font-size: 12px; }
  .healthy { background: #d8f3df; color: #11602a; } .failing { background: #fddcdc; color: #8a1414; } .unknown { background: #e8e8e8; color: #444; }
  .banner { background: #fff4d6; border: 1px solid #e9c46a; padding: .6rem .8rem; margin: 1rem 0; border-radius: 4px; }
  code { font-size: 12px; }
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

function ago(iso: string | undefined, now: number): string {
  if (!iso) return '—'
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (s < 90) return `${s}s ago`
  if (s < 5400) return `${Math.round(s / 60)}m ago`
  return `${Math.round(s / 3600)}h ago`
}

function commitCell(s: StatusModel['sites'][number]): string {
  const g = s.git
  if (!g || (!g.head && !g.running && !g.error)) return '—'
  const short = (c?: string) => (c ? `<code>${escapeHtml(c.slice(0, 12))}</code>` : '—')
  const drift = g.drift ? ' <span class="badge failing" title="the workload does not run the production head">drift</span>' : ''
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
  if (s.waiting) parts.push(`<div><a href="/recycles/${escapeHtml(s.waiting.id)}">${escapeHtml(s.waiting.state)}</a>${s.waiting.expiresAt ? ` until ${escapeHtml(s.waiting.expiresAt)}` : ''}</div>`)
  const m = s.windows?.maintenance
  if (m) parts.push(`<div class="muted">maintenance: ${m.open ? `<strong>open until ${escapeHtml(m.open.until)}</strong>` : 'closed'}${m.next ? ` · next ${escapeHtml(m.next)}` : ''}</div>`)
  const r = s.windows?.recycle
  if (r) parts.push(`<div class="muted">recycle window: ${r.open ? `open until ${escapeHtml(r.open.until)}` : '<strong>closed</strong>'}${r.next ? ` · next ${escapeHtml(r.next)}` : ''}</div>`)
  if (s.lastReset) parts.push(`<div class="muted">reset by ${escapeHtml(s.lastReset.by)} ${escapeHtml(s.lastReset.at)}</div>`)
  return parts.join('') || '—'
}

export function renderStatusPage(m: StatusModel, now: number, refreshSeconds = 10): string {
  const rows = m.sites.map((s) => {
    const badge = s.stale ? `${s.health} · stale` : s.health
    const lr = s.lastRecycle
    return `<tr class="site" data-site="${escapeHtml(s.name)}" data-health="${escapeHtml(s.health)}">
      <td><strong>${escapeHtml(s.name)}</strong><div class="muted">${escapeHtml(s.target)} · ${escapeHtml(s.strategy)}</div></td>
      <td><span class="badge ${escapeHtml(s.health)}">${escapeHtml(badge)}</span>${s.circuitOpen ? ' <span class="badge failing">circuit open</span>' : ''}${s.note ? `<div class="muted">${escapeHtml(s.note)}</div>` : ''}</td>
      <td>${s.consecutiveFailures}</td>
      <td>${s.lastVerdict ? `${escapeHtml(s.lastVerdict.summary)}<div class="muted">${escapeHtml(s.lastVerdict.source)} · ${ago(s.lastVerdict.at, now)}</div>` : '—'}</td>
      <td>${commitCell(s)}</td>
      <td class="control">${controlCell(s)}</td>
      <td>${lr ? `<a href="/recycles/${escapeHtml(lr.id)}">${escapeHtml(lr.state)}</a>${lr.verification ? ` · ${escapeHtml(lr.verification)}` : ''}${lr.commit ? ` <code>${escapeHtml(lr.commit.slice(0, 12))}</code>` : ''}<div class="muted">${ago(lr.createdAt, now)}${lr.reason ? ` · ${escapeHtml(lr.reason)}` : ''}</div>` : '—'}</td>
    </tr>`
  }).join('\n')
  const recent = m.recent.slice(0, 20).map((r) => `<tr class="recycle" data-state="${escapeHtml(r.state)}">
      <td><a href="/recycles/${escapeHtml(r.id)}"><code>${escapeHtml(r.id)}</code></a></td><td>${escapeHtml(r.site)}</td>
      <td>${escapeHtml(r.state)}${r.repeats ? ` ×${r.repeats}` : ''}${r.dryRun ? ' (dry-run)' : ''}</td><td>${escapeHtml(r.trigger.source)}: ${escapeHtml(r.trigger.reason)}</td>
      <td>${r.commit ? `<code>${escapeHtml(r.commit.slice(0, 12))}</code>` : '—'}</td><td>${ago(r.createdAt, now)}</td></tr>`).join('\n')
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
<div class="muted">version ${escapeHtml(m.service.version)} · up since ${escapeHtml(m.service.startedAt)} · cluster: ${escapeHtml(m.service.cluster)} · replica <code>${escapeHtml(m.service.replica)}</code>${m.service.leader ? ' (leader)' : ''}${m.service.ready ? '' : ' · <strong>not ready</strong>'} · <a href="/status?format=json">JSON</a> · <a href="/metrics">metrics</a></div>
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
