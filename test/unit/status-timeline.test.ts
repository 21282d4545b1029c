// The status page's timeline and its other new parts: the pure merge of
// verdicts into runs, what the intake writes (a repeated healthy report
// still writes nothing), what another replica reads back, the recycle page
// rendered safely, and the git.commitUrl validation.

import t from 'tap'
import { parseConfig, ConfigError } from '../../src/config/load.ts'
import type { Verdict } from '../../src/health/verdict.ts'
import { LIMITS } from '../../src/state/bounds.ts'
import { memoryObjectStore } from '../../src/state/memory.ts'
import type { RecycleBrief, RecycleRecord, TimelineRun } from '../../src/state/schema.ts'
import { mergeTimeline } from '../../src/state/timeline.ts'
import { buildLink, commitLink, renderRecyclePage, timelineBars } from '../../src/status/page.ts'
import { SECRETS, testApp } from '../fixtures/app.ts'

const EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'
const at = (s: number): string => new Date(Date.parse('2026-12-01T10:00:00Z') + s * 1000).toISOString()
const verdict = (
  s: number,
  ok: boolean,
  source: Verdict['source'] = 'jenkins',
  summary = `build at ${s}`,
): Verdict => ({ site: 'shop', ok, source, at: at(s), checks: [], summary })

t.test('mergeTimeline: alike verdicts extend a run, a change starts one, bounded, input untouched', async (t) => {
  let tl: TimelineRun[] = []
  tl = mergeTimeline(tl, verdict(0, true))
  tl = mergeTimeline(tl, { ...verdict(60, true), ref: 'https://jenkins/job/x/2/', commit: 'abc1234' })
  const frozen = Object.freeze([...tl.map((r) => Object.freeze({ ...r }))])
  tl = mergeTimeline(frozen, verdict(120, true))
  t.same(
    tl,
    [{ from: at(0), to: at(120), ok: true, source: 'jenkins', count: 3, summary: 'build at 120' }],
    "one run; the last verdict's summary, its ref and commit (none) replace the older ones",
  )
  t.equal(frozen[0]!.count, 2, 'the input is not changed')
  tl = mergeTimeline(tl, verdict(180, false))
  tl = mergeTimeline(tl, verdict(190, false, 'probe'))
  tl = mergeTimeline(tl, verdict(200, false, 'probe'))
  tl = mergeTimeline(tl, verdict(260, true, 'probe'))
  t.same(
    tl.map((r) => [r.ok, r.source, r.count]),
    [
      [true, 'jenkins', 3],
      [false, 'jenkins', 1],
      [false, 'probe', 2],
      [true, 'probe', 1],
    ],
    'a run per change of outcome or source',
  )
  t.same(mergeTimeline(undefined, verdict(0, false)).length, 1, 'a state written before the timeline existed')
  let long: TimelineRun[] = []
  for (let i = 0; i < 200; i++) long = mergeTimeline(long, verdict(i, i % 2 === 0))
  t.equal(long.length, LIMITS.timeline, `at most ${LIMITS.timeline} runs`)
  t.equal(long.at(-1)!.from, at(199), 'the newest kept')
  t.equal(long[0]!.from, at(200 - LIMITS.timeline), 'the oldest dropped')
  const big = mergeTimeline([], verdict(0, false, 'jenkins', 'x'.repeat(5000)))
  t.equal(big[0]!.summary.length, LIMITS.timelineSummary, 'the summary is clipped')
  const back = mergeTimeline(mergeTimeline([], verdict(100, true)), verdict(50, true))
  t.equal(back.length, 2, 'a verdict older than the run does not stretch it backwards')
})

