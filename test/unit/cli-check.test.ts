// `kube-recycler check` in-process: the table and summary it prints, the
// JUnit XML it writes, and its usage mistakes (exit 2). The real probes
// against real sites are in test/e2e/cli.test.ts.

import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CliContext } from '../../src/cli/args.ts'
import { checkCommand, renderTable, summary } from '../../src/cli/check.ts'
import { toJUnit, xmlEscape } from '../../src/cli/junit.ts'
import type { Results } from '../../src/cli/results.ts'

const dir = mkdtempSync(join(tmpdir(), 'kr-cli-check-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const at = '2026-11-28T10:00:00.123Z'
const results: Results = {
  version: 1,
  at,
  ok: false,
  sites: [
    {
      site: 'shop',
      ok: false,
      at,
      durationMs: 1234.6,
      checks: [
        {
          name: 'home',
          ok: true,
          url: 'https://shop/',
          status: 200,
          latencyMs: 12.34,
          warnings: ['the certificate of shop:443 expires in 3 days'],
        },
        {
          name: 'api',
          ok: false,
          url: 'https://shop/api',
          status: 503,
          latencyMs: 250.6,
          message: 'expected status 200-299, got 503\nsecond line',
        },
        { name: 'down', ok: false, url: 'https://shop/down', message: 'connection refused by shop:443 (ECONNREFUSED)' },
      ],
    },
    { site: 'blog', ok: true, at, checks: [{ name: 'home', ok: true, status: 204, latencyMs: 1 }] },
  ],
}

t.test('the table: aligned columns, OK/FAIL, one line per message, a WARN row per warning', async (t) => {
  t.equal(
    renderTable(results),
    [
      'SITE  CHECK  RESULT  STATUS  LATENCY  MESSAGE',
      'shop  home   OK      200     12.3 ms',
      '             WARN                     the certificate of shop:443 expires in 3 days',
      'shop  api    FAIL    503     251 ms   expected status 200-299, got 503 second line',
      'shop  down   FAIL    -       -        connection refused by shop:443 (ECONNREFUSED)',
      'blog  home   OK      204     1.0 ms',
      '',
    ].join('\n'),
  )
  t.equal(
    summary(results),
    '4 checks on 2 sites: 2 passed, 2 failed (shop/api, shop/down); 1 with warnings (shop/home)',
  )
  t.equal(summary({ ...results, ok: true, sites: [results.sites[1]!] }), '1 check on 1 site: 1 passed, 0 failed')
})

t.test('xmlEscape: markup, quotes in attributes, and characters XML 1.0 cannot carry', async (t) => {
  const rows: [string, boolean, string][] = [
    ['a & b < c > d', false, 'a &amp; b &lt; c &gt; d'],
    [`"q" 'a'`, false, `"q" 'a'`],
    [`"q" 'a'`, true, '&quot;q&quot; &apos;a&apos;'],
    ['line1\nline2\ttab', false, 'line1\nline2\ttab'],
    ['line1\nline2\ttab', true, 'line1&#10;line2&#9;tab'],
    ['cr\r', false, 'cr&#13;'],
    ['bell\u0007 nul\u0000 esc\u001b', false, 'bell\uFFFD nul\uFFFD esc\uFFFD'],
    ['lone \uD800 surrogate, \uFFFE', false, 'lone \uFFFD surrogate, \uFFFD'],
    ['ünïcödé 😀 ✓', true, 'ünïcödé 😀 ✓'],
    [']]> <![CDATA[', false, ']]&gt; &lt;![CDATA['],
  ]
  for (const [input, attribute, want] of rows) t.equal(xmlEscape(input, attribute), want, JSON.stringify(input))
})

t.test('JUnit XML: a suite per site, a case per check, failures with the message, warnings as output', async (t) => {
  const xml = toJUnit(results)
  t.equal(
    xml,
    `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="kube-recycler check" tests="4" failures="2" errors="0" time="1.235">
  <testsuite name="shop" tests="3" failures="2" errors="0" skipped="0" time="1.235" timestamp="2026-11-28T10:00:00">
    <testcase classname="kube-recycler.shop" name="home" time="0.012">
      <system-out>url: https://shop/
status: 200
latency: 12.34 ms
WARNING: the certificate of shop:443 expires in 3 days</system-out>
    </testcase>
    <testcase classname="kube-recycler.shop" name="api" time="0.251">
      <failure message="expected status 200-299, got 503" type="CheckFailed">expected status 200-299, got 503
second line
url: https://shop/api
status: 503
latency: 250.6 ms</failure>
    </testcase>
    <testcase classname="kube-recycler.shop" name="down" time="0.000">
      <failure message="connection refused by shop:443 (ECONNREFUSED)" type="CheckFailed">connection refused by shop:443 (ECONNREFUSED)
url: https://shop/down</failure>
    </testcase>
  </testsuite>
  <testsuite name="blog" tests="1" failures="0" errors="0" skipped="0" time="0.001" timestamp="2026-11-28T10:00:00">
    <testcase classname="kube-recycler.blog" name="home" time="0.001">
      <system-out>status: 204
latency: 1 ms</system-out>
    </testcase>
  </testsuite>
</testsuites>
`,
  )
  const bare = toJUnit({
    version: 1,
    at,
    ok: false,
    sites: [{ site: 's', ok: false, at, checks: [{ name: 'n', ok: false }] }],
  })
  t.match(
    bare,
    '<testcase classname="kube-recycler.s" name="n" time="0.000">\n      <failure message="the check failed" type="CheckFailed">the check failed\n</failure>',
  )
})

function ctx(args: string[], env: Record<string, string> = {}): CliContext & { out: () => string; err: () => string } {
  let out = ''
  let err = ''
  return {
    args,
    env,
    stdout: {
      write: (s: string) => {
        out += s
      },
    },
    stderr: {
      write: (s: string) => {
        err += s
      },
    },
    out: () => out,
    err: () => err,
  }
}

t.test('checkCommand: usage mistakes are UsageErrors (exit 2); sites without checks are skipped', async (t) => {
  const config = join(dir, 'c.yaml')
  // Port 1 refuses at once: the run is quick and fails.
  writeFileSync(
    config,
    `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    checks:
      - { name: home, url: "http://127.0.0.1:1/", timeout: 2s }
  - name: jenkins-only
    target: { kind: Deployment, namespace: blog, name: web }
    jenkins: { jobs: [blog-integrity] }
`,
  )
  const noChecks = join(dir, 'none.yaml')
  writeFileSync(
    noChecks,
    `
sites:
  - name: jenkins-only
    target: { kind: Deployment, namespace: blog, name: web }
`,
  )
  const rows: { name: string; args: string[]; env?: Record<string, string>; message: string | RegExp }[] = [
    { name: 'no config', args: [], message: '--config FILE is required (or set KUBE_RECYCLER_CONFIG)' },
    { name: 'blank config env', args: [], env: { KUBE_RECYCLER_CONFIG: ' ' }, message: '--config FILE is required' },
    { name: 'unknown option', args: ['--config', config, '--jsno', 'x'], message: "Unknown option '--jsno'" },
    {
      name: 'missing value',
      args: ['--config', config, '--json'],
      message: "Option '--json <value>' argument missing",
    },
    { name: 'empty --json', args: ['--config', config, '--json='], message: '--json and --junit need a file name' },
    {
      name: 'zero concurrency',
      args: ['--config', config, '--concurrency', '0'],
      message: '--concurrency must be a whole number from 1 to 1000, got "0"',
    },
    {
      name: 'text concurrency',
      args: ['--config', config, '--concurrency', 'many'],
      message: '--concurrency must be a whole number',
    },
    { name: 'stray argument', args: ['--config', config, 'extra'], message: 'unexpected argument' },
    {
      name: 'unknown site',
      args: ['--config', config, '--site', 'nope'],
      message: `no site named "nope" in ${config} (sites: shop, jenkins-only)`,
    },
    {
      name: 'site without checks',
      args: ['--config', config, '--site', 'jenkins-only'],
      message: `site "jenkins-only" has no checks in ${config}`,
    },
    { name: 'no checks at all', args: ['--config', noChecks], message: `no site in ${noChecks} has checks` },
  ]
  for (const row of rows) {
    await t.rejects(checkCommand(ctx(row.args, row.env)), { name: 'UsageError', message: row.message }, row.name)
  }

  const bad = ctx(['--config', join(dir, 'missing.yaml')])
  t.equal(await checkCommand(bad), 2, 'a config that cannot be read: exit 2, like serve')
  t.match(
    bad.err(),
    /kube-recycler: invalid configuration in .*missing\.yaml:\n {2}- \(file\): cannot be read \(ENOENT\)/,
  )

  const run = ctx(['--config', config, '--junit', join(dir, 'out', 'deep', 'checks.xml')])
  t.equal(await checkCommand(run), 1)
  t.match(run.err(), 'site "jenkins-only" has no checks; skipped')
  t.match(run.out(), /^shop\s+home\s+FAIL\s+-\s+[\d.]+ ms\s+connection refused by 127\.0\.0\.1:1 \(ECONNREFUSED\)$/m)
  t.match(
    readFileSync(join(dir, 'out', 'deep', 'checks.xml'), 'utf8'),
    '<testsuite name="shop" tests="1" failures="1"',
    'missing folders are made',
  )

  const unwritable = ctx(['--config', config, '--json', join(config, 'sub', 'x.json')])
  await t.rejects(checkCommand(unwritable), {
    name: 'UsageError',
    message: /cannot write .*c\.yaml\/sub\/x\.json \(E\w+\)/,
  })

  const help = ctx(['--help'])
  t.equal(await checkCommand(help), 0)
  t.match(help.out(), /^usage: kube-recycler check --config FILE/)
})
