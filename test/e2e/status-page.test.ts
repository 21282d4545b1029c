// The /status dashboard in a real browser: what an operator sees after a
// failure and a recycle, escaped, readable, refreshing itself; the timeline,
// the links, the last checks, dark mode, and the recycle page in HTML.

import t from 'tap'
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { launchBrowser, CHROMIUM } from '../fixtures/browser.ts'
import { SECRETS, TEST_CONFIG, testApp } from '../fixtures/app.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'
import { parseConfig } from '../../src/config/load.ts'

// The README shows this picture; the test makes it (KR_SCREENSHOT_DIR elsewhere).
const SHOT = process.env.KR_SCREENSHOT_DIR
  ? `${process.env.KR_SCREENSHOT_DIR}/status-page.png`
  : fileURLToPath(new URL('../../docs/status-page.png', import.meta.url))

const CONFIG = TEST_CONFIG.replace(
  '    recycle: { strategy: evict }\n',
  '    recycle: { strategy: evict }\n    failureThreshold: 3\n',
).replace(
  '    recycle: { cooldown: 10m, maxPerWindow: 3, window: 6h }\n',
  '    recycle: { cooldown: 10m, maxPerWindow: 3, window: 6h }\n    git: { repo: "file:///nonexistent/shop.git", commitUrl: "https://git.example.com/acme/shop/commit/{commit}" }\n',
)
// Markup in every field a payload can fill: none of it may become markup.
const EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'

