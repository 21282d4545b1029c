// The engine runs as kube-recycler's ServiceAccount with exactly the Roles
// kube-recycler ships: a token from the TokenRequest API, not cluster admin.
// The site Roles are what `kube-recycler rbac` generates from the config
// (k8s/rbac/site-role.yaml is its output for k8s/config.yaml, see
// test/unit/rbac.test.ts). Every call the engine makes is allowed, and every
// other workload in the namespace is denied (issue 11, point 7).

import t from 'tap'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { clusterState, freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployment, realEngine, runOnce, siteFor } from '../fixtures/engine.ts'
import { ROOT } from '../fixtures/process.ts'
import { parseConfig } from '../../src/config/load.ts'
import { siteRbac } from '../../src/cli/rbac.ts'

function manifest(file: string): any {
  return parseAllDocuments(readFileSync(join(ROOT, 'k8s', 'rbac', file), 'utf8')).map((d) => d.toJSON())[0]
}

const apply = (namespace: string, obj: unknown) =>
  kubectl(['apply', '-f', '-'], { namespace, input: JSON.stringify(obj) })

t.test('the ServiceAccount can do exactly what the engine needs, on the named workloads only', async (t) => {
  const sys = await freshNamespace('krsys')
  const site = await freshNamespace('krsite')
  const del = await freshNamespace('krdel')
  const other = await freshNamespace('krother')
  t.teardown(async () => {
    await sys.cleanup()
    await site.cleanup()
    await del.cleanup()
    await other.cleanup()
  })

  // The config: a rollout/evict site on Deployment web, a delete site on Deployment api elsewhere.
  const config = parseConfig(`
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${site.name}, name: web }
  - name: legacy
    target: { kind: Deployment, namespace: ${del.name}, name: api }
    recycle: { strategy: delete }
`)
  await apply(sys.name, manifest('serviceaccount.yaml'))
  await apply(sys.name, manifest('role.yaml'))
  const ownBinding = manifest('rolebinding.yaml')
  ownBinding.subjects[0].namespace = sys.name
  await apply(sys.name, ownBinding)
  for (const obj of siteRbac(config, sys.name)) await apply(obj.metadata.namespace, obj)

  // The named workloads, and others beside them that must stay out of reach.
  for (const [ns, name] of [
    [site.name, 'web'],
    [site.name, 'other-web'],
    [del.name, 'api'],
    [other.name, 'web'],
  ] as const) {
    await kubectl(['apply', '-f', '-'], { namespace: ns, input: deployment(name, 2) })
  }
  await kubectl(['create', 'secret', 'generic', 'db', '--from-literal=password=hunter2'], { namespace: site.name })
  for (const [ns, name] of [
    [site.name, 'web'],
    [site.name, 'other-web'],
    [del.name, 'api'],
  ] as const) {
    await waitFor(
      async () => (await kubectlJson(['get', 'deployment', name], { namespace: ns })).status?.readyReplicas === 2,
      { timeoutMs: 60_000 },
    )
  }

  const token = (await kubectl(['create', 'token', 'kube-recycler', '--duration=10m'], { namespace: sys.name })).trim()
  t.match(token, /^ey/, 'TokenRequest returned a JWT')
  const who = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { token })
  t.equal(who, `system:serviceaccount:${sys.name}:kube-recycler`)

  const can = async (args: string[]) =>
    (await kubectl(['auth', 'can-i', ...args], { token }).catch((e: { stdout?: string }) => e.stdout ?? '')).trim()
  const s = site.name
  const yes: string[][] = [
    // every call the engine and the strategies make
    ['get', 'deployments/web', '-n', s],
    ['patch', 'deployments/web', '-n', s],
    ['watch', 'deployments/web', '-n', s],
    ['get', 'replicasets', '-n', s],
    ['list', 'replicasets', '-n', s],
    ['get', 'controllerrevisions', '-n', s],
    ['list', 'controllerrevisions', '-n', s],
    ['get', 'pods', '-n', s],
    ['list', 'pods', '-n', s],
    ['create', 'pods', '--subresource=eviction', '-n', s],
    ['create', 'events', '-n', s],
    ['get', 'deployments/api', '-n', del.name],
    ['patch', 'deployments/api', '-n', del.name],
    ['delete', 'pods', '-n', del.name],
    // its own namespace: the Lease, the state ConfigMaps, Events
    ['get', 'leases/kube-recycler', '-n', sys.name],
    ['update', 'leases/kube-recycler', '-n', sys.name],
    ['create', 'leases', '-n', sys.name],
    ...['list', 'watch', 'create'].map((v) => [v, 'configmaps', '-n', sys.name]),
    ['get', 'configmaps/kube-recycler-site-shop', '-n', sys.name],
    ['update', 'configmaps/kube-recycler-site-shop', '-n', sys.name],
    ['create', 'events', '-n', sys.name],
  ]
  const no: string[][] = [
    // every other workload in the site namespace
    ['get', 'deployments/other-web', '-n', s],
    ['patch', 'deployments/other-web', '-n', s],
    ['watch', 'deployments/other-web', '-n', s],
    ['list', 'deployments', '-n', s],
    ['watch', 'deployments', '-n', s],
    ['patch', 'deployments', '-n', s],
    ['patch', 'statefulsets/web', '-n', s],
    ['patch', 'daemonsets/web', '-n', s],
    ['get', 'statefulsets/db', '-n', s],
    ['patch', 'daemonsets/agent', '-n', s],
    ['update', 'deployments/web', '-n', s],
    ['delete', 'deployments/web', '-n', s],
    ['create', 'deployments', '-n', s],
    ['patch', 'replicasets', '-n', s],
    ['delete', 'replicasets', '-n', s],
    ['patch', 'controllerrevisions', '-n', s],
    // pod delete only where a site uses the delete strategy
    ['delete', 'pods', '-n', s],
    ['create', 'pods', '-n', s],
    ['patch', 'pods', '-n', s],
    ['create', 'pods', '--subresource=exec', '-n', s],
    ['get', 'pods', '--subresource=log', '-n', s],
    ['patch', 'deployments/web', '-n', del.name],
    ['get', 'deployments/web', '-n', del.name],
    ['get', 'secrets', '-n', s],
    ['list', 'secrets', '-n', s],
    ['get', 'configmaps', '-n', s],
    ['get', 'secrets', '-n', sys.name],
    ['delete', 'configmaps', '-n', sys.name],
    ['delete', 'leases/kube-recycler', '-n', sys.name],
    // no ConfigMap of its own namespace but the configured sites' state: not its config
    ['update', 'configmaps', '-n', sys.name],
    ['patch', 'configmaps', '-n', sys.name],
    ['update', 'configmaps/kube-recycler-config', '-n', sys.name],
    ['patch', 'configmaps/kube-recycler-site-shop', '-n', sys.name],
    ['delete', 'configmaps/kube-recycler-site-shop', '-n', sys.name],
    ['get', 'leases/other', '-n', sys.name],
    ['patch', 'deployments', '-n', sys.name],
    ['patch', 'deployments/web', '-n', other.name],
    ['get', 'deployments/web', '-n', other.name],
    ['delete', 'pods', '-n', other.name],
    ['create', 'namespaces'],
    ['patch', 'nodes'],
    ['create', 'clusterrolebindings'],
    ['create', 'roles', '-n', s],
  ]
  for (const a of yes) t.equal(await can(a), 'yes', `can ${a.join(' ')}`)
  for (const a of no) t.equal(await can(a), 'no', `cannot ${a.join(' ')}`)
  await t.rejects(
    kubectl(['get', 'secret', 'db'], { namespace: s, token }),
    /forbidden/,
    'reading a Secret is denied by the API server',
  )
  await t.rejects(
    kubectl(['get', 'deployments'], { namespace: s, token }),
    /forbidden/,
    "listing the namespace's workloads is denied",
  )
  await t.rejects(
    kubectl(
      [
        'patch',
        'deployment',
        'other-web',
        '--type=merge',
        '-p',
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"evil.example/x:1"}]}}}}',
      ],
      { namespace: s, token },
    ),
    /forbidden/,
    'another workload cannot be made to run another image',
  )
  t.equal(
    await kubectl(['get', 'deployment', 'web', '-o', 'jsonpath={.metadata.name}'], { namespace: s, token }),
    'web',
    'the named workload can be read',
  )

  // The engine itself, with that token: real calls, including the
  // rollout's watch with a metadata.name field selector.
  const st = clusterState()
  const dir = mkdtempSync(join(tmpdir(), 'kr-sa-'))
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'sa',
      clusters: [{ name: 'test', cluster: { server: st.apiserver, 'certificate-authority': st.caFile } }],
      users: [{ name: 'sa', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'test', user: 'sa' } }],
    }),
    { mode: 0o600 },
  )
  const { engine } = realEngine(kubeconfig, 'sa-replica')
  const rolled = await runOnce(
    engine,
    siteFor(`{ kind: Deployment, namespace: ${s}, name: web }`, '{ timeout: 60s }'),
    { commit: 'abcdef0123456' },
  )
  t.equal(rolled.outcome.state, 'succeeded', `rollout as the ServiceAccount: ${JSON.stringify(rolled.outcome)}`)
  const evicted = await runOnce(
    engine,
    siteFor(`{ kind: Deployment, namespace: ${s}, name: web }`, '{ strategy: evict, cooldown: 0s, timeout: 60s }'),
  )
  t.equal(evicted.outcome.state, 'succeeded', `evict as the ServiceAccount: ${JSON.stringify(evicted.outcome)}`)
  const deleted = await runOnce(
    engine,
    siteFor(`{ kind: Deployment, namespace: ${del.name}, name: api }`, '{ strategy: delete, timeout: 60s }'),
  )
  t.equal(deleted.outcome.state, 'succeeded', `delete where a site uses it: ${JSON.stringify(deleted.outcome)}`)
  t.match(
    await kubectl(
      ['get', 'events', '--field-selector', 'involvedObject.name=web', '-o', 'jsonpath={.items[*].reason}'],
      { namespace: s },
    ),
    /Recycled/,
    'events recorded',
  )

  const notNamed = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${s}, name: other-web }`))
  t.equal(notNamed.outcome.state, 'failed', 'a workload the config does not name cannot be recycled')
  t.match((notNamed.outcome as { reason: string }).reason, new RegExp(`read Deployment ${s}/other-web: forbidden`))
  const noDelete = await runOnce(
    engine,
    siteFor(`{ kind: Deployment, namespace: ${s}, name: web }`, '{ strategy: delete, cooldown: 0s, timeout: 30s }'),
  )
  t.equal(noDelete.outcome.state, 'failed', 'no pod delete where no site uses the delete strategy')
  t.match(JSON.stringify(noDelete), /forbidden/)
  const denied = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${other.name}, name: web }`))
  t.equal(denied.outcome.state, 'failed')
  t.match((denied.outcome as { reason: string }).reason, new RegExp(`read Deployment ${other.name}/web: forbidden`))
  t.notMatch(
    JSON.stringify([rolled, evicted, deleted, notNamed, noDelete, denied]),
    token,
    'the token is in no message',
  )
})
