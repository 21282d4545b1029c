// The pure decisions behind the Alertmanager trigger, as tables: label
// matchers (as Alertmanager reads them), the per-site config block, how
// failureThreshold applies to an alert, when a held silence must end, and
// a resolved alert ending a recycle that waits for an operator.

import t from 'tap'
import { parseMatcher, matchesAll } from '../../src/config/matchers.ts'
import { ConfigError, parseConfig } from '../../src/config/load.ts'
import { observe, thresholdsFor } from '../../src/health/state.ts'
import { judgeHold, addHold, dropHold, MAX_HOLDS } from '../../src/alerts/holds.ts'
import { review } from '../../src/recycle/control.ts'
import { emptySiteState, type RecycleRecord, type SiteState } from '../../src/state/schema.ts'
import type { Verdict } from '../../src/health/verdict.ts'

t.test('label matchers: the four operators, anchored regexes, a missing label is empty', async (t) => {
  const rows: [string, Record<string, string>, boolean][] = [
    ['alertname="SiteDown"', { alertname: 'SiteDown' }, true],
    ['alertname="SiteDown"', { alertname: 'SiteDownX' }, false],
    ['alertname=SiteDown', { alertname: 'SiteDown' }, true],
    ['alertname!="SiteDown"', { alertname: 'Other' }, true],
    ['alertname!="SiteDown"', { alertname: 'SiteDown' }, false],
    ['site=~"shop|blog"', { site: 'blog' }, true],
    ['site=~"shop|blog"', { site: 'shopping' }, false],
    ['site=~"sho"', { site: 'shop' }, false],
    ['site!~"shop.*"', { site: 'shop-eu' }, false],
    ['site!~"shop.*"', { site: 'blog' }, true],
    ['team=""', {}, true],
    ['team="db"', {}, false],
    ['msg="a \\"quoted\\" word"', { msg: 'a "quoted" word' }, true],
  ]
  for (const [text, labels, want] of rows)
    t.equal(parseMatcher(text).test(labels), want, `${text} on ${JSON.stringify(labels)}`)
  for (const bad of ['alertname', '=x', 'alert-name="x"', 'a=="x"', 'a="x', 'a=~"("'])
    t.throws(() => parseMatcher(bad), { message: /./ }, bad)
  t.equal(matchesAll([], { a: 'b' }), false, 'no matchers match nothing')
})

t.test("config: a site's alertmanager block; every problem named by its path", async (t) => {
  const base = (am: string, top = '') => `${top}
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    alertmanager: ${am}
`
  const ok = parseConfig(
    base(
      `{ matchers: ['alertname="SiteDown"', 'site="shop"'], silence: true }`,
      'alertmanager: { url: "http://am:9093/" }',
    ),
  )
  t.equal(ok.alertmanager?.url, 'http://am:9093')
  t.equal(ok.alertmanager?.timeoutMs, 5000)
  t.equal(ok.sites[0]!.alertmanager?.silence, true)
  t.equal(ok.sites[0]!.alertmanager?.matchers.length, 2)
  const problems = (text: string): string[] => {
    try {
      parseConfig(text)
      return []
    } catch (e) {
      return (e as ConfigError).problems
    }
  }
  t.match(problems(base(`{ matchers: ['alertname SiteDown'] }`)), [
    /sites\[0\]\.alertmanager\.matchers\[0\]: must be a label matcher/,
  ])
  t.match(problems(base(`{ matchers: ['site=~"("'] }`)), [
    /sites\[0\]\.alertmanager\.matchers\[0\]: .*not a valid regular expression/,
  ])
  t.match(problems(base(`{ matchers: ['team!="db"'] }`)), [
    /sites\[0\]\.alertmanager\.matchers: must select some alerts/,
  ])
  t.match(problems(base(`{ matchers: [] }`)), [/sites\[0\]\.alertmanager\.matchers/])
  t.match(problems(base(`{ matchers: ['alertname="X"'], silence: true }`)), [
    /sites\[0\]\.alertmanager\.silence: needs the top-level alertmanager\.url/,
  ])
  t.match(problems(base(`{ matchers: ['alertname="X"'] }`, 'alertmanager: { url: "http://user:pw@am:9093" }')), [
    /alertmanager\.url: must be an http\(s\) URL without credentials/,
  ])
  t.match(problems(base(`{ matchers: ['alertname="X"'], page: true }`)), [
    /sites\[0\]\.alertmanager\.page: unknown field/,
  ])
})

const site = parseConfig(`
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    failureThreshold: 3
    successThreshold: 2
`).sites[0]!
const verdict = (source: Verdict['source'], ok: boolean): Verdict => ({
  site: 'shop',
  ok,
  source,
  at: '2026-12-06T09:00:00.000Z',
  checks: [],
  summary: 'x',
})

