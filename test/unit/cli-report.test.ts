// `kube-recycler report` without a network: the endpoint it derives from
// --url, the payload it builds (checked by the webhook's own validator), the
// results file it accepts, and every usage mistake (exit 2, secrets never echoed).

import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UsageError, type CliContext } from '../../src/cli/args.ts'
import { reportCommand, sitePayload, webhookEndpoint } from '../../src/cli/report.ts'
import { parseResults, type SiteResults } from '../../src/cli/results.ts'
import { parseJenkinsPayload } from '../../src/triggers/jenkins.ts'

const dir = mkdtempSync(join(tmpdir(), 'kr-cli-report-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('webhookEndpoint: a base URL gets /webhooks/jenkins; the full path is kept', async (t) => {
  const rows: [string, string][] = [
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/webhooks/jenkins'],
    ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080/webhooks/jenkins'],
    ['https://ops.example/recycler', 'https://ops.example/recycler/webhooks/jenkins'],
    ['https://ops.example/recycler/', 'https://ops.example/recycler/webhooks/jenkins'],
    ['http://kr:8080/webhooks/jenkins', 'http://kr:8080/webhooks/jenkins'],
    ['http://kr:8080/webhooks/jenkins/', 'http://kr:8080/webhooks/jenkins'],
    ['http://kr:8080/#frag', 'http://kr:8080/webhooks/jenkins'],
  ]
  for (const [input, want] of rows) t.equal(webhookEndpoint(input).href, want, input)
  const bad: [string, RegExp][] = [
    ['kr:8080', /must be http: or https:/],
    ['/webhooks/jenkins', /must be an absolute http\(s\) URL/],
    ['http://u:p@kr:8080', /must not contain credentials/],
    ['http://kr:8080/?token=x', /must not have a query string/],
  ]
  for (const [input, message] of bad) t.throws(() => webhookEndpoint(input), message, input)
})

const site = (checks: SiteResults['checks'], ok = checks.every((c) => c.ok)): SiteResults => ({
  site: 'shop',
  ok,
  at: '2026-11-28T10:00:00.000Z',
  durationMs: 12,
  checks,
})

t.test(
  'sitePayload: only the fields the webhook accepts, within its limits, and the webhook validator agrees',
  async (t) => {
    const failing = site([
      {
        name: 'home',
        ok: false,
        url: 'http://shop/',
        status: 500,
        latencyMs: 3.2,
        message: 'expected status 200-299, got 500',
        at: '2026-11-28T10:00:00.001Z',
        warnings: ['cert expires in 3 days'],
      },
      { name: 'x'.repeat(300), ok: true, url: `http://shop/${'p'.repeat(3000)}`, message: 'm'.repeat(5000) },
      {
        name: 'refused',
        ok: false,
        message: 'connection refused by 127.0.0.1:1 (ECONNREFUSED)',
        url: '',
        cause: 'refused',
      },
      { name: 'future', ok: false, cause: 'something-newer' as never },
    ])
    const p = sitePayload(failing, {
      job: 'shop-integrity',
      build: 42,
      url: 'https://jenkins/job/42/',
      commit: 'abc1234',
    })
    t.same(p, {
      site: 'shop',
      job: 'shop-integrity',
      build: 42,
      status: 'FAILURE',
      url: 'https://jenkins/job/42/',
      commit: 'abc1234',
      checks: [
        {
          name: 'home',
          ok: false,
          url: 'http://shop/',
          status: 500,
          latencyMs: 3.2,
          message: 'expected status 200-299, got 500',
        },
        { name: `${'x'.repeat(199)}…`, ok: true, message: `${'m'.repeat(1999)}…` },
        { name: 'refused', ok: false, message: 'connection refused by 127.0.0.1:1 (ECONNREFUSED)', cause: 'refused' },
        { name: 'future', ok: false },
      ],
    })
    t.equal(parseJenkinsPayload(JSON.parse(JSON.stringify(p))).kind, 'own', 'the webhook accepts it')

    const passing = sitePayload(site([{ name: 'home', ok: true }]), { job: 'j', build: 1 })
    t.same(passing, { site: 'shop', job: 'j', build: 1, status: 'SUCCESS', checks: [{ name: 'home', ok: true }] })
    t.equal(
      sitePayload(site([{ name: 'home', ok: true }]), { job: 'j', build: 1, status: 'UNSTABLE' }).status,
      'UNSTABLE',
      '--status overrides',
    )
    t.equal(
      sitePayload(site([{ name: 'home', ok: true }], false), { job: 'j', build: 1 }).status,
      'FAILURE',
      'a site marked failed stays failed',
    )

    const many = sitePayload(site(Array.from({ length: 1200 }, (_, i) => ({ name: `c${i}`, ok: true }))), {
      job: 'j',
      build: 1,
    })
    t.equal(many.checks?.length, 1000, 'at most the 1000 checks the webhook takes')
    t.equal(parseJenkinsPayload(JSON.parse(JSON.stringify(many))).kind, 'own')
  },
)