t.test(
  'the dashboard shows sites, health, the timeline, links, checks and the recycle',
  { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (.ci/run installs it)` },
  async (t) => {
    t.ok(
      CONFIG.includes('commitUrl') && CONFIG.includes('failureThreshold: 3'),
      'the test config has the commit URL template, and pool a threshold of 3',
    )
    const ex = fakeExecutor({
      auto: { state: 'succeeded', message: `deployment "web" successfully rolled out ${EVIL}` },
    })
    const h = await testApp({ config: CONFIG, extra: { executor: ex } })
    t.teardown(() => h.app.close())
    const url = await h.app.listen({ host: '127.0.0.1', port: 0 })
    const hook = { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' }
    const post = async (payload: object): Promise<void> => {
      const r = await h.app.inject({ method: 'POST', url: '/webhooks/jenkins', headers: hook, payload })
      t.equal(r.statusCode, 202, r.body)
    }
    // blog: two passing reports (one run ×2, a minute apart so both are written), then a failing one.
    await post({ job: 'blog-integrity', build: 1, status: 'SUCCESS', url: 'javascript:alert(3)' })
    h.clock.advance(61_000)
    await post({ job: 'blog-integrity', build: 2, status: 'SUCCESS' })
    h.clock.advance(61_000)
    await post({
      job: 'blog-integrity',
      build: 3,
      status: 'FAILURE',
      checks: [{ name: `home ${EVIL}`, ok: false, status: 503, latencyMs: 41.6, message: `down ${EVIL}` }],
    })
    // shop: fails (threshold 1): recycled.
    await post({
      job: 'shop-integrity',
      build: 5,
      status: 'FAILURE',
      commit: 'abcdef1234567890',
      url: 'https://jenkins.example.com/job/shop-integrity/5/',
      checks: [
        { name: 'checkout <form>', ok: false, status: 500, latencyMs: 123.4, message: `500 ${EVIL}`, cause: 'status' },
        { name: 'home', ok: true, status: 200, latencyMs: 12 },
      ],
    })
    await h.app.core.recycler.idle()
    // pool: a probe verdict with a certificate warning (as the prober makes it).
    const poolSite = parseConfig(CONFIG).sites.find((s) => s.name === 'pool')!
    // pool: a flapping history from the probes first (never 3 failures in a row), for the picture.
    for (let i = 0; i < 12; i++) {
      await h.app.core.intake.submit(poolSite, {
        site: 'pool',
        ok: i % 3 !== 1,
        source: 'probe',
        at: new Date(h.clock.now() - (12 - i) * 300_000).toISOString(),
        summary: `probe run ${i}`,
        checks: [{ name: 'tls', ok: i % 3 !== 1, status: i % 3 !== 1 ? 200 : 502, latencyMs: 80 + i }],
      })
    }
    await h.app.core.intake.submit(poolSite, {
      site: 'pool',
      ok: true,
      source: 'probe',
      at: new Date(h.clock.now()).toISOString(),
      summary: `probe: 1/1 checks passed ${EVIL}`,
      checks: [
        {
          name: 'tls',
          ok: true,
          status: 200,
          latencyMs: 87,
          url: 'https://pool.example.com/',
          warnings: [`certificate expires in 6 days (2026-12-08) ${EVIL}`],
        },
      ],
    })

    const browser = await launchBrowser()
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    const problems: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`)
    })
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`)
    })
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`)
      void d.dismiss()
    })
    const res = await page.goto(`${url}/status`)
    t.equal(res?.status(), 200)
    t.match(res?.headers()['content-type'], /text\/html/, 'a browser gets HTML from the same URL')
    t.match(res?.headers()['content-security-policy'], /script-src 'none'/)
    t.equal(await page.title(), 'kube-recycler status')
    const rows = await page.$$eval('#sites tbody tr.site', (trs) =>
      trs.map((tr) => ({
        site: tr.getAttribute('data-site'),
        health: tr.getAttribute('data-health'),
        text: (tr as unknown as { innerText: string }).innerText,
      })),
    )
    // blog fails after 2 failures in a row: one failing verdict leaves it healthy.
    t.same(
      rows.map((r) => [r.site, r.health]),
      [
        ['shop', 'failing'],
        ['blog', 'healthy'],
        ['pool', 'healthy'],
      ],
    )
    t.match(rows[0]!.text, /shop-integrity #5 FAILURE: checkout <form> failed/, 'the failing check is named, as text')
    t.match(rows[0]!.text, /succeeded/)
    t.match(rows[0]!.text, /abcdef123456/)

    // The timeline: one bar per run of alike verdicts, the recycle between them; hover = title.
    const bars = async (site: string) =>
      page.$$eval(`tr.details[data-site="${site}"] .timeline .bar`, (bs) =>
        bs.map((b) => ({ cls: b.getAttribute('class'), title: b.getAttribute('title'), href: b.getAttribute('href') })),
      )
    const blog = await bars('blog')
    t.same(
      blog.map((b) => b.cls),
      ['bar ok', 'bar bad'],
      'blog: a passing run, then a failing verdict',
    )
    t.match(
      blog[0]!.title,
      /^\d{4}-\d\d-\d\dT[\d:.]+Z – \d{4}-\d\d-\d\dT[\d:.]+Z · jenkins · passing ×2: blog-integrity #2 SUCCESS/,
      'the run: its span, source, count and last summary',
    )
    t.match(
      blog[1]!.title,
      /jenkins · failing: blog-integrity #3 FAILURE: home <script>alert\(1\)<\/script>/,
      'the summary, as text in the title',
    )
    const shop = await bars('shop')
    t.same(
      shop.map((b) => b.cls),
      ['bar bad', 'bar recycle'],
      'shop: the failing verdict, then the recycle it caused',
    )
    t.match(shop[1]!.href, /^\/recycles\/rc-/)
    t.match(shop[1]!.title, /recycle succeeded: shop-integrity #5/)
    t.same(
      (await bars('pool')).map((b) => b.cls),
      [...Array.from({ length: 4 }, () => ['bar ok', 'bar bad']).flat(), 'bar ok'],
      'pool: the flapping probe runs, the last one merged with the newest verdict',
    )
    const colours = await page.$$eval('.timeline .bar', (bs) =>
      bs.map(
        (b) =>
          (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(b)
            .backgroundColor,
      ),
    )
    t.notOk(
      colours.some((c) => c === 'rgba(0, 0, 0, 0)' || c === 'transparent'),
      `the style applies (its CSP hash is right): ${colours.join(', ')}`,
    )

    // Links: the commit on the git host, the Jenkins build; never a javascript: URL.
    const commitHrefs = await page.$$eval('tr.site[data-site="shop"] a.commit', (as) =>
      as.map((a) => a.getAttribute('href')),
    )
    t.ok(
      commitHrefs.length >= 1 &&
        commitHrefs.every((hr) => hr === 'https://git.example.com/acme/shop/commit/abcdef1234567890'),
      `commit links: ${commitHrefs.join(', ')}`,
    )
    t.equal(
      await page.$eval('tr.site[data-site="shop"] a.build', (a) => a.getAttribute('href')),
      'https://jenkins.example.com/job/shop-integrity/5/',
    )
    t.equal(await page.$$eval('a[href^="javascript:" i]', (as) => as.length), 0, 'a javascript: ref is not a link')
    t.equal(
      await page.$$eval('tr.site[data-site="blog"] a.commit', (as) => as.length),
      0,
      'no template, no commit link',
    )

    // Absolute times on hover next to the relative ones.
    const times = await page.$$eval('time', (ts) =>
      ts.map((x) => ({ title: x.getAttribute('title'), text: x.textContent })),
    )
    t.ok(times.length >= 4, `${times.length} times`)
    for (const x of times) t.match(x, { title: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, text: /^\d+[smh] ago$/ })

    // The last verdict's checks: status, latency, certificate warnings.
    const checks = async (site: string) =>
      page.$$eval(`tr.details[data-site="${site}"] tr.check`, (trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td as unknown as { innerText: string }).innerText)),
      )
    const shopChecks = await checks('shop')
    t.same(
      shopChecks.map((c) => c.slice(0, 4)),
      [
        ['failed', 'checkout <form>', '500', '123 ms'],
        ['ok', 'home', '200', '12 ms'],
      ],
    )
    t.match(shopChecks[0]![4], `500 ${EVIL}`, 'the message as text')
    const poolChecks = await checks('pool')
    t.match(poolChecks[0]![4], `⚠ certificate expires in 6 days (2026-12-08) ${EVIL}`)
    t.equal(await page.$$eval('tr.details[data-site="pool"] .warn', (w) => w.length), 1)

    // Nothing from a payload became markup.
    t.equal(await page.$$eval('script', (s) => s.length), 0, 'no script element')
    t.equal(await page.$$eval('img', (s) => s.length), 0, 'no img element')
    t.equal(await page.$$eval('[onerror]', (s) => s.length), 0, 'no handler attribute')
    const refresh = await page.$eval('meta[http-equiv="refresh"]', (m) => m.getAttribute('content'))
    t.equal(refresh, '10')

    // Dark mode follows the system.
    const bg = async () =>
      page.$eval(
        'body',
        (b) =>
          (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(b)
            .backgroundColor,
      )
    await page.emulateMedia({ colorScheme: 'light' })
    t.equal(await bg(), 'rgb(247, 248, 250)')
    await page.emulateMedia({ colorScheme: 'dark' })
    t.equal(await bg(), 'rgb(13, 17, 23)', 'prefers-color-scheme: dark')
    await page.emulateMedia({ colorScheme: 'light' })
    await page.setViewportSize({ width: 1400, height: 900 })
    mkdirSync(fileURLToPath(new URL('.', `file://${SHOT}`)), { recursive: true })
    await page.screenshot({ path: SHOT, fullPage: true })

    // The recycle link leads to its page, in HTML for a browser, with the same headers.
    const [recycleRes] = await Promise.all([page.waitForNavigation(), page.click('#recent tbody tr.recycle a')])
    t.match(recycleRes?.headers()['content-type'], /text\/html/)
    t.equal(
      recycleRes?.headers()['content-security-policy'],
      res?.headers()['content-security-policy'],
      'the same CSP as /status',
    )
    t.equal(recycleRes?.headers()['x-frame-options'], 'DENY')
    t.equal(await page.textContent('#state'), 'succeeded')
    const steps = await page.$$eval('#steps tr.step', (trs) =>
      trs.map((tr) => (tr as unknown as { innerText: string }).innerText),
    )
    t.ok(steps.length >= 3, steps.join(' | '))
    t.match(steps.at(-1), `deployment "web" successfully rolled out ${EVIL}`, 'the steps, as text')
    t.equal(
      await page.$eval('#facts a.build', (a) => a.getAttribute('href')),
      'https://jenkins.example.com/job/shop-integrity/5/',
    )
    t.equal(
      await page.$eval('#facts a.commit', (a) => a.getAttribute('href')),
      'https://git.example.com/acme/shop/commit/abcdef1234567890',
    )
    t.equal(await page.$$eval('script, img', (s) => s.length), 0)
    const id = page.url().split('/recycles/')[1]!
    // JSON stays the default; ?format=html without an Accept header gives the page.
    const json = await h.app.inject({ method: 'GET', url: `/recycles/${id}` })
    t.match(json.headers['content-type'], /application\/json/)
    t.equal(json.json().state, 'succeeded')
    const html = await h.app.inject({ method: 'GET', url: `/recycles/${id}?format=html` })
    t.match(html.headers['content-type'], /text\/html/)
    t.match(html.body, /<dl class="facts" id="facts">/)
    t.equal(
      (
        await h.app.inject({ method: 'GET', url: `/recycles/${id}?format=json`, headers: { accept: 'text/html' } })
      ).json().id,
      id,
    )

    t.same(problems, [], 'no console errors, no CSP violations, no dialog')
  },
)
