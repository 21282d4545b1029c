// A Slack message carries text from payloads (check names, Jenkins
// summaries, reasons): Slack reads `<!channel>` as a mention of everyone
// and `<url|text>` as a masked link, so &, < and > of such text are escaped
// as Slack says (&amp; &lt; &gt;); only the message's own links are markup.

import t from 'tap'
import { format } from '../../src/notify/format.ts'
import type { NotifyTarget } from '../../src/notify/targets.ts'

const slack: NotifyTarget = {
  name: 'chat',
  format: 'slack',
  url: 'https://hooks.slack.example/x',
  events: 'all',
  timeoutMs: 1000,
}

const ROWS: { name: string; message: string; site?: string; want: string; not: RegExp }[] = [
  {
    name: 'a channel mention',
    message: 'failing: shop-integrity #3 FAILURE: <!channel> failed',
    want: 'failing: shop-integrity #3 FAILURE: &lt;!channel&gt; failed',
    not: /<!channel>/,
  },
  {
    name: 'a masked link',
    message: 'home <https://evil.example/login|click to fix> failed',
    want: 'home &lt;https://evil.example/login|click to fix&gt; failed',
    not: /<https:\/\/evil/,
  },
  { name: 'a user mention', message: '<@U123> <!here>', want: '&lt;@U123&gt; &lt;!here&gt;', not: /<@U123>|<!here>/ },
  { name: 'an ampersand first', message: 'a &lt; b & c', want: 'a &amp;lt; b &amp; c', not: /a &lt; b/ },
  { name: 'the site name too', message: 'x', site: '<!everyone>', want: '&lt;!everyone&gt;', not: /<!everyone>/ },
]

for (const row of ROWS) {
  t.test(`slack: ${row.name} is escaped`, async (t) => {
    const out = format(
      slack,
      {
        event: 'site-failing',
        ...(row.site ? { site: row.site } : {}),
        message: row.message,
        recycle: { id: 'rc-1', state: 'pending', url: '/recycles/rc-1' },
      },
      { now: 0, id: 'nt-1', publicUrl: 'https://recycler.example' },
    )
    const text = (JSON.parse(out.body) as { text: string }).text
    t.ok(text.includes(row.want), `${text} contains ${row.want}`)
    t.notMatch(text, row.not)
    t.match(
      text,
      /<https:\/\/recycler\.example\/status\|status> · <https:\/\/recycler\.example\/recycles\/rc-1\|rc-1>/,
      'our own links stay links',
    )
  })
}
