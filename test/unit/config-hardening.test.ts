// Config and secrets a hostile (or careless) operator could hand the
// service (issue 11, point 9): bodyMatches patterns run on a linear-time
// engine and a pattern it cannot run is refused naming the field; secrets the
// log redaction could not find are refused at start; trustProxy and the
// timeouts are checked like every other field.

import t from 'tap'
import { ConfigError, parseConfig } from '../../src/config/load.ts'
import { compileBodyPattern } from '../../src/config/pattern.ts'
import { assertServiceSecrets, secretProblems, secretsFromEnv } from '../../src/config/secrets.ts'

const site = (check: string) => `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    checks:
      - { name: home, url: "http://127.0.0.1:1/", ${check} }
`
const problems = (yaml: string): string[] => {
  try {
    parseConfig(yaml)
    return []
  } catch (e) {
    if (e instanceof ConfigError) return e.problems
    throw e
  }
}

t.test('bodyMatches: super-linear patterns run in linear time', async (t) => {
  const body = 'a'.repeat(64 * 1024) + '!'
  for (const p of ['^(a+)+$', '(a|aa)+$', '(a*)*b', '^(\\w+\\s?)*$', '(x+x+)+y']) {
    t.same(problems(site(`bodyMatches: ${JSON.stringify(p)}`)), [], `${p} is accepted`)
    const started = performance.now()
    const matched = compileBodyPattern(p).test(body)
    const ms = performance.now() - started
    t.ok(
      ms < 2000,
      `${p} on a 64 KiB body: ${Math.round(ms)} ms (V8's backtracking engine takes longer than the test on 30 characters)`,
    )
    t.equal(matched, false, `${p}: no match (the body ends in "!")`)
  }
  t.equal(
    compileBodyPattern('Add to (cart|basket)').test(`${'x'.repeat(60_000)}Add to basket`),
    true,
    'an ordinary pattern matches',
  )
  t.equal(compileBodyPattern('(?i)add TO cart').test('ADD to CART'), true, 'RE2 flags work')
})

t.test('bodyMatches: what RE2 cannot run is refused at load, naming the field', async (t) => {
  const rows: Array<[string, RegExp]> = [
    [
      '(a)\\1',
      /^sites\[0\]\.checks\[0\]\.bodyMatches: not a valid regular expression for the linear-time engine \(RE2\): invalid escape sequence: `\\1`; backreferences and lookaround are not supported$/,
    ],
    ['foo(?=bar)', /^sites\[0\]\.checks\[0\]\.bodyMatches: not a valid regular expression .*`\(\?=`/],
    ['(?<!x)y', /^sites\[0\]\.checks\[0\]\.bodyMatches: not a valid regular expression/],
    ['(', /^sites\[0\]\.checks\[0\]\.bodyMatches: not a valid regular expression .*missing closing \)/],
  ]
  for (const [p, want] of rows) {
    const got = problems(site(`bodyMatches: ${JSON.stringify(p)}`))
    t.equal(got.length, 1, p)
    t.match(got[0], want, p)
  }
})

