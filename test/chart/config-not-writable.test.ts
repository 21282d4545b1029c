// The service account cannot rewrite its own configuration. With a stolen
// token and `update` on every ConfigMap of its namespace, git.repo could be
// pointed at another host (the git token follows) and the probes turned into
// an SSRF readable on /status. Each way of installing, applied to the real
// control plane in fresh namespaces: the one-file install
// (deploy/kube-recycler.yaml), a chart render (helm template, two sites,
// other names) and the kustomize base (k8s/). For each:
// - `kubectl auth can-i --as=system:serviceaccount:<ns>:<sa>`: no update,
//   patch or delete of the config ConfigMap, nor of any ConfigMap by a name
//   that is not a site's state; yes to what the state store does (create,
//   list, watch; get and update of each configured site's state);
// - with a TokenRequest token: the API server refuses a patch, a replace
//   (the store's own call) and a delete of the config, and the store's
//   calls for each site's state succeed;
// - the real service (`serve`) runs as that ServiceAccount on that config:
//   ready (it lists and watches the state, takes the Lease), and a Jenkins
//   report for each site is recorded in the site's state ConfigMap, created
//   then replaced, with no `forbidden` in its log;
// - the config ConfigMap is immutable: even the cluster admin cannot change
//   it; a new config is a new ConfigMap (its name carries the content hash).

import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'undici'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml'
import { MANIFEST_PATH, CHART_DIR, ROOT } from '../../scripts/chart.ts'
import { parseConfig } from '../../src/config/load.ts'
import { createKube } from '../../src/kube/client.ts'
import { objectName } from '../../src/state/store.ts'
import { CONFIG_MAP_NAME, render, type K8sObject } from '../fixtures/chart.ts'
import { quietLogger } from '../fixtures/engine.ts'
import { clusterState, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { startService } from '../fixtures/process.ts'
import { toolPath } from '../fixtures/tools.ts'

t.setTimeout(300_000)

const tmp = mkdtempSync(join(tmpdir(), 'kr-config-rbac-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
const suffix = `${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 6)}`

/** What each install puts in the service's namespace that this test looks at. */
const KINDS = new Set(['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap'])

const docs = (text: string): K8sObject[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null)

/** Moves objects into other namespaces (Namespace names, metadata.namespace, RoleBinding subjects). */
function retarget(objs: K8sObject[], to: Record<string, string>): K8sObject[] {
  const out = structuredClone(objs)
  const map = (n: string) => to[n] ?? n
  for (const o of out) {
    if (o.kind === 'Namespace') o.metadata.name = map(o.metadata.name)
    else if (o.metadata.namespace) o.metadata.namespace = map(o.metadata.namespace)
    for (const s of (o.subjects ?? []) as { namespace?: string }[]) if (s.namespace) s.namespace = map(s.namespace)
  }
  return out
}

interface Install {
  ns: string
  sa: string
  configMap: string
  sites: string[]
  jobs: Map<string, string>
  /** Namespaces the objects were moved to (retarget): the config's site targets move with them. */
  moved: Record<string, string>
}

/** Creates the namespaces (fresh, deleted afterwards) and applies the objects of KINDS; returns what the service runs with. */
async function install(
  t: Test,
  objs: K8sObject[],
  namespaces: string[],
  moved: Record<string, string> = {},
): Promise<Install> {
  for (const name of namespaces) {
    const given = objs.find((o) => o.kind === 'Namespace' && o.metadata.name === name)
    await kubectl(['create', '-f', '-'], {
      input: JSON.stringify(given ?? { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }),
    })
    t.teardown(async () => {
      await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found'])
    })
  }
  const applied = objs.filter((o) => KINDS.has(o.kind) && o.kind !== 'Namespace')
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: applied }) })
  const deployment = objs.find((o) => o.kind === 'Deployment')!
  const pod = (deployment.spec as any).template.spec
  const configMap = pod.volumes.find((v: any) => v.name === 'config').configMap.name as string
  const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === configMap)!
  const config = parseConfig(cm.data!['config.yaml']!, `the ConfigMap ${configMap}`)
  return {
    ns: deployment.metadata.namespace!,
    sa: pod.serviceAccountName,
    configMap,
    sites: config.sites.map((s) => s.name),
    jobs: new Map(config.sites.map((s) => [s.name, s.jenkins.jobs[0]!])),
    moved,
  }
}

function saKubeconfig(token: string): string {
  const s = clusterState()
  const file = join(mkdtempSync(join(tmp, 'sa-')), 'kubeconfig')
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'sa',
      clusters: [{ name: 'test', cluster: { server: s.apiserver, 'certificate-authority': s.caFile } }],
      users: [{ name: 'sa', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'test', user: 'sa' } }],
    }),
    { mode: 0o600 },
  )
  return file
}

