// The config loader: every bad field is named by its path with what was
// expected, all problems are reported together, and good files normalize.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { ConfigError, EXAMPLE_CONFIG_PATH, loadConfigFile, parseConfig } from '../../src/config/load.ts'
import { parseDuration } from '../../src/config/duration.ts'

const site = (extra: string) => `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
${extra}`

const rows: { name: string; yaml: string; errors: RegExp[] }[] = [
  { name: 'not YAML', yaml: 'sites: [\n  - : :', errors: [/\(file\): not valid YAML/] },
  { name: 'empty file', yaml: '', errors: [/\(root\): must be a mapping with a `sites` list/] },
  { name: 'a list at the root', yaml: '- a\n- b', errors: [/\(root\): must be a mapping/] },
  { name: 'no sites', yaml: 'service: {}', errors: [/^sites: is required$/] },
  { name: 'empty sites', yaml: 'sites: []', errors: [/^sites: must have at least 1 item/] },
  { name: 'unknown top-level key', yaml: site('') + 'extras: 1\n', errors: [/^extras: unknown field$/] },
  {
    name: 'site name with capitals',
    yaml: 'sites:\n  - name: Shop\n    target: { namespace: shop, name: web }',
    errors: [/^sites\[0\]\.name: must match/],
  },
  { name: 'missing target', yaml: 'sites:\n  - name: shop', errors: [/^sites\[0\]\.target: is required$/] },
  {
    name: 'unknown kind',
    yaml: 'sites:\n  - name: shop\n    target: { kind: Pod, namespace: shop, name: web }',
    errors: [/^sites\[0\]\.target\.kind: must be one of "Deployment", "StatefulSet", "DaemonSet"$/],
  },
  {
    name: 'target without name or selector',
    yaml: 'sites:\n  - name: shop\n    target: { namespace: shop }',
    errors: [/^sites\[0\]\.target: must name a workload/],
  },
  {
    name: 'target with both name and selector',
    yaml: 'sites:\n  - name: shop\n    target: { namespace: shop, name: web, selector: { app: web } }',
    errors: [/^sites\[0\]\.target: give either kind\+name or selector/],
  },
  {
    name: 'rollout with a selector',
    yaml: 'sites:\n  - name: shop\n    target: { namespace: shop, selector: { app: web } }',
    errors: [/^sites\[0\]\.recycle\.strategy: "rollout" needs a named workload target/],
  },
  {
    name: 'check url relative',
    yaml: site('    checks:\n      - { name: home, url: /health }'),
    errors: [/^sites\[0\]\.checks\[0\]\.url: must be an absolute http\(s\) URL$/],
  },
  {
    name: 'check url ftp',
    yaml: site('    checks:\n      - { name: home, url: "ftp://x/" }'),
    errors: [/^sites\[0\]\.checks\[0\]\.url: must be an absolute http\(s\) URL$/],
  },
  {
    name: 'check url a number',
    yaml: site('    checks:\n      - { name: home, url: 3 }'),
    errors: [/^sites\[0\]\.checks\[0\]\.url: must be a string$/],
  },
  {
    name: 'bad timeout',
    yaml: site('    checks:\n      - { name: home, url: "http://x/", timeout: soon }'),
    errors: [/^sites\[0\]\.checks\[0\]\.timeout: must be a duration like "90s"/],
  },
  {
    name: 'maxLatency beyond timeout',
    yaml: site('    checks:\n      - { name: home, url: "http://x/", timeout: 1s, maxLatency: 2s }'),
    errors: [/^sites\[0\]\.checks\[0\]\.maxLatency: must not exceed timeout/],
  },
  {
    name: 'bad expectStatus',
    yaml: site('    checks:\n      - { name: home, url: "http://x/", expectStatus: [200, "6xx"] }'),
    errors: [/^sites\[0\]\.checks\[0\]\.expectStatus\[1\]: must be a status/],
  },
  {
    name: 'bad regex',
    yaml: site('    checks:\n      - { name: home, url: "http://x/", bodyMatches: "(" }'),
    errors: [/^sites\[0\]\.checks\[0\]\.bodyMatches: not a valid regular expression/],
  },
  {
    name: 'duplicate check names',
    yaml: site('    checks:\n      - { name: home, url: "http://x/" }\n      - { name: home, url: "http://y/" }'),
    errors: [/^sites\[0\]\.checks\[1\]\.name: duplicate check name "home"/],
  },
  {
    name: 'unknown check field',
    yaml: site('    checks:\n      - { name: home, url: "http://x/", retries: 3 }'),
    errors: [/^sites\[0\]\.checks\[0\]\.retries: unknown field$/],
  },
  {
    name: 'bad cron',
    yaml: site('    schedule: "every hour"\n    checks:\n      - { name: home, url: "http://x/" }'),
    errors: [/^sites\[0\]\.schedule: not a valid cron expression/],
  },
  {
    name: 'schedule without checks',
    yaml: site('    schedule: "0 * * * *"'),
    errors: [/^sites\[0\]\.schedule: needs at least one entry in checks/],
  },
  {
    name: 'unknown timezone',
    yaml: site('    timezone: Mars/Olympus'),
    errors: [/^sites\[0\]\.timezone: unknown time zone "Mars\/Olympus"/],
  },
  {
    name: 'unknown strategy',
    yaml: site('    recycle: { strategy: nuke }'),
    errors: [/^sites\[0\]\.recycle\.strategy: must be one of "rollout", "evict", "delete"$/],
  },
  {
    name: 'cooldown not a duration',
    yaml: site('    recycle: { cooldown: "ten minutes" }'),
    errors: [/^sites\[0\]\.recycle\.cooldown: must be a duration/],
  },
  {
    name: 'maxPerWindow zero',
    yaml: site('    recycle: { maxPerWindow: 0 }'),
    errors: [/^sites\[0\]\.recycle\.maxPerWindow: must be >= 1$/],
  },
  {
    name: 'bad commitEnv',
    yaml: site('    recycle: { commitEnv: "SITE-COMMIT" }'),
    errors: [/^sites\[0\]\.recycle\.commitEnv: must match/],
  },
  {
    name: 'unknown failing status',
    yaml: site('    jenkins: { failingStatuses: [BROKEN] }'),
    errors: [/^sites\[0\]\.jenkins\.failingStatuses\[0\]: must be one of/],
  },
  {
    name: 'duplicate site names',
    yaml: 'sites:\n  - name: a\n    target: { namespace: a, name: w }\n  - name: a\n    target: { namespace: b, name: w }',
    errors: [/^sites\[1\]\.name: duplicate site name "a" \(also sites\[0\]\)/],
  },
  {
    name: 'git repo with credentials',
    yaml: site('    git: { repo: "https://u:p@git.example/x.git" }'),
    errors: [/^sites\[0\]\.git\.repo: must not contain credentials/],
  },
  {
    name: 'git repo not a URL',
    yaml: site('    git: { repo: "git@host:x.git" }'),
    errors: [/^sites\[0\]\.git\.repo: must be an http\(s\) URL/],
  },
  {
    name: 'service.bodyLimit too small',
    yaml: 'service: { bodyLimit: 10 }\n' + site(''),
    errors: [/^service\.bodyLimit: must be >= 1024$/],
  },
  {
    name: 'service.dryRun a string',
    yaml: 'service: { dryRun: "yes" }\n' + site(''),
    errors: [/^service\.dryRun: must be a boolean$/],
  },
  {
    name: 'failureThreshold a string',
    yaml: site('    failureThreshold: two'),
    errors: [/^sites\[0\]\.failureThreshold: must be an integer$/],
  },
]