t.test(
  'the intake writes the timeline with the verdict, each Jenkins delivery once (its key); another replica reads it',
  async (t) => {
    const objects = memoryObjectStore()
    const h = await testApp({ extra: { objects } })
    t.teardown(() => h.app.close())
    await h.app.core.store.loaded()
    const hook = { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' }
    const report = async (build: number, status: string) => {
      const r = await h.app.inject({
        method: 'POST',
        url: '/webhooks/jenkins',
        headers: hook,
        payload: { job: 'blog-integrity', build, status, url: `https://jenkins.example.com/job/blog/${build}/` },
      })
      t.equal(r.statusCode, 202, r.body)
    }
    await report(1, 'SUCCESS')
    const w1 = objects.writes
    t.same(
      h.app.core.store.get('blog').timeline?.map((r) => r.count),
      [1],
      'the first verdict is a run',
    )
    for (let b = 2; b <= 6; b++) {
      h.clock.advance(5_000)
      await report(b, 'SUCCESS')
    }
    // (A repeated healthy probe, which has no key, writes nothing: replay-delivery-counted-once.test.ts.)
    t.equal(objects.writes, w1 + 5, 'five healthy deliveries: five writes, each storing its key')
    t.same(
      h.app.core.store.get('blog').timeline?.map((r) => r.count),
      [6],
      'each counted in the run',
    )
    await report(6, 'SUCCESS')
    t.equal(objects.writes, w1 + 5, 'a duplicate writes nothing')
    h.clock.advance(60_000)
    await report(7, 'SUCCESS')
    const run = h.app.core.store.get('blog').timeline!
    t.equal(run.length, 1)
    t.match(run[0], {
      count: 7,
      ok: true,
      source: 'jenkins',
      summary: /blog-integrity #7 SUCCESS/,
      ref: 'https://jenkins.example.com/job/blog/7/',
    })
    t.equal(run[0]!.to, new Date(h.clock.now()).toISOString(), 'the run covers the newest report')
    await report(8, 'FAILURE')
    t.same(
      h.app.core.store.get('blog').timeline!.map((r) => [r.ok, r.count]),
      [
        [true, 7],
        [false, 1],
      ],
    )

    // Another replica (or this one after a restart) on the same store: the same timeline.
    const other = await testApp({ extra: { objects, identity: 'replica-b' } })
    t.teardown(() => other.app.close())
    await other.app.core.store.loaded()
    t.same(other.app.core.store.get('blog').timeline, h.app.core.store.get('blog').timeline)
    const status = await other.app.inject({ method: 'GET', url: '/status' })
    t.same(
      status.json().sites.find((s: { name: string }) => s.name === 'blog').timeline,
      h.app.core.store.get('blog').timeline,
      '/status carries it as JSON',
    )
  },
)

t.test('timelineBars: runs and the recycles between them, in time order, everything escaped', async (t) => {
  const runs: TimelineRun[] = [
    { from: at(0), to: at(60), ok: true, source: 'probe', count: 2, summary: `fine ${EVIL}` },
    { from: at(120), to: at(120), ok: false, source: 'jenkins', count: 1, summary: 'broken' },
    { from: at(300), to: at(300), ok: true, source: 'probe', count: 1, summary: 'back' },
  ]
  const rec = (id: string, s: number): RecycleBrief => ({
    id,
    site: 'shop',
    target: 't',
    strategy: 'rollout',
    trigger: { source: 'jenkins', reason: `r ${EVIL}` },
    dryRun: false,
    state: 'succeeded',
    createdAt: at(s),
    url: `/recycles/${id}`,
  })
  const html = timelineBars(runs, [rec('rc-old', -100), rec(`rc-${EVIL}`, 130)])
  t.same(
    [...html.matchAll(/class="bar (\w+)"/g)].map((m) => m[1]),
    ['ok', 'bad', 'recycle', 'ok'],
    'the recycle between the failure and the recovery; one before the timeline left out',
  )
  t.notMatch(html, /<script|<img/)
  t.match(html, `title="${at(0)} – ${at(60)} · probe · passing ×2: fine &lt;script&gt;`)
  t.equal(timelineBars([], []), '<span class="empty">no verdicts yet</span>')
})

t.test('links: a commit only when hex and a template is set, a build only for http(s)', async (t) => {
  t.equal(
    commitLink('abcdef1234567890', 'https://git.example.com/a/b/commit/{commit}'),
    '<a class="commit" href="https://git.example.com/a/b/commit/abcdef1234567890" title="abcdef1234567890"><code>abcdef123456</code></a>',
  )
  t.equal(commitLink('abcdef1234567890', undefined), '<code>abcdef123456</code>')
  t.equal(
    commitLink(`"><script>`, 'https://g/{commit}'),
    '<code>&quot;&gt;&lt;script&gt;</code>',
    'not hex: text, never in a URL',
  )
  t.equal(commitLink(undefined, 'https://g/{commit}'), '—')
  t.match(buildLink('https://jenkins.example.com/job/x/5/'), /href="https:\/\/jenkins\.example\.com\/job\/x\/5\/"/)
  t.equal(buildLink('javascript:alert(1)'), '')
  t.equal(buildLink('JAVASCRIPT:alert(1)//https://x'), '')
  t.equal(buildLink('probe-run-17'), '')
  t.match(
    buildLink(`https://x/"onmouseover="alert(1)`),
    /href="https:\/\/x\/&quot;onmouseover=&quot;alert\(1\)"/,
    'quotes escaped inside the attribute',
  )
})

t.test(
  'the recycle page: outcome, plan, steps, verification, rollback; nothing from the record becomes markup',
  async (t) => {
    const r: RecycleRecord = {
      id: 'rc-1',
      site: 'shop',
      target: `Deployment/shop/${EVIL}`,
      strategy: 'rollout',
      trigger: { source: 'jenkins', reason: `checkout failed ${EVIL}`, ref: 'https://jenkins.example.com/job/shop/9/' },
      commit: 'abcdef1234567890',
      dryRun: false,
      state: 'rolled-back',
      reason: `did not help ${EVIL}`,
      plan: { workload: 'Deployment/shop/web', strategy: 'rollout', pods: [`web-1${EVIL}`], why: `restart ${EVIL}` },
      steps: [
        { at: at(0), message: `started ${EVIL}` },
        { at: at(30), message: 'rolled back to revision 3' },
      ],
      createdAt: at(0),
      finishedAt: at(40),
      verification: 'recycle-did-not-help',
      revisionBefore: 3,
      commitBefore: '1234567abcdef',
      holder: 'pod-a',
    }
    const html = renderRecyclePage(r, Date.parse(at(100)), 'https://git.example.com/acme/shop/commit/{commit}')
    t.notMatch(html, /<script|<img/i, 'escaped everywhere: the payload is text')
    t.match(html, '<span class="badge failing" id="state">rolled-back</span>')
    t.match(
      html,
      'rolled back to the revision before (3), commit <a class="commit" href="https://git.example.com/acme/shop/commit/1234567abcdef"',
    )
    t.match(html, '<span id="verification">recycle-did-not-help</span>')
    t.match(html, '<dl class="facts" id="plan">')
    t.match(html, 'restart &lt;script&gt;')
    t.equal([...html.matchAll(/<tr class="step">/g)].length, 2)
    t.match(
      html,
      `<time datetime="${at(40)}" title="${at(40)}">60s ago</time>`,
      'relative time with the absolute one on hover',
    )
    t.match(html, 'href="https://jenkins.example.com/job/shop/9/"')
    t.notMatch(html, /<script|style="/, 'no script, no style attribute (the CSP allows neither)')
  },
)

t.test('git.commitUrl is validated', async (t) => {
  const cfg = (commitUrl: string) =>
    `sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    git: { repo: "https://git.example.com/acme/shop.git", commitUrl: ${JSON.stringify(commitUrl)} }\n`
  t.equal(
    parseConfig(cfg('https://git.example.com/acme/shop/commit/{commit}')).sites[0]!.git?.commitUrl,
    'https://git.example.com/acme/shop/commit/{commit}',
  )
  for (const bad of [
    'javascript:alert(1)//{commit}',
    'https://git.example.com/acme/shop/commit/',
    'https://user:pw@git.example.com/{commit}',
    'ftp://git.example.com/{commit}',
    'https://git.example.com/a b/{commit}',
  ]) {
    t.throws(() => parseConfig(cfg(bad)), ConfigError, bad)
    try {
      parseConfig(cfg(bad))
    } catch (e) {
      t.ok(
        (e as ConfigError).problems.some((p) => /git\.commitUrl/.test(p)),
        `${bad}: named`,
      )
    }
  }
})