t.test('secrets the value redaction could not find are refused at start, never echoed', async (t) => {
  const rows: Array<[Record<string, string>, RegExp | undefined]> = [
    [{ KUBE_RECYCLER_WEBHOOK_TOKEN: 'abc' }, /^KUBE_RECYCLER_WEBHOOK_TOKEN: must be at least 16 characters/],
    // What bounds guessing once a client is past the failed-auth limit: 16 characters for our own secrets.
    [
      { KUBE_RECYCLER_WEBHOOK_TOKEN: '0123456789abcde' },
      /^KUBE_RECYCLER_WEBHOOK_TOKEN: must be at least 16 characters/,
    ],
    [
      { KUBE_RECYCLER_WEBHOOK_SECRET: '0123456789abcde' },
      /^KUBE_RECYCLER_WEBHOOK_SECRET: must be at least 16 characters/,
    ],
    [
      { KUBE_RECYCLER_RECYCLE_TOKEN: '0123456789abcde' },
      /^KUBE_RECYCLER_RECYCLE_TOKEN: must be at least 16 characters/,
    ],
    [{ KUBE_RECYCLER_GIT_TOKEN: 'abc' }, /^KUBE_RECYCLER_GIT_TOKEN: must be at least 4 characters/],
    [
      { KUBE_RECYCLER_WEBHOOK_SECRET: 'ab"cdef-0123456789' },
      /^KUBE_RECYCLER_WEBHOOK_SECRET: must not contain a double quote, a backslash or a control character$/,
    ],
    [{ KUBE_RECYCLER_RECYCLE_TOKEN: 'abc\\def-0123456789' }, /^KUBE_RECYCLER_RECYCLE_TOKEN: must not contain/],
    [{ KUBE_RECYCLER_GIT_TOKEN: 'abc\u0007def' }, /^KUBE_RECYCLER_GIT_TOKEN: must not contain/],
    [
      { KUBE_RECYCLER_WEBHOOK_TOKEN: '0123456789abcdef', KUBE_RECYCLER_GIT_TOKEN: 'x-y_z.0~!#$%&()*+,/:;<=>?@[]^`{|}' },
      undefined,
    ],
  ]
  for (const [env, want] of rows) {
    const s = secretsFromEnv(env)
    const got = secretProblems(s)
    if (!want) {
      t.same(got, [], `${Object.keys(env).join(',')} accepted`)
      t.doesNotThrow(() => assertServiceSecrets(s))
      continue
    }
    t.equal(got.length, 1)
    t.match(got[0], want)
    const err = (() => {
      try {
        assertServiceSecrets(s)
      } catch (e) {
        return e as Error
      }
    })()
    t.ok(err instanceof ConfigError, 'a ConfigError: the process exits 2 with the message')
    t.match(err!.message, /^invalid configuration in the environment:\n {2}- KUBE_RECYCLER_/)
    for (const v of Object.values(env)) t.notOk(err!.message.includes(v), 'the value is not in the message')
  }
})

t.test('service limits: trustProxy, timeouts, limits', async (t) => {
  const svc = (s: string) =>
    problems(`service: ${s}\nsites:\n  - name: shop\n    target: { namespace: shop, name: web }\n`)
  t.same(svc('{ trustProxy: ["10.0.0.0/8", "192.168.1.7", "fd00::/8"] }'), [])
  t.same(svc('{ trustProxy: false }'), [])
  t.same(svc('{ trustProxy: ["10.0.0.0/33", "ingress", "1.2.3.4/8/9"] }'), [
    'service.trustProxy[0]: must be an IP address or CIDR like "10.0.0.0/8", got "10.0.0.0/33"',
    'service.trustProxy[1]: must be an IP address or CIDR like "10.0.0.0/8", got "ingress"',
    'service.trustProxy[2]: must be an IP address or CIDR like "10.0.0.0/8", got "1.2.3.4/8/9"',
  ])
  t.match(svc('{ trustProxy: true }'), [/^service\.trustProxy: /], 'true (believe anyone) is not offered')
  t.same(svc('{ timeouts: { headers: 20s, request: 10s } }'), [
    'service.timeouts.headers: must not exceed service.timeouts.request',
  ])
  t.same(svc('{ timeouts: { idle: soon } }'), [
    'service.timeouts.idle: must be a duration like "90s", "10m" or "1h30m"',
  ])
  t.same(svc('{ failedAuthLimit: { max: 0, window: 1m } }'), ['service.failedAuthLimit.max: must be >= 1'])
  t.same(svc('{ maxConnectionsPerClient: 0 }'), ['service.maxConnectionsPerClient: must be >= 1'])
  t.same(svc('{ probeSpread: 0s }'), [], 'probeSpread 0s: probes on the cron second')
  t.same(svc('{ probeSpread: later }'), ['service.probeSpread: must be a duration like "90s", "10m" or "1h30m"'])
  const c = parseConfig('sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n')
  t.same(c.service.timeouts, { headersMs: 10_000, requestMs: 30_000, idleMs: 70_000, keepAliveMs: 65_000 }, 'defaults')
  t.same(c.service.failedAuthLimit, { max: 10, windowMs: 300_000 })
  t.same(c.service.readRateLimit, { max: 600, windowMs: 60_000 })
  t.same(c.service.trustProxy, [])
  t.equal(c.service.maxConnectionsPerClient, 16)
  t.equal(c.service.probeSpreadMs, 30_000, 'scheduled probes spread by default')
})
