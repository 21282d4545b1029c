// The monitoring contract, checked with Prometheus' own promtool (built by
// test/cluster/tools.sh): the service's real /metrics output passes
// `promtool check metrics`; the alert rules pass `promtool check rules` and
// their unit tests (`promtool test rules`, alerts.test.yaml), one test group
// or more per alert; and every metric name that the rules and the Grafana
// dashboard query is one the service registers.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { CHART_DIR } from '../../scripts/chart.ts'
import { createMetrics } from '../../src/status/metrics.ts'
import { SECRETS, testApp } from '../fixtures/app.ts'
import { toolPath } from '../fixtures/tools.ts'

const promtool = toolPath('promtool')
const HERE = fileURLToPath(new URL('.', import.meta.url))
const RULES = join(CHART_DIR, 'files', 'alerts.yaml')
const DASHBOARD = join(CHART_DIR, 'files', 'dashboard.json')

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>
}
const rules = parseYaml(readFileSync(RULES, 'utf8')) as RuleFile

t.test('promtool check rules', async (t) => {
  const r = spawnSync(promtool, ['check', 'rules', RULES], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /SUCCESS: 13 rules found/)
})

t.test("promtool test rules: the alert rules' unit tests pass", async (t) => {
  const r = spawnSync(promtool, ['test', 'rules', 'alerts.test.yaml'], { cwd: HERE, encoding: 'utf8' })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /SUCCESS/)
})

t.test('every alert has a unit test that expects it to fire', async (t) => {
  const tests = parseYaml(readFileSync(join(HERE, 'alerts.test.yaml'), 'utf8')) as {
    tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>
  }
  const firing = new Set(
    tests.tests.flatMap((x) => x.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)),
  )
  const silent = new Set(
    tests.tests.flatMap((x) => x.alert_rule_test.filter((a) => a.exp_alerts.length === 0).map((a) => a.alertname)),
  )
  for (const alert of rules.groups.flatMap((g) => g.rules.map((r) => r.alert!))) {
    t.ok(firing.has(alert), `${alert} is expected to fire somewhere`)
    t.ok(silent.has(alert), `${alert} is expected to stay silent somewhere`)
  }
})

t.test("promtool check metrics: the service's /metrics, with every family observed", async (t) => {
  const h = await testApp({ extra: { defaultMetrics: true } })
  t.teardown(() => h.app.close())
  const body = JSON.stringify({ job: 'shop-integrity', build: 1, status: 'FAILURE' })
  t.equal(
    (await h.app.inject({ method: 'POST', url: '/webhooks/jenkins', headers: h.signed(body), payload: body }))
      .statusCode,
    202,
  )
  t.equal(
    (
      await h.app.inject({
        method: 'POST',
        url: '/webhooks/jenkins',
        headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
        payload: body,
      })
    ).statusCode,
    401,
  )
  t.equal(
    (
      await h.app.inject({
        method: 'POST',
        url: '/recycle',
        headers: { authorization: `Bearer ${SECRETS.recycleToken}` },
        payload: { site: 'shop', reason: 'promtool', dryRun: true },
      })
    ).statusCode,
    202,
  )
  h.app.core.metrics.probeSeconds.observe({ site: 'shop', check: 'home' }, 0.02)
  const res = await h.app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  for (const family of [
    'kube_recycler_build_info',
    'kube_recycler_http_request_duration_seconds_bucket',
    'kube_recycler_auth_failures_total',
    'kube_recycler_verdicts_total',
    'kube_recycler_recycles_total',
    'kube_recycler_leader',
    'kube_recycler_probe_duration_seconds_bucket',
    'process_cpu_seconds_total',
    'nodejs_heap_size_used_bytes',
  ]) {
    t.match(res.body, new RegExp(`^${family}[{ ]`, 'm'), `${family} has samples`)
  }
  const r = spawnSync(promtool, ['check', 'metrics'], { input: res.body, encoding: 'utf8' })
  t.equal(r.status, 0, 'promtool exits 0')
  t.equal((r.stdout + r.stderr).trim(), '', 'and reports no problem')
})

t.test('a metric that breaks the conventions fails promtool check metrics (the check really looks)', async (t) => {
  const bad =
    '# HELP kube_recycler_recycles A counter without _total\n# TYPE kube_recycler_recycles counter\nkube_recycler_recycles 1\n'
  const r = spawnSync(promtool, ['check', 'metrics'], { input: bad, encoding: 'utf8' })
  t.not(r.status, 0)
  t.match(r.stdout + r.stderr, /_total/)
})

// ------------------------------------------------ names used vs names exported

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
  'le',
])

/** Metric names an expression selects: identifiers outside strings, label matchers, groupings and ranges, that are not function calls. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
  const names = new Set<string>()
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = stripped.slice(m.index + m[0].length).trimStart()
    if (after.startsWith('(')) continue
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue
    names.add(m[0])
  }
  return [...names]
}

function exportedNames(): Set<string> {
  const metrics = createMetrics({ defaultMetrics: true })
  const names = new Set<string>()
  for (const m of metrics.registry.getMetricsAsArray()) {
    const { name, type } = m as unknown as { name: string; type: string }
    names.add(name)
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s)
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s)
  }
  return names
}

function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Array<{ targets?: Array<{ expr: string }> }>
    templating: { list: Array<{ query?: unknown }> }
  }
  const exprs = d.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr))
  for (const v of d.templating.list) {
    const q = typeof v.query === 'object' && v.query !== null ? (v.query as { query?: string }).query : undefined
    const m = q ? /^label_values\((.*),\s*\w+\)$/.exec(q) : null
    if (m) exprs.push(m[1]!)
  }
  return exprs
}

t.test('the name extractor finds the selected metrics and nothing else', async (t) => {
  t.same(
    metricNames(
      'histogram_quantile(0.95, sum by (le, route) (rate(kube_recycler_http_request_duration_seconds_bucket{namespace="$namespace"}[$__rate_interval])))',
    ),
    ['kube_recycler_http_request_duration_seconds_bucket'],
  )
  t.same(
    metricNames(
      'sum by (namespace) (increase(a_total{route="/x"}[30m])) > 0 or sum by (namespace) (b_total) > 0',
    ).sort(),
    ['a_total', 'b_total'],
  )
  t.same(metricNames('time() - max by (site) (kube_recycler_last_report_timestamp_seconds{site=~"$site"})'), [
    'kube_recycler_last_report_timestamp_seconds',
  ])
  t.same(
    metricNames('process_resident_memory_bytes{pod=~".+"} and on (namespace, pod) kube_recycler_build_info').sort(),
    ['kube_recycler_build_info', 'process_resident_memory_bytes'],
  )
})

t.test('the rules and the dashboard query only metrics the service exports', async (t) => {
  const exported = exportedNames()
  const used = new Map<string, string>()
  for (const r of rules.groups.flatMap((g) => g.rules))
    for (const n of metricNames(r.expr)) used.set(n, `rule ${r.alert}`)
  for (const e of dashboardExprs()) for (const n of metricNames(e)) used.set(n, 'the dashboard')
  t.ok(used.size >= 15, `many names are checked (${used.size})`)
  for (const [name, where] of used) t.ok(exported.has(name), `${name} (${where}) is exported by the service`)
  t.notOk(exported.has('kube_recycler_no_such_metric'), 'and a made-up name is not')
})
