// `kube-recycler rbac`: least-privilege site Roles derived from the config
// (issue 11, point 7). The cluster side (what the API server allows and
// denies with these Roles) is test/integration/rbac.test.ts.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { parseConfig, loadConfigFile } from '../../src/config/load.ts'
import { ownRbac, ownRules, rbacCommand, siteRbac, siteRules } from '../../src/cli/rbac.ts'
import { ROOT } from '../fixtures/process.ts'

const CONFIG = `
service: { namespace: ops }
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
  - name: shop-db
    target: { kind: StatefulSet, namespace: shop, name: db }
  - name: shop-api
    target: { kind: Deployment, namespace: shop, name: api }
    recycle: { strategy: evict }
  - name: legacy
    target: { kind: DaemonSet, namespace: legacy, name: agent }
    recycle: { strategy: delete }
  - name: pool
    target: { namespace: pool, selector: { app: pool } }
    recycle: { strategy: evict }
`

t.test('named workloads only; pod delete only where a site deletes', async (t) => {
  const c = parseConfig(CONFIG)
  t.same(siteRules(c, 'shop'), [
    {
      apiGroups: ['apps'],
      resources: ['deployments'],
      resourceNames: ['api', 'web'],
      verbs: ['get', 'patch', 'watch'],
    },
    { apiGroups: ['apps'], resources: ['statefulsets'], resourceNames: ['db'], verbs: ['get', 'patch', 'watch'] },
    { apiGroups: ['apps'], resources: ['controllerrevisions', 'replicasets'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  ])
  t.same(siteRules(c, 'legacy').slice(0, 1), [
    { apiGroups: ['apps'], resources: ['daemonsets'], resourceNames: ['agent'], verbs: ['get', 'patch', 'watch'] },
  ])
  t.same(
    siteRules(c, 'legacy').find((r) => r.resources[0] === 'pods')?.verbs,
    ['delete', 'get', 'list'],
    "the delete strategy's namespace may delete pods",
  )
  t.same(
    siteRules(c, 'pool')[0],
    { apiGroups: ['apps'], resources: ['daemonsets', 'deployments', 'statefulsets'], verbs: ['get', 'patch', 'watch'] },
    'a selector target: its owner is found at run time',
  )
  for (const ns of ['shop', 'legacy', 'pool']) {
    const rules = siteRules(c, ns)
    t.notOk(
      rules.some((r) => r.verbs.includes('update')),
      `${ns}: no update`,
    )
    t.same(
      rules.filter((r) => r.verbs.includes('create')).map((r) => r.resources),
      [['pods/eviction'], ['events']],
      `${ns}: create only evictions and events`,
    )
    t.notOk(
      siteRules(c, ns).some((r) => r.resources.some((x) => /secrets|configmaps/.test(x))),
      `${ns}: no Secrets or ConfigMaps`,
    )
  }
  const objs = siteRbac(c, 'ops')
  t.same(
    objs.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`),
    [
      'Role/shop/kube-recycler-site',
      'RoleBinding/shop/kube-recycler-site',
      'Role/legacy/kube-recycler-site',
      'RoleBinding/legacy/kube-recycler-site',
      'Role/pool/kube-recycler-site',
      'RoleBinding/pool/kube-recycler-site',
    ],
  )
  t.same(objs[1]!.subjects, [{ kind: 'ServiceAccount', name: 'kube-recycler', namespace: 'ops' }])
})

t.test(
  'its own namespace: the state ConfigMaps of the configured sites and the heartbeat by name, never another ConfigMap',
  async (t) => {
    const c = parseConfig(CONFIG)
    t.same(ownRules(c), [
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['kube-recycler'],
        verbs: ['get', 'update'],
      },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'list', 'watch'] },
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: [
          'kube-recycler-heartbeat',
          'kube-recycler-site-legacy',
          'kube-recycler-site-pool',
          'kube-recycler-site-shop',
          'kube-recycler-site-shop-api',
          'kube-recycler-site-shop-db',
        ],
        verbs: ['get', 'update'],
      },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ])
    const writes = ownRules(c).filter(
      (r) =>
        r.resources.includes('configmaps') &&
        r.verbs.some((v) => ['update', 'patch', 'delete', 'deletecollection', '*'].includes(v)),
    )
    t.ok(
      writes.length > 0 && writes.every((r) => r.resourceNames && !r.verbs.some((v) => v !== 'get' && v !== 'update')),
      'ConfigMaps are changed only by name, never patched or deleted',
    )
    t.same(
      ownRbac(c, 'ops').map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`),
      ['Role/ops/kube-recycler', 'RoleBinding/ops/kube-recycler'],
    )
  },
)

t.test('k8s/rbac/role.yaml is what `kube-recycler rbac` prints for k8s/config.yaml', async (t) => {
  const file = parse(readFileSync(join(ROOT, 'k8s', 'rbac', 'role.yaml'), 'utf8')) as { rules: unknown }
  t.same(file.rules, ownRules(loadConfigFile(join(ROOT, 'k8s', 'config.yaml'))))
})

t.test('k8s/rbac/site-role.yaml is what `kube-recycler rbac` prints for k8s/config.yaml', async (t) => {
  const file = parse(readFileSync(join(ROOT, 'k8s', 'rbac', 'site-role.yaml'), 'utf8')) as { rules: unknown }
  t.same(file.rules, siteRules(loadConfigFile(join(ROOT, 'k8s', 'config.yaml')), 'shop'))
})

t.test('the command prints YAML for kubectl apply, and names a bad config', async (t) => {
  const out: string[] = []
  const err: string[] = []
  const ctx = (args: string[]) => ({
    args,
    env: {},
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
  })
  t.equal(await rbacCommand(ctx(['--config', join(ROOT, 'k8s', 'config.yaml'), '--service-namespace', 'ops'])), 0)
  const docs = out
    .join('')
    .split(/^---$/m)
    .map((d) => parse(d))
  t.same(
    docs.map((d) => `${d.kind}/${d.metadata.namespace}/${d.metadata.name}`),
    [
      'Role/ops/kube-recycler',
      'RoleBinding/ops/kube-recycler',
      'Role/shop/kube-recycler-site',
      'RoleBinding/shop/kube-recycler-site',
    ],
    'its own namespace first, then each site namespace',
  )
  t.same(docs[2].rules, siteRules(loadConfigFile(join(ROOT, 'k8s', 'config.yaml')), 'shop'))
  t.equal(docs[1].subjects[0].namespace, 'ops')
  t.equal(docs[3].subjects[0].namespace, 'ops')
  t.equal(await rbacCommand(ctx(['--config', join(ROOT, 'package.json')])), 2)
  t.match(err.join(''), /invalid configuration/)
  await t.rejects(rbacCommand(ctx([])), { name: 'UsageError', message: /--config FILE is required/ })
})