t.test('bad config table', async (t) => {
  for (const row of rows) {
    try {
      parseConfig(row.yaml, 'test.yaml')
      t.fail(`${row.name}: should fail`)
    } catch (e) {
      t.type(e, ConfigError, row.name)
      const problems = (e as ConfigError).problems
      for (const re of row.errors)
        t.ok(
          problems.some((p) => re.test(p)),
          `${row.name}: ${re} in ${JSON.stringify(problems)}`,
        )
    }
  }
})

t.test('structural problems are reported together; meaning checks wait for a sound structure', async (t) => {
  const yaml = `
sites:
  - name: shop
    target: { kind: Pod, namespace: shop, name: web }
    checks:
      - { name: home, url: 7 }
  - name: blog
    target: { namespace: blog, name: web }
    checks:
      - { name: a, url: "http://x/" }
      - { name: b, url: "nope" }
`
  const err = t.throws(() => parseConfig(yaml, 'x.yaml')) as unknown as ConfigError
  t.match(err.message, /invalid configuration in x\.yaml/)
  t.ok(err.problems.includes('sites[0].target.kind: must be one of "Deployment", "StatefulSet", "DaemonSet"'))
  t.ok(err.problems.includes('sites[0].checks[0].url: must be a string'))
  // Meaning checks run once the structure is right; the URL check is in that pass.
  t.equal(err.problems.length, 2)
  const sound = yaml.replace('kind: Pod', 'kind: Deployment').replace('url: 7', 'url: "http://x/"')
  const next = t.throws(() => parseConfig(sound, 'x.yaml')) as unknown as ConfigError
  t.same(
    next.problems.map((p) => p.split(':')[0]),
    ['sites[1].checks[1].url'],
    JSON.stringify(next.problems),
  )
})

