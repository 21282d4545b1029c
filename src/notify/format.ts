// The bodies receivers get. json: the notice with its time and the
// service's address, signed as the intake is (X-Recycler-Timestamp,
// X-Recycler-Signature: HMAC-SHA256 of "<timestamp>.<body>"), so a receiver
// checks it with the same code as kube-recycler checks Jenkins. slack: an
// incoming-webhook message with links to /status and the recycle. Its text
// comes partly from payloads (check names, summaries, reasons), and Slack
// reads <!channel> as a mention and <url|text> as a masked link: &, < and >
// are escaped as Slack asks, so only our own links are markup.

import { sign } from '../triggers/signature.ts'
import type { NotifyTarget } from './targets.ts'
import type { Notice } from './types.ts'

export interface Outgoing {
  body: string
  headers: Record<string, string>
}

/** Slack's escaping of message text: &, < and > only (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

export function format(t: NotifyTarget, n: Notice, opts: { now: number; publicUrl?: string; id: string }): Outgoing {
  const base = opts.publicUrl ?? ''
  if (t.format === 'slack') {
    const link = (url: string, label: string): string => `<${slackEscape(url)}|${slackEscape(label)}>`
    const links = [
      link(`${base}/status`, 'status'),
      ...(n.recycle ? [link(`${base}${n.recycle.url}`, n.recycle.id)] : []),
    ]
    const text = `kube-recycler: ${n.site ? `*${slackEscape(n.site)}* ` : ''}${n.event}: ${slackEscape(n.message)} (${links.join(' · ')})`
    return { body: JSON.stringify({ text }), headers: { 'content-type': 'application/json' } }
  }
  const body = JSON.stringify({
    id: opts.id,
    at: new Date(opts.now).toISOString(),
    ...n,
    ...(base ? { statusUrl: `${base}/status`, ...(n.recycle ? { recycleUrl: `${base}${n.recycle.url}` } : {}) } : {}),
  })
  const ts = String(Math.floor(opts.now / 1000))
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-recycler-event': n.event,
      ...(t.secret ? { 'x-recycler-timestamp': ts, 'x-recycler-signature': sign(t.secret, ts, body) } : {}),
    },
  }
}
