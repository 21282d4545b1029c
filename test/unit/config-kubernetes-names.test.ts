// A site's target is named the way Kubernetes names objects: the workload
// a DNS-1123 subdomain, the namespace a DNS-1123 label, selector labels
// Kubernetes label keys and values. These go into API paths and selectors:
// a name with "/", "?" or "," must never reach them.

import t from 'tap'
import { ConfigError, parseConfig } from '../../src/config/load.ts'

const target = (tgt: string) => `sites:\n  - name: shop\n    target: ${tgt}\n    recycle: { strategy: evict }\n`

const BAD: { name: string; target: string; error: RegExp }[] = [
  {
    name: 'a path in the name',
    target: '{ namespace: shop, name: "web/../../secrets" }',
    error: /^sites\[0\]\.target\.name: must be a Kubernetes object name \(DNS-1123 subdomain/,
  },
  {
    name: 'a query in the name',
    target: '{ namespace: shop, name: "web?watch=1" }',
    error: /^sites\[0\]\.target\.name: must be a Kubernetes object name/,
  },
  {
    name: 'capitals',
    target: '{ namespace: shop, name: Web }',
    error: /^sites\[0\]\.target\.name: must be a Kubernetes object name/,
  },
  {
    name: 'a leading dash',
    target: '{ namespace: shop, name: -web }',
    error: /^sites\[0\]\.target\.name: must be a Kubernetes object name/,
  },
  {
    name: 'a comma (a second field selector)',
    target: '{ namespace: shop, name: "web,metadata.namespace=kube-system" }',
    error: /^sites\[0\]\.target\.name: must be a Kubernetes object name/,
  },
  {
    name: 'a namespace with a slash',
    target: '{ namespace: "shop/x", name: web }',
    error: /^sites\[0\]\.target\.namespace: must match/,
  },
  {
    name: 'a selector value with a comma',
    target: '{ namespace: shop, selector: { app: "web,tier!=db" } }',
    error: /^sites\[0\]\.target\.selector\.app: must be a Kubernetes label value/,
  },
  {
    name: 'a selector key with a space',
    target: '{ namespace: shop, selector: { "my app": web } }',
    error: /^sites\[0\]\.target\.selector\["my app"\]: must be a Kubernetes label key/,
  },
]

for (const row of BAD) {
  t.test(`refused: ${row.name}`, async (t) => {
    const e = (() => {
      try {
        parseConfig(target(row.target), 'test.yaml')
        return undefined
      } catch (err) {
        return err
      }
    })()
    t.type(e, ConfigError, 'the config is refused')
    const problems = (e as ConfigError | undefined)?.problems ?? []
    t.ok(
      problems.some((p) => row.error.test(p)),
      `${row.error} in ${JSON.stringify(problems)}`,
    )
  })
}

const GOOD = [
  '{ namespace: shop, name: web }',
  '{ namespace: shop, name: web.v2-blue }',
  `{ namespace: shop, name: ${'a'.repeat(253)} }`,
  '{ namespace: shop, selector: { app: web, "app.kubernetes.io/name": shop, tier: "" } }',
]
for (const tgt of GOOD) {
  t.test(`accepted: ${tgt.slice(0, 60)}`, async (t) => {
    t.doesNotThrow(() => parseConfig(target(tgt), 'test.yaml'))
  })
}