const WEBHOOK_TOKEN = 'config-rbac-webhook-token-8c1f'

/**
 * `serve` as the ServiceAccount, on the installed config with its remote
 * addresses (git, probes) moved to a closed loopback port: no traffic leaves
 * the machine, and RBAC is what is tested. One report per site, then another.
 */
async function serveAs(t: Test, inst: Install, kubeconfig: string, configText: string): Promise<void> {
  const config = parseYaml(configText) as {
    sites: Array<{ target: { namespace: string }; git?: { repo: string }; checks?: Array<{ url: string }> }>
  }
  for (const site of config.sites) {
    // The site Role went where its namespace was moved (the service watches the named workload from the start).
    site.target.namespace = inst.moved[site.target.namespace] ?? site.target.namespace
    if (site.git) site.git.repo = 'http://127.0.0.1:9/site.git'
    for (const c of site.checks ?? []) c.url = 'http://127.0.0.1:9/'
  }
  const file = join(mkdtempSync(join(tmp, 'config-')), 'config.yaml')
  writeFileSync(file, stringify(config))
  const proc = await startService({
    env: {
      KUBE_RECYCLER_CONFIG: file,
      KUBECONFIG: kubeconfig,
      POD_NAMESPACE: inst.ns,
      HOSTNAME: 'config-rbac',
      KUBE_RECYCLER_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      LOG_LEVEL: 'info',
    },
    // Generous: the machine is shared, and a cold start compiles the sources.
    timeoutMs: 60_000,
  })
  t.teardown(() => proc.stop('SIGKILL').then(() => undefined))
  await waitFor(
    async () => {
      const r = await request(`${proc.url}/readyz`)
      await r.body.dump()
      return r.statusCode === 200
    },
    { timeoutMs: 30_000, description: 'serve as the ServiceAccount is ready' },
  )
  let build = 1
  for (const site of inst.sites) {
    for (const status of ['FAILURE', 'SUCCESS']) {
      const res = await request(`${proc.url}/webhooks/jenkins`, {
        method: 'POST',
        headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ job: inst.jobs.get(site), build: build++, status }),
      })
      const body = await res.body.text()
      t.equal(res.statusCode, 202, `serve: a ${status} report for ${site} is recorded (${body})`)
    }
    const stored = await kubectlJson(['get', 'configmap', objectName(site)], { namespace: inst.ns })
    t.match(stored.data['state.json'], /SUCCESS/, `the state of ${site} holds the last report`)
  }
  t.equal(await proc.stop('SIGTERM'), 0, 'serve stops cleanly')
  t.notMatch(proc.output(), /forbidden/i, 'serve was refused nothing', {
    log: proc
      .output()
      .split('\n')
      .filter((l) => /forbidden/i.test(l))
      .slice(0, 5),
  })
}

