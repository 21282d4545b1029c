// Regression (hostile review, issue "Hardening" point 1): 60 signed-size
// reports of ~240 KB with a thousand long failing check names used to make
// GET /status 20 MiB, ~140 ms of event loop each, and 12 parallel GETs took
// the process to 688 MiB. Everything stored is bounded now; this floods a
// real process and holds it to stated bounds.

import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { procMemMB } from '../../bench/lib/procfs.ts'
import { startService } from '../fixtures/process.ts'

const TOKEN = 'flood-token-3c9e81'
/** The bounds this test holds the service to. */
const STATUS_MAX_BYTES = 64 * 1024
/** Above the process's own idle RSS (measured first), and the Deployment's limit in any case. */
const RSS_GROWTH_MAX_MB = 64
const RSS_LIMIT_MB = 256

t.test('a flood of huge failing reports leaves /status small and memory bounded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kr-flood-'))
  const config = join(dir, 'config.yaml')
  writeFileSync(
    config,
    'service: { rateLimit: { max: 100000, window: 1m } }\nsites:\n  - name: shop\n    target: { kind: Deployment, namespace: shop, name: web }\n    jenkins: { jobs: [shop-integrity] }\n    failureThreshold: 1\n',
  )
  const svc = await startService({ env: { KUBE_RECYCLER_CONFIG: config, KUBE_RECYCLER_WEBHOOK_TOKEN: TOKEN } })
  t.teardown(() => svc.stop('SIGKILL'))
  const checks = Array.from({ length: 1000 }, (_, i) => ({
    name: `check-${i}-${'n'.repeat(190)}`,
    ok: false,
    status: 500,
  }))
  await new Promise((r) => setTimeout(r, 1000))
  const idle = procMemMB(svc.child.pid!).rss
  let peak = 0
  for (let build = 1; build <= 60; build++) {
    const body = JSON.stringify({ job: 'shop-integrity', build, status: 'FAILURE', checks })
    if (build === 1) t.ok(body.length > 200_000, `each report is ${Math.round(body.length / 1024)} KiB`)
    const res = await request(`${svc.url}/webhooks/jenkins`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body,
    })
    t.equal(res.statusCode, 202, `report ${build}`)
    await res.body.dump()
    peak = Math.max(peak, procMemMB(svc.child.pid!).rss)
  }
  const one = await request(`${svc.url}/status`)
  const text = await one.body.text()
  t.ok(text.length < STATUS_MAX_BYTES, `/status is ${text.length} bytes (< ${STATUS_MAX_BYTES})`)
  const s = JSON.parse(text)
  t.ok(s.sites[0].lastVerdict.checks.length <= 20, 'a stored verdict keeps at most 20 checks')
  t.ok(s.sites[0].lastVerdict.summary.length <= 500, 'and a bounded summary')
  t.match(s.sites[0].lastVerdict.summary, /and 99[0-9] more failed$/)
  // Twelve at once, while /healthz must still answer promptly.
  const started = Date.now()
  const [health] = await Promise.all([
    (async () => {
      await new Promise((r) => setTimeout(r, 5))
      const h0 = Date.now()
      const h = await request(`${svc.url}/healthz`)
      await h.body.dump()
      return Date.now() - h0
    })(),
    ...Array.from({ length: 12 }, async () => {
      const r = await request(`${svc.url}/status`)
      await r.body.dump()
    }),
  ])
  peak = Math.max(peak, procMemMB(svc.child.pid!).rss)
  t.ok(
    health! < 250,
    `/healthz answered in ${health} ms during 12 parallel GET /status (${Date.now() - started} ms for all)`,
  )
  t.ok(
    peak - idle < RSS_GROWTH_MAX_MB,
    `peak RSS ${Math.round(peak)} MB, ${Math.round(peak - idle)} MB above idle (< ${RSS_GROWTH_MAX_MB} MB)`,
  )
  t.ok(peak < RSS_LIMIT_MB, `under the Deployment's 256 Mi limit`)
})
