// The engine runs as kube-recycler's ServiceAccount with exactly the Role in
// k8s/rbac/: a token from the TokenRequest API, not cluster admin. It can
// recycle in the site's namespace and nothing else.

import t from 'tap'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { clusterState, freshNamespace, kubectl, kubectlJson, waitFor } from '../fixtures/kube-cluster.ts'
import { deployment, realEngine, runOnce, siteFor } from '../fixtures/engine.ts'
import { ROOT } from '../fixtures/process.ts'

function manifest(file: string): any {
  return parseAllDocuments(readFileSync(join(ROOT, 'k8s', 'rbac', file), 'utf8')).map((d) => d.toJSON())[0]
}

t.test('the ServiceAccount can do exactly what the engine needs', async (t) => {
  const sys = await freshNamespace('krsys')
  const site = await freshNamespace('krsite')
  const other = await freshNamespace('krother')
  t.teardown(async () => { await sys.cleanup(); await site.cleanup(); await other.cleanup() })

  await kubectl(['apply', '-f', '-'], { namespace: sys.name, input: JSON.stringify(manifest('serviceaccount.yaml')) })
  await kubectl(['apply', '-f', '-'], { namespace: site.name, input: JSON.stringify(manifest('site-role.yaml')) })
  const binding = manifest('site-rolebinding.yaml')
  binding.subjects[0].namespace = sys.name
  await kubectl(['apply', '-f', '-'], { namespace: site.name, input: JSON.stringify(binding) })
  for (const ns of [site.name, other.name]) await kubectl(['apply', '-f', '-'], { namespace: ns, input: deployment('web', 2) })
  await kubectl(['create', 'secret', 'generic', 'db', '--from-literal=password=hunter2'], { namespace: site.name })
  await waitFor(async () => (await kubectlJson(['get', 'deployment', 'web'], { namespace: site.name })).status?.readyReplicas === 2, { timeoutMs: 60_000 })

  const token = (await kubectl(['create', 'token', 'kube-recycler', '--duration=10m'], { namespace: sys.name })).trim()
  t.match(token, /^ey/, 'TokenRequest returned a JWT')
  const who = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { token })
  t.equal(who, `system:serviceaccount:${sys.name}:kube-recycler`)

  const can = async (args: string[]) => (await kubectl(['auth', 'can-i', ...args], { token }).catch((e: { stdout?: string }) => e.stdout ?? '')).trim()
  const yes: string[][] = [
    ['get', 'deployments', '-n', site.name], ['patch', 'deployments', '-n', site.name], ['watch', 'deployments', '-n', site.name],
    ['patch', 'statefulsets', '-n', site.name], ['patch', 'daemonsets', '-n', site.name], ['get', 'replicasets', '-n', site.name],
    ['list', 'replicasets', '-n', site.name], ['list', 'controllerrevisions', '-n', site.name], ['get', 'controllerrevisions', '-n', site.name],
    ['list', 'pods', '-n', site.name], ['delete', 'pods', '-n', site.name], ['create', 'pods', '--subresource=eviction', '-n', site.name],
    ['create', 'events', '-n', site.name],
  ]
  const no: string[][] = [
    ['get', 'secrets', '-n', site.name], ['list', 'secrets', '-n', site.name], ['get', 'configmaps', '-n', site.name],
    ['patch', 'deployments', '-n', other.name], ['delete', 'pods', '-n', other.name], ['create', 'deployments', '-n', site.name],
    ['delete', 'deployments', '-n', site.name], ['update', 'deployments', '-n', site.name], ['create', 'namespaces'],
    ['patch', 'nodes'], ['create', 'clusterrolebindings'], ['create', 'pods', '-n', site.name], ['create', 'pods', '--subresource=exec', '-n', site.name],
  ]
  for (const a of yes) t.equal(await can(a), 'yes', `can ${a.join(' ')}`)
  for (const a of no) t.equal(await can(a), 'no', `cannot ${a.join(' ')}`)
  await t.rejects(kubectl(['get', 'secret', 'db'], { namespace: site.name, token }), /forbidden/, 'reading a Secret is denied by the API server')

  // The engine itself, with that token.
  const s = clusterState()
  const dir = mkdtempSync(join(tmpdir(), 'kr-sa-'))
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
    clusters: [{ name: 'test', cluster: { server: s.apiserver, 'certificate-authority': s.caFile } }],
    users: [{ name: 'sa', user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: 'test', user: 'sa' } }],
  }), { mode: 0o600 })
  const { engine } = realEngine(kubeconfig, 'sa-replica')
  const rolled = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${site.name}, name: web }`, '{ timeout: 60s }'), { commit: 'abcdef0123456' })
  t.equal(rolled.outcome.state, 'succeeded', `rollout as the ServiceAccount: ${JSON.stringify(rolled.outcome)}`)
  const evicted = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${site.name}, name: web }`, '{ strategy: evict, cooldown: 0s, timeout: 60s }'))
  t.equal(evicted.outcome.state, 'succeeded', `evict as the ServiceAccount: ${JSON.stringify(evicted.outcome)}`)
  t.match((await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=web', '-o', 'jsonpath={.items[*].reason}'], { namespace: site.name })), /Recycled/, 'events recorded')
  const denied = await runOnce(engine, siteFor(`{ kind: Deployment, namespace: ${other.name}, name: web }`))
  t.equal(denied.outcome.state, 'failed')
  t.match((denied.outcome as { reason: string }).reason, new RegExp(`read Deployment ${other.name}/web: forbidden`))
  t.notMatch(JSON.stringify(denied), token, 'the token is in no message')
})
