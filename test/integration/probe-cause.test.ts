// Probes say WHY they failed in a machine-readable `cause`, and outsideCause
// turns the causes a restart cannot fix (an expired or not-yet-valid
// certificate, a name that does not resolve) into a reason not to recycle.
// Real HTTPS sites on 127.0.0.1 with certificates the test makes; the DNS
// case uses a name under `.invalid` (RFC 2606), which no resolver answers.

import t from 'tap'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { createProber } from '../../src/triggers/probe.ts'
import type { CheckConfig } from '../../src/config/types.ts'
import type { CheckResult } from '../../src/health/verdict.ts'
import { outsideCause } from '../../src/health/cause.ts'
import { parseConfig } from '../../src/config/load.ts'
import { startSite } from '../fixtures/sites.ts'
import { makePki, type TestPki } from '../fixtures/tls.ts'

function check(url: string, more: Partial<CheckConfig> = {}): CheckConfig {
  return {
    name: 'home',
    url,
    method: 'GET',
    headers: {},
    timeoutMs: 3000,
    expectStatus: [{ min: 200, max: 299 }],
    tls: { verify: true },
    ...more,
  }
}

const site = parseConfig('sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n').sites[0]!

let pki: TestPki
t.before(async () => {
  pki = await makePki()
})
t.teardown(() => pki?.cleanup())

type Test = Parameters<Extract<Parameters<typeof t.test>[0], (t: never) => unknown>>[0]

async function probe(tt: Test, c: CheckConfig): Promise<CheckResult> {
  const p = createProber({ concurrency: 2 })
  tt.teardown(() => p.close())
  return p.runCheck(c)
}

t.test('an expired certificate: cause tls-expired, outside the pods', async (tt) => {
  const s = await startSite({ tls: pki.expired })
  tt.teardown(() => s.close())
  const r = await probe(tt, check(s.url('/'), { tls: { verify: true, caFile: pki.caFile } }))
  tt.equal(r.ok, false)
  tt.equal(r.cause, 'tls-expired')
  tt.match(r.message, /has expired \(CERT_HAS_EXPIRED\)/)
  tt.equal(
    outsideCause(site, [r]),
    'the cause is outside the pods, a restart cannot help (home: the TLS certificate has expired; recycle.skipWhen: tls-expired, tls-not-yet-valid, dns-not-found)',
  )
})

t.test('a certificate not valid yet: cause tls-not-yet-valid, outside the pods', async (tt) => {
  const s = await startSite({ tls: pki.notYetValid })
  tt.teardown(() => s.close())
  const r = await probe(tt, check(s.url('/'), { tls: { verify: true, caFile: pki.caFile } }))
  tt.equal(r.ok, false)
  tt.equal(r.cause, 'tls-not-yet-valid')
  tt.match(outsideCause(site, [r]), /home: the TLS certificate is not valid yet/)
})

t.test('a name that does not resolve: cause dns-not-found, outside the pods', async (tt) => {
  const r = await probe(tt, check('http://kube-recycler-heal-test.invalid/'))
  tt.equal(r.ok, false)
  tt.equal(r.cause, 'dns-not-found', r.message ?? '')
  tt.match(r.message, /DNS lookup failed: kube-recycler-heal-test\.invalid not found \(ENOTFOUND\)/)
  tt.match(outsideCause(site, [r]), /home: the DNS name does not resolve/)
})

t.test('refused, timeouts and bad statuses still recycle', async (tt) => {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const { port } = srv.address() as AddressInfo
  await new Promise((r) => srv.close(r))
  const refused = await probe(tt, check(`http://127.0.0.1:${port}/`))
  tt.equal(refused.cause, 'refused')

  const s = await startSite()
  tt.teardown(() => s.close())
  s.set('broken')
  const status = await probe(tt, check(s.url('/')))
  tt.equal(status.cause, 'status')
  s.set('hang')
  const hang = await probe(tt, check(s.url('/'), { timeoutMs: 200 }))
  tt.equal(hang.cause, 'timeout')
  s.set('healthy')
  const ok = await probe(tt, check(s.url('/')))
  tt.equal(ok.ok, true)
  tt.equal(ok.cause, undefined, 'a passing check has no cause')

  tt.equal(outsideCause(site, [refused]), undefined)
  tt.equal(outsideCause(site, [status, hang]), undefined)
})

t.test('a cause a site does not skip recycles; skipWhen: [] recycles always', async (tt) => {
  const s = await startSite({ tls: pki.expired })
  tt.teardown(() => s.close())
  const r = await probe(tt, check(s.url('/'), { tls: { verify: true, caFile: pki.caFile } }))
  const never = parseConfig(
    'sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    recycle: { skipWhen: [] }\n',
  ).sites[0]!
  tt.equal(outsideCause(never, [r]), undefined)
  const dnsOnly = parseConfig(
    'sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    recycle: { skipWhen: [dns-not-found] }\n',
  ).sites[0]!
  tt.equal(outsideCause(dnsOnly, [r]), undefined)
})
