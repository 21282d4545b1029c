// The API's UI at /docs in a real browser, on a machine without network:
// Swagger UI renders every operation from /docs/json, everything it loads
// comes from the service itself, and the browser reports no error (a CSP
// violation included).

import t from 'tap'
import { existsSync } from 'node:fs'
import { launchBrowser, CHROMIUM } from '../fixtures/browser.ts'
import { testApp } from '../fixtures/app.ts'

t.test(
  '/docs renders every operation from the service alone',
  { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (.ci/run installs it)` },
  async (t) => {
    const h = await testApp()
    t.teardown(() => h.app.close())
    const url = await h.app.listen({ host: '127.0.0.1', port: 0 })
    const browser = await launchBrowser()
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    const problems: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`)
    })
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
    const elsewhere: string[] = []
    const requested: string[] = []
    // Anything not for this service is refused (and noted), as the network would.
    await page.route('**/*', (route) => {
      const u = route.request().url()
      if (u.startsWith(url) || u.startsWith('data:')) {
        requested.push(u.slice(url.length))
        return route.continue()
      }
      elsewhere.push(u)
      return route.abort()
    })
    const res = await page.goto(`${url}/docs`)
    t.equal(res?.status(), 200)
    await page.waitForSelector('.opblock', { timeout: 30_000 })
    t.equal(await page.title(), 'kube-recycler API')
    const ops = await page.$$eval('.opblock', (els) =>
      els.map(
        (e) =>
          `${e.querySelector('.opblock-summary-method')?.textContent} ${e.querySelector('.opblock-summary-path')?.getAttribute('data-path')}`,
      ),
    )
    t.same(ops.sort(), [
      'GET /healthz',
      'GET /metrics',
      'GET /readyz',
      'GET /recycles/{id}',
      'GET /status',
      'POST /pause',
      'POST /recycle',
      'POST /recycles/{id}/approve',
      'POST /recycles/{id}/reject',
      'POST /resume',
      'POST /sites/{site}/pause',
      'POST /sites/{site}/reset',
      'POST /sites/{site}/resume',
      'POST /webhooks/alertmanager',
      'POST /webhooks/jenkins',
    ])
    const ids = await page.$$eval('.opblock-summary-operation-id', (els) => els.map((e) => e.textContent))
    t.ok(ids.includes('requestRecycle'), 'operationIds are shown')
    // The authorize dialog lists the five schemes.
    await page.click('.btn.authorize')
    await page.waitForSelector('.modal-ux .auth-container')
    const schemes = await page.$$eval('.modal-ux .auth-container h4', (els) =>
      els.map((e) => e.textContent?.trim().split(/\s/)[0]),
    )
    t.same([...schemes].sort(), [
      'operatorBearer',
      'webhookBasic',
      'webhookBearer',
      'webhookSignature',
      'webhookTimestamp',
    ])
    t.ok(requested.includes('/docs/json'), 'the UI read the document from the service')
    t.same(elsewhere, [], 'nothing was asked of any other origin')
    t.same(problems, [], 'no console errors or warnings (no CSP violation)')
  },
)
