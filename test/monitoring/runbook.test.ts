// Every alert links its runbook: `runbook_url` on each rule of
// charts/kube-recycler/files/alerts.yaml names a file of this repository
// (on the chart's home) and an anchor that GitHub makes for a heading of that
// file, the heading being the alert's own name; and the runbook has no
// section for an alert that no longer exists. No tool needed.

import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { CHART_DIR, ROOT } from '../../scripts/chart.ts'

interface Rule {
  alert?: string
  annotations?: Record<string, string>
}
const rules = (
  parseYaml(readFileSync(join(CHART_DIR, 'files', 'alerts.yaml'), 'utf8')) as { groups: Array<{ rules: Rule[] }> }
).groups
  .flatMap((g) => g.rules)
  .filter((r) => r.alert !== undefined)
const home = (parseYaml(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { home: string }).home

/** The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as `-`, repeats numbered. */
function anchors(markdown: string): Map<string, string> {
  const out = new Map<string, string>()
  const seen = new Map<string, number>()
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (/^```/.test(line)) fenced = !fenced
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (!m) continue
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.set(n === 0 ? base : `${base}-${n}`, m[1]!)
  }
  return out
}

t.test("the anchor function makes GitHub's anchors", async (t) => {
  t.same(
    [
      ...anchors(
        '# Runbook: the alerts\n## KubeRecyclerNoLeader\n```sh\n# not a heading\n```\n## A `code` word, and (more)\n## KubeRecyclerNoLeader\n',
      ).keys(),
    ],
    ['runbook-the-alerts', 'kuberecyclernoleader', 'a-code-word-and-more', 'kuberecyclernoleader-1'],
  )
})

t.test('every alert has a runbook_url whose anchor exists in the docs file', async (t) => {
  t.ok(rules.length >= 10, `${rules.length} alerts`)
  for (const r of rules) {
    const url = r.annotations?.runbook_url
    t.ok(url, `${r.alert} has a runbook_url`)
    const m = new RegExp(`^${home.replace(/[.]/g, '\\.')}/blob/main/(docs/[^#]+\\.md)#(.+)$`).exec(url ?? '')
    t.ok(m, `${r.alert}: ${url} is a file under docs/ on the chart's home (${home}), with an anchor`)
    if (!m) continue
    const file = join(ROOT, m[1]!)
    t.ok(existsSync(file), `${m[1]} exists`)
    if (!existsSync(file)) continue
    const heading = anchors(readFileSync(file, 'utf8')).get(m[2]!)
    t.equal(heading, r.alert, `#${m[2]} is the section headed ${r.alert}`)
  }
})

t.test('each runbook section belongs to an alert and says what to do', async (t) => {
  const text = readFileSync(join(ROOT, 'docs', 'runbook.md'), 'utf8')
  const sections = text
    .split(/^## /m)
    .slice(1)
    .map((s) => ({ name: s.split('\n', 1)[0]!.trim(), body: s }))
  t.same(sections.map((s) => s.name).sort(), rules.map((r) => r.alert!).sort(), 'one section per alert, no other')
  for (const s of sections) {
    for (const part of ['**Means:**', '**Look at:**', '**Do:**']) t.ok(s.body.includes(part), `${s.name}: ${part}`)
  }
})