async function assertConfigNotWritable(t: Test, inst: Install): Promise<void> {
  t.match(inst.configMap, CONFIG_MAP_NAME, `the config ConfigMap ${inst.configMap} is named by its content`)
  const live = await kubectlJson(['get', 'configmap', inst.configMap], { namespace: inst.ns })
  t.equal(live.immutable, true, 'and immutable')

  const as = `--as=system:serviceaccount:${inst.ns}:${inst.sa}`
  const can = async (args: string[]) =>
    (
      await kubectl(['auth', 'can-i', as, ...args, '-n', inst.ns]).catch((e: { stdout?: string }) => e.stdout ?? '')
    ).trim()
  const no = [
    ...['update', 'patch', 'delete'].map((v) => [v, `configmaps/${inst.configMap}`]),
    ...['update', 'patch', 'delete'].map((v) => [v, 'configmaps']),
    ['update', 'configmaps/kube-recycler-config'],
    ['update', 'configmaps/kube-recycler-site-not-configured'],
    ['delete', `configmaps/${objectName(inst.sites[0]!)}`],
    ['patch', `configmaps/${objectName(inst.sites[0]!)}`],
    ['get', 'secrets'],
    ['deletecollection', 'configmaps'],
  ]
  const yes = [
    ['create', 'configmaps'],
    ['list', 'configmaps'],
    ['watch', 'configmaps'],
    ...inst.sites.flatMap((s) => [
      ['get', `configmaps/${objectName(s)}`],
      ['update', `configmaps/${objectName(s)}`],
    ]),
  ]
  for (const q of no) t.equal(await can(q), 'no', `cannot ${q.join(' ')}`)
  for (const q of yes) t.equal(await can(q), 'yes', `can ${q.join(' ')}`)

  // The API server itself, with the ServiceAccount's token.
  const token = (await kubectl(['create', 'token', inst.sa, '--duration=10m'], { namespace: inst.ns })).trim()
  const evil = JSON.stringify({
    data: { 'config.yaml': 'sites:\n  - name: shop\n    git: { repo: https://attacker.example/x.git }\n' },
  })
  await t.rejects(
    kubectl(['patch', 'configmap', inst.configMap, '--type=merge', '-p', evil], { namespace: inst.ns, token }),
    /forbidden/,
    'a patch of the config is forbidden',
  )
  await t.rejects(
    kubectl(['delete', 'configmap', inst.configMap], { namespace: inst.ns, token }),
    /forbidden/,
    'a delete of the config is forbidden',
  )
  const kubeconfig = saKubeconfig(token)
  await serveAs(t, inst, kubeconfig, live.data['config.yaml'])
  await kubectl(['delete', 'configmap', ...inst.sites.map(objectName)], { namespace: inst.ns })
  const kube = createKube({ kubeconfig, logger: quietLogger(), env: {} })
  t.teardown(() => kube.close())
  const objects = kube.objects(inst.ns)
  await t.rejects(
    objects.write(inst.configMap, 'sites: []', live.metadata.resourceVersion),
    /forbidden/i,
    "the state store's own replace call cannot overwrite the config",
  )
  for (const site of inst.sites) {
    const v1 = await objects.write(objectName(site), '{}', undefined)
    const v2 = await objects.write(objectName(site), '{"a":1}', v1)
    t.not(v2, v1, `the state of ${site}: created, then replaced`)
    t.equal((await objects.read(objectName(site)))?.data, '{"a":1}', `and read back by name`)
  }
  t.same(
    [...(await objects.list()).items.keys()].sort(),
    inst.sites.map(objectName).sort(),
    "listed by label: the sites' state, not the config",
  )

  // Immutable for everyone: a new config is a new ConfigMap.
  await t.rejects(
    kubectl(['patch', 'configmap', inst.configMap, '--type=merge', '-p', evil], { namespace: inst.ns }),
    /immutable/i,
    'even the cluster admin cannot change it',
  )
  t.equal(
    (await kubectlJson(['get', 'configmap', inst.configMap], { namespace: inst.ns })).data['config.yaml'],
    live.data['config.yaml'],
    'the config is as installed',
  )
}

t.test('the one-file install (deploy/kube-recycler.yaml)', async (t) => {
  const ns = `cfg-file-${suffix}`
  const site = `cfg-file-shop-${suffix}`
  const moved = { 'kube-recycler': ns, shop: site }
  const objs = retarget(docs(readFileSync(MANIFEST_PATH, 'utf8')), moved)
  t.ok(
    objs.some((o) => o.kind === 'Namespace' && o.metadata.name === ns),
    'it makes its namespace',
  )
  await assertConfigNotWritable(t, await install(t, objs, [ns, site], moved))
})

t.test('a chart render (helm template): two sites, another release name and ServiceAccount', async (t) => {
  const ns = `cfg-chart-${suffix}`
  const site = `cfg-chart-site-${suffix}`
  const v = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as any
  v.config.sites[0].target.namespace = site
  v.config.sites.push({
    ...structuredClone(v.config.sites[0]),
    name: 'blog',
    target: { kind: 'Deployment', namespace: site, name: 'blog' },
    jenkins: { jobs: ['blog-integrity'] },
  })
  const file = join(tmp, 'values.yaml')
  writeFileSync(
    file,
    stringify(
      {
        config: v.config,
        fullnameOverride: 'recycler',
        serviceAccount: { name: 'recycler-sa' },
        namespace: { create: true },
      },
      { version: '1.1' },
    ),
  )
  const objs = render(toolPath('helm'), ['-f', file], 'rel', ns)
  const inst = await install(t, objs, [ns, site])
  t.same(inst.sites, ['shop', 'blog'])
  t.equal(inst.sa, 'recycler-sa')
  await assertConfigNotWritable(t, inst)
})

t.test('the kustomize base (k8s/)', async (t) => {
  const ns = `cfg-kust-${suffix}`
  const site = `cfg-kust-shop-${suffix}`
  const moved = { 'kube-recycler': ns, shop: site }
  // The base, and the site namespace's Role and RoleBinding (k8s/rbac, applied in the site's namespace).
  const objs = [
    ...retarget(docs(await kubectl(['kustomize', join(ROOT, 'k8s')])), moved),
    ...retarget(
      docs(await kubectl(['kustomize', join(ROOT, 'k8s', 'rbac')]))
        .filter((o) => o.metadata.name === 'kube-recycler-site')
        .map((o) => ({ ...o, metadata: { ...o.metadata, namespace: site } })),
      moved,
    ),
  ]
  await assertConfigNotWritable(t, await install(t, objs, [ns, site], moved))
})