t.test('parseResults: names every bad field of a file that is not check --json output', async (t) => {
  t.throws(() => parseResults('{', 'r.json'), /r\.json is not JSON/)
  t.throws(() => parseResults('[]', 'r.json'), /r\.json is not a kube-recycler results file/)
  try {
    parseResults(
      JSON.stringify({
        version: 2,
        at: 'x',
        ok: 'yes',
        sites: [{ site: '', ok: true, at: 'x', checks: [{ ok: true, status: 'two hundred' }] }],
      }),
      'r.json',
    )
    t.fail('should throw')
  } catch (e) {
    t.ok(e instanceof UsageError)
    const m = (e as Error).message
    t.match(m, 'version: must be 1')
    t.match(m, 'ok: must be a boolean')
    t.match(m, 'sites[0].site: must not be empty')
    t.match(m, 'sites[0].checks[0].name: is required')
    t.match(m, 'sites[0].checks[0].status: must be an integer')
  }
  const good = {
    version: 1,
    at: 'x',
    ok: true,
    sites: [{ site: 'shop', ok: true, at: 'x', checks: [{ name: 'home', ok: true, extra: 'from a later version' }] }],
  }
  t.equal(parseResults(JSON.stringify(good), 'r.json').sites[0]!.site, 'shop', 'unknown fields are tolerated')
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

t.test('reportCommand: usage mistakes are UsageErrors (exit 2) that never echo a secret', async (t) => {
  const results = join(dir, 'results.json')
  const at = '2026-11-28T10:00:00.000Z'
  writeFileSync(
    results,
    JSON.stringify({
      version: 1,
      at,
      ok: true,
      sites: [{ site: 'shop', ok: true, at, checks: [{ name: 'home', ok: true }] }],
    }),
  )
  const empty = join(dir, 'empty.json')
  writeFileSync(empty, JSON.stringify({ version: 1, at, ok: true, sites: [] }))
  const secret = 'unit-secret-value-77a1'
  const env = { KUBE_RECYCLER_WEBHOOK_SECRET: secret, JOB_NAME: 'shop-integrity', BUILD_NUMBER: '3' }
  const url = 'http://127.0.0.1:1'
  const rows: { name: string; args: string[]; env?: Record<string, string>; message: string | RegExp }[] = [
    { name: 'no url', args: ['--results', results], message: '--url URL is required (or set KUBE_RECYCLER_URL)' },
    { name: 'no results', args: ['--url', url], message: '--results FILE is required' },
    {
      name: 'ftp url',
      args: ['--url', 'ftp://127.0.0.1:1', '--results', results],
      message: '--url must be http: or https:',
    },
    {
      name: 'credentials in url',
      args: ['--url', `http://u:${secret}@127.0.0.1:1`, '--results', results],
      message: '--url must not contain credentials',
    },
    {
      name: 'no job',
      args: ['--url', url, '--results', results],
      env: { ...env, JOB_NAME: '' },
      message: '--job NAME is required (or JOB_NAME, which Jenkins sets)',
    },
    {
      name: 'no build',
      args: ['--url', url, '--results', results],
      env: { ...env, BUILD_NUMBER: ' ' },
      message: '--build N is required (or BUILD_NUMBER, which Jenkins sets)',
    },
    {
      name: 'job too long',
      args: ['--url', url, '--results', results, '--job', 'j'.repeat(513)],
      message: '--job must be at most 512 characters',
    },
    {
      name: 'bad build',
      args: ['--url', url, '--results', results, '--build', 'x7'],
      message: '--build must be a build number',
    },
    {
      name: 'huge build',
      args: ['--url', url, '--results', results, '--build', '99999999999'],
      message: '--build must be a build number',
    },
    {
      name: 'bad status',
      args: ['--url', url, '--results', results, '--status', 'GREEN'],
      message: '--status must be one of SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT',
    },
    {
      name: 'bad timeout',
      args: ['--url', url, '--results', results, '--timeout', 'soon'],
      message: '--timeout must be a duration',
    },
    {
      name: 'no credentials',
      args: ['--url', url, '--results', results],
      env: { JOB_NAME: 'j', BUILD_NUMBER: '1' },
      message:
        'set KUBE_RECYCLER_WEBHOOK_SECRET (HMAC signature) or KUBE_RECYCLER_WEBHOOK_TOKEN (bearer token) in the environment',
    },
    {
      name: 'blank credentials',
      args: ['--url', url, '--results', results],
      env: { JOB_NAME: 'j', BUILD_NUMBER: '1', KUBE_RECYCLER_WEBHOOK_SECRET: '  ' },
      message: 'set KUBE_RECYCLER_WEBHOOK_SECRET',
    },
    {
      name: '--secret',
      args: ['--url', url, '--results', results, '--secret', secret],
      message: 'secrets are never arguments',
    },
    {
      name: '--token=',
      args: ['--url', url, '--results', results, `--token=${secret}`],
      message: 'secrets are never arguments',
    },
    {
      name: 'a stray argument',
      args: ['--url', url, '--results', results, secret],
      message: 'unexpected argument: this command takes only --options',
    },
    {
      name: 'unknown option',
      args: ['--url', url, '--results', results, '--jobb', 'x'],
      message: "Unknown option '--jobb'",
    },
    {
      name: 'unknown site',
      args: ['--url', url, '--results', results, '--site', 'blog'],
      message: `no results for site "blog" in ${results} (sites: shop)`,
    },
    { name: 'no sites', args: ['--url', url, '--results', empty], message: `${empty} has no site results to report` },
    {
      name: 'missing file',
      args: ['--url', url, '--results', join(dir, 'missing.json')],
      message: /cannot read the results file .*missing\.json \(ENOENT\)/,
    },
  ]
  for (const row of rows) {
    const c = ctx(row.args, row.env ?? env)
    await t.rejects(reportCommand(c), { name: 'UsageError', message: row.message }, row.name)
    t.notOk(c.out().includes(secret) || c.err().includes(secret), `${row.name}: no secret in the output`)
  }
  const help = ctx(['--help'])
  t.equal(await reportCommand(help), 0)
  t.match(help.out(), /^usage: kube-recycler report --url URL --results FILE/)
  t.match(help.out(), 'KUBE_RECYCLER_WEBHOOK_SECRET')
})

t.test('reportCommand: a GIT_COMMIT that is no sha and an overlong BUILD_URL are left out, with a note', async (t) => {
  const results = join(dir, 'results2.json')
  const at = '2026-11-28T10:00:00.000Z'
  writeFileSync(
    results,
    JSON.stringify({
      version: 1,
      at,
      ok: true,
      sites: [{ site: 'shop', ok: true, at, checks: [{ name: 'home', ok: true }] }],
    }),
  )
  // Port 1 refuses: the request fails after the notes, exit 1.
  const c = ctx(['--url', 'http://127.0.0.1:1', '--results', results, '--timeout', '2s'], {
    KUBE_RECYCLER_WEBHOOK_TOKEN: 'tok',
    JOB_NAME: 'j',
    BUILD_NUMBER: '1',
    GIT_COMMIT: 'not-a-sha',
    BUILD_URL: `https://j/${'x'.repeat(2100)}`,
  })
  t.equal(await reportCommand(c), 1)
  t.match(c.err(), 'GIT_COMMIT is not a commit sha; not sent')
  t.match(c.err(), 'BUILD_URL is longer than 2048 characters; not sent')
  t.match(c.err(), 'shop: not sent: cannot reach 127.0.0.1:1: connection refused')
  t.match(c.out(), 'reporting 1 site to http://127.0.0.1:1/webhooks/jenkins (bearer token)')
})
