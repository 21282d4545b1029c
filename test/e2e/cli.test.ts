// `kube-recycler check` against real local sites, and `kube-recycler report`
// against the real service process: the webhook accepts the signed report,
// a wrong secret is refused with the server's message, the secret is never in
// an argument or an output.

import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { runCli, startService } from '../fixtures/process.ts'
import { startSite, type Site } from '../fixtures/sites.ts'
import type { Results } from '../../src/cli/results.ts'

// Each CLI run is a process start (~1 s, much more on a loaded 2-core machine).
t.setTimeout(600_000)
/** The service starts in ~3 s; a busy machine needs more than the fixture's 10 s default. */
const SERVICE_START_MS = 60_000

const dir = mkdtempSync(join(tmpdir(), 'kr-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

/** A config with one site per entry, each with a page check and a JSON check; dry-run, no schedule. */
function writeConfig(name: string, sites: { name: string; site: Site; job: string; checkName?: string }[]): string {
  const file = join(dir, name)
  const config = {
    service: { dryRun: true },
    sites: sites.map((s) => ({
      name: s.name,
      target: { kind: 'Deployment', namespace: s.name, name: 'web' },
      jenkins: { jobs: [s.job] },
      failureThreshold: 1,
      checks: [
        { name: s.checkName ?? 'home', url: s.site.url('/'), timeout: '2s', bodyContains: s.site.marker },
        { name: 'health', url: s.site.url('/health.json'), timeout: '2s', json: { path: '$.status', equals: 'ok' } },
      ],
    })),
  }
  writeFileSync(file, JSON.stringify(config, null, 2)) // JSON is YAML
  return file
}

const readJson = (file: string): Results => JSON.parse(readFileSync(file, 'utf8')) as Results

/** Parses JUnit XML with a real XML parser (the JDK's), as Jenkins does; null without Java. */
function parseJUnitWithJava(file: string): { suites: string[][]; cases: string[][] } | null {
  if (spawnSync('java', ['-version']).status !== 0) return null
  const src = join(dir, 'ReadJUnit.java')
  writeFileSync(
    src,
    `
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.*;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
public class ReadJUnit {
  static String e(String s) { return URLEncoder.encode(s, StandardCharsets.UTF_8); }
  public static void main(String[] a) throws Exception {
    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
    f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
    Document d = f.newDocumentBuilder().parse(new java.io.File(a[0]));
    NodeList suites = d.getElementsByTagName("testsuite");
    for (int i = 0; i < suites.getLength(); i++) {
      Element s = (Element) suites.item(i);
      System.out.println("suite " + e(s.getAttribute("name")) + " " + s.getAttribute("tests") + " " + s.getAttribute("failures"));
      NodeList cases = s.getElementsByTagName("testcase");
      for (int j = 0; j < cases.getLength(); j++) {
        Element c = (Element) cases.item(j);
        NodeList fl = c.getElementsByTagName("failure");
        String failure = fl.getLength() == 0 ? "-" : e(((Element) fl.item(0)).getAttribute("message")) + " " + e(fl.item(0).getTextContent());
        System.out.println("case " + e(s.getAttribute("name")) + " " + e(c.getAttribute("classname")) + " " + e(c.getAttribute("name")) + " " + failure);
      }
    }
  }
}
`,
  )
  const out = execFileSync('java', [src, file], { encoding: 'utf8' })
  const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))
  const suites: string[][] = []
  const cases: string[][] = []
  for (const line of out.trim().split('\n')) {
    const [kind, ...rest] = line.split(' ')
    if (kind === 'suite') suites.push(rest.map(dec))
    else if (kind === 'case') cases.push(rest.map(dec))
  }
  return { suites, cases }
}