t.test('defaults fill in and durations normalize', async (t) => {
  const c = parseConfig(`
defaults:
  failureThreshold: 3
  recycle: { cooldown: 5m }
sites:
  - name: shop
    target: { namespace: shop, name: web }
    schedule: "*/5 * * * *"
    checks:
      - { name: home, url: "https://shop.example/", timeout: 1500ms, expectStatus: ["2xx", 301], maxLatency: 1s }
    recycle: { strategy: rollout, window: 1h }
`)
  const s = c.sites[0]!
  t.same(s.target, { kind: 'Deployment', namespace: 'shop', name: 'web' })
  t.equal(s.failureThreshold, 3)
  t.equal(s.recycle.cooldownMs, 300_000)
  t.equal(s.recycle.windowMs, 3_600_000)
  t.equal(s.checks[0]!.timeoutMs, 1500)
  t.same(s.checks[0]!.expectStatus, [
    { min: 200, max: 299 },
    { min: 301, max: 301 },
  ])
  t.same(s.schedule, { cron: '*/5 * * * *' })
  t.same(s.jenkins.failingStatuses, ['FAILURE', 'UNSTABLE'])
  t.equal(c.service.bodyLimitBytes, 262144)
})

t.test('the example config is valid', async (t) => {
  const c = loadConfigFile(EXAMPLE_CONFIG_PATH)
  // Every site written in the example is loaded, none dropped or invented.
  const written = [...readFileSync(EXAMPLE_CONFIG_PATH, 'utf8').matchAll(/^ {2}- name: (\S+)/gm)].map((m) => m[1])
  t.ok(written.length > 0, 'the example names sites')
  t.same(
    c.sites.map((s) => s.name),
    written,
  )
  t.match(readFileSync(EXAMPLE_CONFIG_PATH, 'utf8'), /KUBE_RECYCLER_WEBHOOK_SECRET/)
})

t.test('a missing file is named', async (t) => {
  const err = t.throws(() => loadConfigFile('/nonexistent/kr.yaml')) as unknown as ConfigError
  t.match(err.message, /\/nonexistent\/kr\.yaml/)
  t.match(err.problems[0], /cannot be read \(ENOENT\)/)
})

t.test('durations', async (t) => {
  t.equal(parseDuration('90s'), 90_000)
  t.equal(parseDuration('1h30m'), 5_400_000)
  t.equal(parseDuration('250ms'), 250)
  t.equal(parseDuration('1500'), 1500)
  t.equal(parseDuration(42), 42)
  t.equal(parseDuration('1.5s'), 1500)
  t.equal(parseDuration('soon'), undefined)
  t.equal(parseDuration('10 m'), undefined)
  t.equal(parseDuration(''), undefined)
  t.equal(parseDuration(-1), undefined)
})
