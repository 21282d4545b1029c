// The pure decisions of issue 10: which commit a recycle pins, whether the
// failing checks say the cause is outside the pods, and the new site options.

import t from 'tap'
import { pinCommit } from '../../src/recycle/pin.ts'
import { outsideCause } from '../../src/health/cause.ts'
import { parseConfig, ConfigError } from '../../src/config/load.ts'
import type { CheckResult } from '../../src/health/verdict.ts'

const site = (extra = '') =>
  parseConfig(`sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n${extra}`).sites[0]!

t.test(
  'defaults: rollback auto, unhealthy pods deleted, outside causes skipped, payload commits not pinned',
  async (t) => {
    const s = site()
    t.equal(s.recycle.rollback, 'auto')
    t.equal(s.recycle.unhealthyPods, 'delete')
    t.same(s.recycle.skipWhen, ['tls-expired', 'tls-not-yet-valid', 'dns-not-found'])
    t.equal(s.jenkins.commitIsSite, false)
    const o = site(
      '    jenkins: { commitIsSite: true }\n    recycle: { rollback: "off", unhealthyPods: evict, skipWhen: [dns-not-found] }\n',
    )
    t.equal(o.recycle.rollback, 'off')
    t.equal(o.recycle.unhealthyPods, 'evict')
    t.same(o.recycle.skipWhen, ['dns-not-found'])
    t.equal(o.jenkins.commitIsSite, true)
    const viaDefaults = parseConfig(
      'defaults:\n  recycle: { rollback: "off", skipWhen: [] }\nsites:\n  - name: shop\n    target: { namespace: shop, name: web }\n',
    ).sites[0]!
    t.equal(viaDefaults.recycle.rollback, 'off')
    t.same(viaDefaults.recycle.skipWhen, [])
  },
)

t.test('bad values are named by path', async (t) => {
  const bad = (extra: string) => {
    try {
      site(extra)
      return []
    } catch (e) {
      return (e as ConfigError).problems
    }
  }
  t.match(bad('    recycle: { rollback: sometimes }\n').join('\n'), /sites\[0\]\.recycle\.rollback/)
  t.match(bad('    recycle: { unhealthyPods: force }\n').join('\n'), /sites\[0\]\.recycle\.unhealthyPods/)
  t.match(bad('    recycle: { skipWhen: [refused] }\n').join('\n'), /sites\[0\]\.recycle\.skipWhen/)
  t.match(bad('    jenkins: { commitIsSite: maybe }\n').join('\n'), /sites\[0\]\.jenkins\.commitIsSite/)
})

t.test('pinCommit: the head wins; a payload commit only when the site opts in', async (t) => {
  const off = site()
  const on = site('    jenkins: { commitIsSite: true }\n')
  const head = 'a'.repeat(40),
    payload = 'b'.repeat(40)
  t.equal(pinCommit(off, { head, payloadCommit: payload }), head)
  t.equal(pinCommit(on, { head, payloadCommit: payload }), head)
  t.equal(pinCommit(off, { payloadCommit: payload }), undefined, 'the job repo commit is not the site')
  t.equal(pinCommit(on, { payloadCommit: payload }), payload)
  t.equal(pinCommit(on, {}), undefined)
})

t.test('outsideCause: every failing check must name a skipped cause', async (t) => {
  const s = site()
  const c = (name: string, ok: boolean, cause?: CheckResult['cause']): CheckResult => ({
    name,
    ok,
    ...(cause ? { cause } : {}),
  })
  const rows: [string, CheckResult[], RegExp | undefined][] = [
    ['no checks', [], undefined],
    ['all pass', [c('a', true)], undefined],
    ['expired', [c('a', false, 'tls-expired')], /a: the TLS certificate has expired/],
    ['expired + passing', [c('a', false, 'tls-expired'), c('b', true)], /^the cause is outside the pods.*a: the TLS/],
    [
      'expired + dns',
      [c('a', false, 'tls-expired'), c('b', false, 'dns-not-found')],
      /a: the TLS certificate has expired; b: the DNS name does not resolve/,
    ],
    ['expired + 500', [c('a', false, 'tls-expired'), c('b', false, 'status')], undefined],
    ['a Jenkins result (no cause)', [c('a', false)], undefined],
    ['refused', [c('a', false, 'refused')], undefined],
    ['timeout', [c('a', false, 'timeout')], undefined],
    ['untrusted is not skipped by default', [c('a', false, 'tls-untrusted')], undefined],
    ['temporary DNS failure recycles', [c('a', false, 'dns-temporary')], undefined],
  ]
  for (const [name, checks, want] of rows) {
    const got = outsideCause(s, checks)
    if (want) t.match(got, want, name)
    else t.equal(got, undefined, name)
  }
  t.match(
    outsideCause(site('    recycle: { skipWhen: [tls-untrusted] }\n'), [c('a', false, 'tls-untrusted')]),
    /not trusted/,
  )
})

t.test('errorCause: transport errors by their code, wrapped or not', async (t) => {
  const { errorCause } = await import('../../src/triggers/probe-helpers.ts')
  const err = (code: string) => Object.assign(new Error(code), { code })
  const rows: [unknown, string][] = [
    [err('CERT_HAS_EXPIRED'), 'tls-expired'],
    [err('CERT_NOT_YET_VALID'), 'tls-not-yet-valid'],
    [err('ERR_TLS_CERT_ALTNAME_INVALID'), 'tls-hostname'],
    [err('DEPTH_ZERO_SELF_SIGNED_CERT'), 'tls-untrusted'],
    [err('ERR_SSL_WRONG_VERSION_NUMBER'), 'tls-other'],
    [err('ENOTFOUND'), 'dns-not-found'],
    [err('EAI_AGAIN'), 'dns-temporary'],
    [err('ECONNREFUSED'), 'refused'],
    [err('ECONNRESET'), 'reset'],
    [err('UND_ERR_CONNECT_TIMEOUT'), 'timeout'],
    [err('EHOSTUNREACH'), 'unreachable'],
    [Object.assign(new Error('fetch failed'), { cause: err('CERT_HAS_EXPIRED') }), 'tls-expired'],
    [new AggregateError([err('ECONNREFUSED'), err('ECONNREFUSED')]), 'refused'],
    [Object.assign(new Error('bad'), { name: 'HTTPParserError' }), 'invalid-response'],
    [new Error('what'), 'other'],
  ]
  for (const [e, want] of rows) t.equal(errorCause(e), want, want)
})

t.test('a Jenkins report carries the cause `kube-recycler check` measured; an unknown one is refused', async (t) => {
  const { parseJenkinsPayload, jenkinsVerdict } = await import('../../src/triggers/jenkins.ts')
  const config = parseConfig(
    'sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    jenkins: { jobs: [shop-integrity] }\n',
  )
  const body = {
    job: 'shop-integrity',
    build: 7,
    status: 'FAILURE',
    checks: [{ name: 'home', ok: false, message: 'TLS: expired', cause: 'tls-expired' }],
  }
  const v = jenkinsVerdict(config, parseJenkinsPayload(body), new Date('2026-12-02T00:00:00Z'))
  t.match(v, { verdict: { checks: [{ name: 'home', ok: false, cause: 'tls-expired' }] } })
  const checks = (v as { verdict: { checks: CheckResult[] } }).verdict.checks
  t.match(outsideCause(config.sites[0]!, checks), /home: the TLS certificate has expired/)
  t.throws(
    () => parseJenkinsPayload({ ...body, checks: [{ name: 'home', ok: false, cause: 'made-up' }] }),
    /checks\/0\/cause|cause/,
  )
})