t.test('check: a healthy site passes, exit 0, with the table, the results file and JUnit XML', async (t) => {
  const site = await startSite()
  t.teardown(() => site.close())
  const config = writeConfig('healthy.yaml', [{ name: 'shop', site, job: 'shop-integrity' }])
  const json = join(dir, 'healthy', 'checks.json')
  const junit = join(dir, 'healthy', 'checks.xml')
  const r = await runCli(['check', '--config', config, '--json', json, '--junit', junit])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^SITE\s+CHECK\s+RESULT\s+STATUS\s+LATENCY\s+MESSAGE$/m)
  t.match(r.stdout, /^shop\s+home\s+OK\s+200\s+[\d.]+ ms$/m)
  t.match(r.stdout, /^shop\s+health\s+OK\s+200\s+[\d.]+ ms$/m)
  t.match(r.stdout, '2 checks on 1 site: 2 passed, 0 failed')
  const results = readJson(json)
  t.match(results, {
    version: 1,
    ok: true,
    sites: [
      {
        site: 'shop',
        ok: true,
        checks: [
          { name: 'home', ok: true, status: 200, url: site.url('/') },
          { name: 'health', ok: true, status: 200 },
        ],
      },
    ],
  })
  t.ok(Date.parse(results.at) > 0 && Date.parse(results.sites[0]!.at) > 0, 'times are ISO')
  t.equal(site.requests, 2, 'each check ran once')
  const xml = readFileSync(junit, 'utf8')
  t.match(
    xml,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="kube-recycler check" tests="2" failures="0"/,
  )
  t.match(
    xml,
    /<testsuite name="shop" tests="2" failures="0" errors="0" skipped="0" time="[\d.]+" timestamp="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d">/,
  )
  t.match(xml, /<testcase classname="kube-recycler.shop" name="home" time="[\d.]+">/)
  t.notMatch(xml, /<failure/)
})

t.test('check: a broken site fails, exit 1, the failing checks named everywhere', async (t) => {
  const site = await startSite()
  t.teardown(() => site.close())
  // A name and a message with XML's special characters: the JUnit file must still parse and round-trip them.
  const nasty = `home <&> "q" 'a'`
  const config = writeConfig('broken.yaml', [{ name: 'shop', site, job: 'shop-integrity', checkName: nasty }])
  site.set('broken')
  const json = join(dir, 'broken', 'checks.json')
  const junit = join(dir, 'broken', 'checks.xml')
  const r = await runCli(['check', '--config', config, '--json', json, '--junit', junit])
  t.equal(r.code, 1)
  t.match(
    r.stdout,
    /^shop\s+home <&> "q" 'a'\s+FAIL\s+500\s+[\d.]+ ms\s+expected status 200-299, got 500; body does not contain "site-ok-marker"/m,
  )
  t.match(r.stdout, /^shop\s+health\s+FAIL\s+500/m)
  t.match(r.stdout, `2 checks on 1 site: 0 passed, 2 failed (shop/${nasty}, shop/health)`)
  const results = readJson(json)
  t.equal(results.ok, false)
  t.equal(results.sites[0]!.ok, false)
  const home = results.sites[0]!.checks[0]!
  t.match(home, { name: nasty, ok: false, status: 500, message: /^expected status 200-299, got 500/ })

  const xml = readFileSync(junit, 'utf8')
  t.match(xml, '<testsuite name="shop" tests="2" failures="2"')
  t.match(xml, `name="home &lt;&amp;&gt; &quot;q&quot; &apos;a&apos;"`)
  t.match(
    xml,
    /<failure message="expected status 200-299, got 500; body does not contain &quot;site-ok-marker&quot;; body starts: &quot;/,
  )
  const parsed = parseJUnitWithJava(junit)
  if (parsed === null) {
    t.comment('no java: the JUnit XML was not read back with a real XML parser')
    return
  }
  t.same(parsed.suites, [['shop', '2', '2']])
  t.equal(parsed.cases.length, 2)
  const [suite, classname, name, message, text] = parsed.cases[0]!
  t.same(
    [suite, classname, name, message],
    ['shop', 'kube-recycler.shop', nasty, home.message],
    'the XML parser reads back exactly what the check said',
  )
  t.match(text, `${home.message}\nurl: ${site.url('/')}\nstatus: 500\n`)
})