t.test(
  'failureThreshold: a firing alert meets it at once; a Jenkins build or a probe run counts one of three',
  async (t) => {
    t.same(thresholdsFor(site, { source: 'alertmanager' }), { failure: 1, success: 1 })
    t.same(thresholdsFor(site, { source: 'jenkins' }), { failure: 3, success: 2 })
    const alert = observe(emptySiteState('shop'), site, verdict('alertmanager', false))
    t.equal(alert.obs.recycle, true)
    t.equal(alert.obs.transition, 'became-failing')
    for (const source of ['jenkins', 'probe'] as const) {
      const one = observe(emptySiteState('shop'), site, verdict(source, false))
      t.equal(one.obs.recycle, false, source)
      t.equal(one.obs.reason, '1/3 consecutive failures')
    }
    // Resolved: recovered at once, where one passing Jenkins build is 1/2.
    const failing = alert.next
    t.equal(observe(failing, site, verdict('alertmanager', true)).obs.transition, 'recovered')
    t.equal(observe(failing, site, verdict('jenkins', true)).obs.reason, '1/2 passing verdicts')
  },
)

const NOW = Date.parse('2026-12-06T09:00:00Z')
const rec = (state: RecycleRecord['state'], extra: Partial<RecycleRecord> = {}): RecycleRecord => ({
  id: 'rc-1',
  site: 'shop',
  target: 'Deployment/shop/web',
  strategy: 'rollout',
  trigger: { source: 'alertmanager', reason: 'x' },
  dryRun: false,
  state,
  steps: [],
  createdAt: new Date(NOW - 1000).toISOString(),
  ...extra,
})
const withRec = (r: RecycleRecord | undefined, extra: Partial<SiteState> = {}): SiteState => ({
  ...emptySiteState('shop'),
  health: 'failing',
  recycles: r ? [r] : [],
  ...extra,
})
const hold = { id: 'sil-1', recycle: 'rc-1', endsAt: new Date(NOW + 600_000).toISOString() }

t.test(
  'a held silence: kept while the recycle works, expired when it recovered or did not help, forgotten past its end',
  async (t) => {
    const rows: [string, SiteState, typeof hold, string, RegExp?][] = [
      ['pending', withRec(rec('pending')), hold, 'keep'],
      ['running', withRec(rec('running')), hold, 'keep'],
      ['succeeded, being verified', withRec(rec('succeeded', { verification: 'pending' })), hold, 'keep'],
      [
        'succeeded, nothing to verify it, within the verify window',
        withRec(rec('succeeded', { finishedAt: new Date(NOW - 39_000).toISOString() })),
        hold,
        'keep',
      ],
      [
        'succeeded, nothing to verify it, past the verify window: Alertmanager tells',
        withRec(rec('succeeded', { finishedAt: new Date(NOW - 40_000).toISOString() })),
        hold,
        'expire',
        /no checks to verify/,
      ],
      ['verified: recovered', withRec(rec('succeeded', { verification: 'recovered' })), hold, 'expire', /recovered/],
      [
        'the site is healthy again (a resolved alert)',
        withRec(rec('running'), { health: 'healthy' }),
        hold,
        'expire',
        /recovered/,
      ],
      [
        'did not help',
        withRec(rec('succeeded', { verification: 'recycle-did-not-help' })),
        hold,
        'expire',
        /did not help/,
      ],
      [
        'rolled back and still failing',
        withRec(rec('rolled-back', { verification: 'recycle-did-not-help' })),
        hold,
        'expire',
        /did not help/,
      ],
      ['failed', withRec(rec('failed')), hold, 'expire', /ended failed/],
      ['skipped (cooldown, lock)', withRec(rec('skipped')), hold, 'expire', /ended skipped/],
      ['the record is gone from the history', withRec(undefined), hold, 'expire', /no longer/],
      [
        'past its endsAt: Alertmanager ended it',
        withRec(rec('running')),
        { ...hold, endsAt: new Date(NOW).toISOString() },
        'forget',
      ],
    ]
    for (const [name, s, h, action, why] of rows) {
      const v = judgeHold(s, h, NOW, 40_000)
      t.equal(v.action, action, name)
      if (why && v.action === 'expire') t.match(v.why, why, name)
    }
    let s = emptySiteState('shop')
    for (let i = 0; i < MAX_HOLDS + 3; i++) s = addHold(s, { ...hold, id: `s${i}` })
    t.equal(s.silences!.length, MAX_HOLDS)
    t.equal(s.silences![0]!.id, 's3')
    const one = addHold(emptySiteState('shop'), hold)
    t.equal(dropHold(one, 'other'), one, 'dropping an unknown id changes nothing (nothing to write)')
    t.notOk('silences' in dropHold(one, 'sil-1'), 'the last one dropped leaves no field behind')
  },
)

t.test(
  'a recycle awaiting approval ends when the site recovers (a resolved alert): nothing left to approve',
  async (t) => {
    const waiting = rec('awaiting-approval', { expiresAt: new Date(NOW + 600_000).toISOString() })
    t.equal(
      review(
        withRec(waiting, {
          health: 'failing',
          episode: { since: 'x', recycleActive: true, recycled: false, didNotHelp: false },
        }),
        site,
        NOW,
      ),
      undefined,
      'still failing: it keeps waiting',
    )
    const r = review(withRec(waiting, { health: 'healthy' }), site, NOW)
    t.equal(r?.changed[0]?.state, 'expired')
    t.match(r?.changed[0]?.reason, /recovered before an operator approved/)
    t.equal(r?.next.recycles[0]?.state, 'expired')
  },
)
