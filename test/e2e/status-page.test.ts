// The /status dashboard in a real browser: what an operator sees after a
// failure and a recycle, escaped, readable, refreshing itself.

import t from 'tap'
import { existsSync } from 'node:fs'
import { launchBrowser, CHROMIUM } from '../fixtures/browser.ts'
import { SECRETS, testApp } from '../fixtures/app.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'

t.test('the dashboard shows sites, health, the recycle and its reason', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (.ci/run installs it)` }, async (t) => {
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'deployment "web" successfully rolled out' } })
  const h = await testApp({ extra: { executor: ex } })
  t.teardown(() => h.app.close())
  const url = await h.app.listen({ host: '127.0.0.1', port: 0 })
  const hook = { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' }
  await h.app.inject({ method: 'POST', url: '/webhooks/jenkins', headers: hook, payload: { job: 'shop-integrity', build: 5, status: 'FAILURE', commit: 'abcdef1234567890', checks: [{ name: 'checkout <form>', ok: false, status: 500 }] } })
  await h.app.inject({ method: 'POST', url: '/webhooks/jenkins', headers: hook, payload: { job: 'blog-integrity', build: 1, status: 'SUCCESS' } })
  await h.app.core.recycler.idle()

  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const res = await page.goto(`${url}/status`)
  t.equal(res?.status(), 200)
  t.match(res?.headers()['content-type'], /text\/html/, 'a browser gets HTML from the same URL')
  t.equal(await page.title(), 'kube-recycler status')
  const rows = await page.$$eval('#sites tbody tr.site', (trs) => trs.map((tr) => ({ site: tr.getAttribute('data-site'), health: tr.getAttribute('data-health'), text: (tr as unknown as { innerText: string }).innerText })))
  t.same(rows.map((r) => [r.site, r.health]), [['shop', 'failing'], ['blog', 'healthy'], ['pool', 'unknown']])
  t.match(rows[0]!.text, /shop-integrity #5 FAILURE: checkout <form> failed/, 'the failing check is named, as text')
  t.match(rows[0]!.text, /succeeded/)
  t.match(rows[0]!.text, /abcdef123456/)
  const recent = await page.$$eval('#recent tbody tr.recycle', (trs) => trs.map((tr) => tr.getAttribute('data-state')))
  t.same(recent, ['succeeded'])
  t.equal(await page.$$eval('script', (s) => s.length), 0, 'nothing from the payload became markup')
  const refresh = await page.$eval('meta[http-equiv="refresh"]', (m) => m.getAttribute('content'))
  t.equal(refresh, '10')
  // The recycle link leads to its JSON record.
  await page.click('#recent tbody tr.recycle a')
  await page.waitForLoadState()
  t.match(await page.textContent('body'), /"state":"succeeded"/)
  await page.goto(`${url}/status`)
  await page.screenshot({ path: `${process.env.KR_SCREENSHOT_DIR ?? '/tmp'}/kube-recycler-status.png`, fullPage: true })
})
