// The chart's site Role follows the ladder as `kube-recycler rbac` does: pod
// delete where a site's ladder has a delete rung, and only there.

import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { siteRules } from '../../src/cli/rbac.ts'
import { parseConfig } from '../../src/config/load.ts'
import { render } from '../fixtures/chart.ts'
import { toolPath } from '../fixtures/tools.ts'

const SITES = `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    checks: [{ name: home, url: "http://shop.test/", perPod: true }]
    recycle: { ladder: [replace-pods, delete] }
  - name: blog
    target: { kind: Deployment, namespace: blog, name: web }
`

t.test("a delete rung: the chart's Role in that namespace may delete pods, as `kube-recycler rbac` says", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kr-ladder-chart-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const values = join(dir, 'values.yaml')
  writeFileSync(values, JSON.stringify({ config: { sites: parse(SITES).sites } }))
  const objs = render(toolPath('helm'), ['-f', values])
  const role = (ns: string) =>
    (objs.find((o) => o.kind === 'Role' && o.metadata.namespace === ns)?.rules as any[]).find(
      (r) => r.resources[0] === 'pods',
    )?.verbs
  const config = parseConfig(SITES)
  for (const ns of ['shop', 'blog'])
    t.same(role(ns), siteRules(config, ns).find((r) => r.resources[0] === 'pods')?.verbs, `${ns}: the same pod verbs`)
  t.same(role('shop'), ['delete', 'get', 'list'])
  t.same(role('blog'), ['get', 'list'])
})
