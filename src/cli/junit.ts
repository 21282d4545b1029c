// JUnit XML for Jenkins' `junit` step: one <testsuite> per site, one
// <testcase> per check, a <failure> carrying the check's message. Jenkins
// shows classname `kube-recycler.<site>` as package `kube-recycler`, class
// `<site>`. Warnings (certificate expiry) go to the test case's <system-out>:
// they never fail a test.

import type { CheckResult } from '../health/verdict.ts'
import type { Results, SiteResults } from './results.ts'

/**
 * Text safe inside an XML 1.0 element or a double-quoted attribute:
 * markup characters escaped; characters XML 1.0 cannot carry at all (control
 * characters other than tab/newline/return, lone surrogates, U+FFFE/U+FFFF)
 * replaced by U+FFFD. Newlines and tabs in attributes become character
 * references so a parser keeps them.
 */
export function xmlEscape(text: string, attribute = false): string {
  let out = ''
  for (const ch of text) {
    const c = ch.codePointAt(0)!
    switch (ch) {
      case '&':
        out += '&amp;'
        continue
      case '<':
        out += '&lt;'
        continue
      case '>':
        out += '&gt;'
        continue
      case '"':
        out += attribute ? '&quot;' : ch
        continue
      case "'":
        out += attribute ? '&apos;' : ch
        continue
      case '\n':
        out += attribute ? '&#10;' : ch
        continue
      case '\r':
        out += '&#13;'
        continue
      case '\t':
        out += attribute ? '&#9;' : ch
        continue
    }
    const allowed = (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff)
    out += allowed ? ch : '\uFFFD'
  }
  return out
}

const attr = (s: string): string => `"${xmlEscape(s, true)}"`
const seconds = (ms: number | undefined): string => ((ms ?? 0) / 1000).toFixed(3)
/** JUnit's schema wants a local date-time without a zone: `2026-11-28T10:00:00` (UTC here). */
const stamp = (iso: string): string => (Number.isNaN(Date.parse(iso)) ? iso : new Date(iso).toISOString().slice(0, 19))

/** The first line of the message, for the failure's `message` attribute. */
function headline(message: string): string {
  const line = message.split('\n', 1)[0] ?? ''
  return line.length > 500 ? `${line.slice(0, 499)}…` : line
}

function details(c: CheckResult): string {
  const lines: string[] = []
  if (c.url !== undefined) lines.push(`url: ${c.url}`)
  if (c.status !== undefined) lines.push(`status: ${c.status}`)
  if (c.latencyMs !== undefined) lines.push(`latency: ${c.latencyMs} ms`)
  if (c.at !== undefined) lines.push(`at: ${c.at}`)
  return lines.join('\n')
}

function testcase(site: SiteResults, c: CheckResult): string {
  const open = `    <testcase classname=${attr(`kube-recycler.${site.site}`)} name=${attr(c.name)} time="${seconds(c.latencyMs)}"`
  const body: string[] = []
  if (!c.ok) {
    const message = c.message ?? 'the check failed'
    body.push(
      `      <failure message=${attr(headline(message))} type="CheckFailed">${xmlEscape(`${message}\n${details(c)}`)}</failure>`,
    )
  }
  // A failure already carries the details; a passing check shows them here.
  const out = [c.ok ? details(c) : '', ...(c.warnings ?? []).map((w) => `WARNING: ${w}`)]
    .filter((s) => s !== '')
    .join('\n')
  if (out !== '') body.push(`      <system-out>${xmlEscape(out)}</system-out>`)
  return body.length === 0 ? `${open}/>` : `${open}>\n${body.join('\n')}\n    </testcase>`
}

function testsuite(site: SiteResults): string {
  const failures = site.checks.filter((c) => !c.ok).length
  const time = site.durationMs ?? site.checks.reduce((max, c) => Math.max(max, c.latencyMs ?? 0), 0)
  const head = `  <testsuite name=${attr(site.site)} tests="${site.checks.length}" failures="${failures}" errors="0" skipped="0" time="${seconds(time)}" timestamp=${attr(stamp(site.at))}>`
  return [head, ...site.checks.map((c) => testcase(site, c)), '  </testsuite>'].join('\n')
}

export function toJUnit(results: Results): string {
  const tests = results.sites.reduce((n, s) => n + s.checks.length, 0)
  const failures = results.sites.reduce((n, s) => n + s.checks.filter((c) => !c.ok).length, 0)
  const time = results.sites.reduce((max, s) => Math.max(max, s.durationMs ?? 0), 0)
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="kube-recycler check" tests="${tests}" failures="${failures}" errors="0" time="${seconds(time)}">`,
    ...results.sites.map(testsuite),
    '</testsuites>',
    '',
  ].join('\n')
}