t.test('check: --site picks one site; unknown site, no config, bad config and bad options exit 2', async (t) => {
  const a = await startSite()
  const b = await startSite()
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const config = writeConfig('two.yaml', [
    { name: 'shop', site: a, job: 'shop-integrity' },
    { name: 'blog', site: b, job: 'blog-integrity' },
  ])
  b.set('broken')
  const json = join(dir, 'two.json')
  const one = await runCli(['check', '--config', config, '--site', 'shop', '--json', json])
  t.equal(one.code, 0, 'the broken site was not checked')
  t.same(
    readJson(json).sites.map((s) => s.site),
    ['shop'],
  )
  t.equal(b.requests, 0)
  const both = await runCli(['check', '--config', config, '--json', json, '--concurrency', '1'])
  t.equal(both.code, 1)
  t.same(
    readJson(json).sites.map((s) => [s.site, s.ok]),
    [
      ['shop', true],
      ['blog', false],
    ],
  )

  const unknown = await runCli(['check', '--config', config, '--site', 'nope'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, 'no site named "nope" in ')
  t.match(unknown.stderr, '(sites: shop, blog)')

  const none = await runCli(['check'])
  t.equal(none.code, 2)
  t.match(none.stderr, '--config FILE is required (or set KUBE_RECYCLER_CONFIG)')
  const fromEnv = await runCli(['check', '--site', 'shop'], { KUBE_RECYCLER_CONFIG: config })
  t.equal(fromEnv.code, 0, 'KUBE_RECYCLER_CONFIG is the default config')

  const bad = join(dir, 'bad.yaml')
  writeFileSync(
    bad,
    `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    checks:
      - { name: home, url: 42 }
      - { name: api, url: "http://127.0.0.1:1/", expectStatus: "6xx" }
`,
  )
  const r = await runCli(['check', '--config', bad])
  t.equal(r.code, 2)
  t.match(r.stderr, `invalid configuration in ${bad}`)
  t.match(r.stderr, 'sites[0].checks[0].url: must be a string')

  // Option mistakes are covered in test/unit/cli-check.test.ts; here one, through the real process.
  const typo = await runCli(['check', '--config', config, '--jsno', 'x'])
  t.equal(typo.code, 2)
  t.match(
    typo.stderr,
    /^kube-recycler check: Unknown option '--jsno'\n\nusage: kube-recycler check --config FILE/,
    'the reason, then the usage',
  )
  const help = await runCli(['check', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /^usage: kube-recycler check --config FILE/)
})

t.test(
  'report: the running service accepts the signed report; a wrong secret is refused; the secret never shows',
  async (t) => {
    const secret = 'e2e-webhook-secret-4b1d9c2a7f'
    const token = 'e2e-webhook-token-8e3f0a6b5c'
    const site = await startSite()
    t.teardown(() => site.close())
    const config = writeConfig('service.yaml', [{ name: 'shop', site, job: 'shop-integrity' }])
    const svc = await startService({
      env: { KUBE_RECYCLER_WEBHOOK_SECRET: secret, KUBE_RECYCLER_WEBHOOK_TOKEN: token, KUBE_RECYCLER_CONFIG: config },
      timeoutMs: SERVICE_START_MS,
    })
    t.teardown(() => svc.stop('SIGKILL'))
    const status = async () =>
      (await (await request(`${svc.url}/status`)).body.json()) as {
        sites: { name: string; health: string; lastVerdict: Record<string, unknown> | null }[]
      }
    const outputs: string[] = []
    const args: string[][] = []
    const cli = async (a: string[], env: Record<string, string>) => {
      args.push(a)
      const r = await runCli(a, env)
      outputs.push(r.stdout, r.stderr)
      return r
    }

    const good = join(dir, 'good.json')
    t.equal((await cli(['check', '--config', config, '--json', good], {})).code, 0)
    const ok = await cli(['report', '--url', svc.url, '--results', good, '--job', 'shop-integrity', '--build', '7'], {
      KUBE_RECYCLER_WEBHOOK_SECRET: secret,
    })
    t.equal(ok.code, 0, ok.stderr)
    t.match(ok.stdout, `reporting 1 site to ${svc.url}/webhooks/jenkins (signed)`)
    t.match(ok.stdout, /^shop: accepted \(202\), action none, health healthy/m)
    t.match((await status()).sites[0], {
      name: 'shop',
      health: 'healthy',
      lastVerdict: {
        source: 'jenkins',
        ok: true,
        key: 'jenkins:shop-integrity#7@shop',
        summary: 'shop-integrity #7 SUCCESS',
      },
    })

    // Broken, with what Jenkins puts in the environment instead of --job/--build; the full webhook URL works too.
    site.set('broken')
    const bad = join(dir, 'bad.json')
    t.equal((await cli(['check', '--config', config, '--json', bad], {})).code, 1)
    const jenkinsEnv = {
      JOB_NAME: 'shop-integrity',
      BUILD_NUMBER: '8',
      BUILD_URL: 'https://jenkins.example/job/shop-integrity/8/',
      GIT_COMMIT: 'ABCDEF1234567',
    }
    const failing = await cli(['report', '--url', `${svc.url}/webhooks/jenkins/`, '--results', bad], {
      ...jenkinsEnv,
      KUBE_RECYCLER_WEBHOOK_SECRET: secret,
    })
    t.equal(failing.code, 0, failing.stderr)
    t.match(failing.stdout, /^shop: accepted \(202\), action planned, health failing/m)
    t.match(failing.stdout, /^ {2}recycle \S+: \S+ \(dry-run\)/m)
    t.match((await status()).sites[0], {
      health: 'failing',
      lastVerdict: {
        ok: false,
        key: 'jenkins:shop-integrity#8@shop',
        ref: jenkinsEnv.BUILD_URL,
        commit: 'abcdef1234567',
        summary: 'shop-integrity #8 FAILURE: home, health failed',
        checks: [
          { name: 'home', ok: false, status: 500, message: /^expected status 200-299, got 500/ },
          { name: 'health', ok: false },
        ],
      },
    })

    // The same build again: the service acts once.
    const again = await cli(['report', '--url', svc.url, '--results', bad], {
      ...jenkinsEnv,
      KUBE_RECYCLER_WEBHOOK_SECRET: secret,
    })
    t.equal(again.code, 0)
    t.match(again.stdout, 'action duplicate')

    // --status overrides; the bearer token when there is no secret.
    const bearer = await cli(
      ['report', '--url', svc.url, '--results', bad, '--job', 'shop-integrity', '--build', '9', '--status', 'aborted'],
      { KUBE_RECYCLER_WEBHOOK_TOKEN: token },
    )
    t.equal(bearer.code, 0, bearer.stderr)
    t.match(bearer.stdout, '(bearer token)')
    t.match(
      bearer.stdout,
      /shop: accepted \(202\), action ignored, health failing - status ABORTED says nothing about the site/,
    )

    // A wrong secret: the server's code and message, non-zero.
    const wrong = await cli(
      ['report', '--url', svc.url, '--results', good, '--job', 'shop-integrity', '--build', '10'],
      { KUBE_RECYCLER_WEBHOOK_SECRET: 'not-the-secret' },
    )
    t.equal(wrong.code, 1)
    t.match(wrong.stderr, 'kube-recycler: shop: refused (401) KR_BAD_SIGNATURE: the signature does not match the body')
    t.match(
      (await status()).sites[0],
      { health: 'failing', lastVerdict: { key: 'jenkins:shop-integrity#8@shop' } },
      'the refused report changed nothing',
    )

    // Naming the site does not skip the job mapping (issue 11): a job outside the site's jenkins.jobs is refused. A wrong path: the server's 404.
    const job = await cli(
      ['report', '--url', svc.url, '--results', good, '--job', 'other-job', '--build', '1', '--site', 'shop'],
      { KUBE_RECYCLER_WEBHOOK_SECRET: secret },
    )
    t.equal(job.code, 1, "a job that is not the site's is refused")
    t.match(job.stderr, /shop: refused \(403\) KR_JOB_NOT_FOR_SITE: job "other-job" does not report for site "shop"/)
    const wrongPath = await cli(
      ['report', '--url', `${svc.url}/nope`, '--results', good, '--job', 'shop-integrity', '--build', '11'],
      { KUBE_RECYCLER_WEBHOOK_SECRET: secret },
    )
    t.equal(wrongPath.code, 1)
    t.match(wrongPath.stderr, /shop: refused \(404\)/)

    await svc.stop()
    const everything = [...outputs, svc.output(), ...args.flat(), svc.child.spawnargs.join(' ')].join('\n')
    t.notOk(everything.includes(secret), 'the secret is in no argument, no CLI output and no service log line')
    t.notOk(everything.includes(token), 'nor is the token')
  },
)

t.test('report: unreachable, silent or misused, it says why and exits non-zero', async (t) => {
  const results = join(dir, 'any.json')
  writeFileSync(
    results,
    JSON.stringify({
      version: 1,
      at: new Date().toISOString(),
      ok: true,
      sites: [{ site: 'shop', ok: true, at: new Date().toISOString(), checks: [{ name: 'home', ok: true }] }],
    }),
  )
  const env = { KUBE_RECYCLER_WEBHOOK_SECRET: 'x-secret-for-errors', JOB_NAME: 'shop-integrity', BUILD_NUMBER: '3' }

  // A port nobody listens on.
  const free = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
  const refused = await runCli(['report', '--url', `http://127.0.0.1:${free}`, '--results', results], env)
  t.equal(refused.code, 1)
  t.match(
    refused.stderr,
    `kube-recycler: shop: not sent: cannot reach 127.0.0.1:${free}: connection refused (is the service running?)`,
  )

  // A server that never answers: bounded by --timeout.
  const hang = await startSite({ mode: 'hang' })
  t.teardown(() => hang.close())
  const started = Date.now()
  const silent = await runCli(['report', '--url', hang.origin, '--results', results, '--timeout', '500ms'], env)
  t.equal(silent.code, 1)
  t.match(silent.stderr, `not sent: no answer from 127.0.0.1:${hang.port} within 500 ms`)
  // Bounded: a process start plus the 500 ms (generous for a busy machine; without a bound it never returns).
  t.ok(Date.now() - started < 30_000, `gave up after ${Date.now() - started} ms`)

  // Usage mistakes are covered in test/unit/cli-report.test.ts; here one, through the real process.
  const misuse = await runCli(['report', '--url', 'http://127.0.0.1:1', '--results', results, '--secret', 'abc'], env)
  t.equal(misuse.code, 2)
  t.match(misuse.stderr, 'kube-recycler report: secrets are never arguments')
  t.notOk(misuse.stderr.includes('abc'))
})

t.test('report: several sites in one file are one POST each', async (t) => {
  const secret = 'multi-site-secret-0c9d8e'
  const a = await startSite()
  const b = await startSite({ mode: 'broken' })
  t.teardown(() => Promise.all([a.close(), b.close()]))
  // One job checks both sites: each site lists it (a named site is accepted only from its own jobs).
  const config = writeConfig('multi.yaml', [
    { name: 'shop', site: a, job: 'integrity' },
    { name: 'blog', site: b, job: 'integrity' },
  ])
  const svc = await startService({
    env: { KUBE_RECYCLER_WEBHOOK_SECRET: secret, KUBE_RECYCLER_CONFIG: config },
    timeoutMs: SERVICE_START_MS,
  })
  t.teardown(() => svc.stop('SIGKILL'))
  const results = join(dir, 'multi.json')
  t.equal((await runCli(['check', '--config', config, '--json', results])).code, 1)
  const r = await runCli(['report', '--url', svc.url, '--results', results, '--job', 'integrity', '--build', '1'], {
    KUBE_RECYCLER_WEBHOOK_SECRET: secret,
  })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, 'reporting 2 sites')
  t.match(r.stdout, /^shop: accepted \(202\), action none, health healthy/m)
  t.match(r.stdout, /^blog: accepted \(202\)/m, 'the second site reaches the service too')
  // Regression: the delivery key once lacked the site, so the second site of
  // one build was answered `duplicate` and never acted on.
  t.match(r.stdout, /^blog: accepted \(202\), action planned, health failing/m)
})
