// The Helm chart against the real control plane (test/cluster), with the
// real helm (test/cluster/tools.sh) and the prometheus-operator's own CRDs:
// - the one-file install (deploy/kube-recycler.yaml, the chart's default
//   render) and the full-values render pass `kubectl apply --dry-run=server`
//   with no warning (admission, Pod Security "restricted", schemas);
// - `helm install --wait` of the defaults and of the full values, each into
//   fresh namespaces: every object of the release exists, the Deployment
//   rolls out (kwok runs no containers: its pods become Ready), the replicas
//   spread over nodes; the ServiceAccount can do what the service does and
//   nothing more (`kubectl auth can-i --as`: the state ConfigMaps by name,
//   never the config); the ConfigMap in the cluster passes the service's own
//   config validation;
// - `helm upgrade` with a new config makes a new immutable ConfigMap and
//   rolls the pods onto it; `helm uninstall` removes the site namespaces'
//   Roles too.

import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml'
import { ownRules, siteRules } from '../../src/cli/rbac.ts'
import { parseConfig } from '../../src/config/load.ts'
import { CHART_DIR, MANIFEST_PATH } from '../../scripts/chart.ts'
import { FULL_VALUES, renderText, type K8sObject } from '../fixtures/chart.ts'
import { clusterState, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { toolPath } from '../fixtures/tools.ts'

t.setTimeout(600_000)

const helm = toolPath('helm')
const crds = toolPath('crds')
const gatewayCrds = toolPath('gatewayCrds')
const tmp = mkdtempSync(join(tmpdir(), 'kr-chart-cluster-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
const suffix = `${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** helm or kubectl against the test cluster, with helm's own dirs in a temp dir. */
function run(bin: string, args: string[], input = ''): Promise<Run> {
  const s = clusterState()
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: s.kubeconfig,
    HELM_CACHE_HOME: join(tmp, 'helm-cache'),
    HELM_CONFIG_HOME: join(tmp, 'helm-config'),
    HELM_DATA_HOME: join(tmp, 'helm-data'),
  }
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += String(d)
    })
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(input)
  })
}
const kubectlBin = () => join(clusterState().binDir, 'kubectl')
async function ok(bin: string, args: string[], input = ''): Promise<Run> {
  const r = await run(bin, args, input)
  if (r.code !== 0)
    throw new Error(`${bin.split('/').pop()} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`)
  return r
}
/** stderr lines that are warnings about what we sent (not kubectl's notice about a namespace made without --save-config). */
const warnings = (stderr: string) =>
  stderr.split('\n').filter((l) => l.trim() !== '' && !/last-applied-configuration/.test(l))

async function namespace(name: string, restricted = false): Promise<void> {
  const labels = restricted
    ? { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' }
    : {}
  await kubectl(['create', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }),
  })
  t.teardown(() => kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found']).then(() => undefined))
}

/** Creates the namespace for the test unless it exists; deletes it afterwards only if it made it. */
async function ensureNamespace(name: string): Promise<void> {
  try {
    await kubectl(['get', 'namespace', name])
  } catch {
    await namespace(name)
  }
}

t.before(async () => {
  // The real CRDs (ServiceMonitor, PodMonitor, PrometheusRule; the Gateway
  // API's HTTPRoute): cluster-wide, left in place (idempotent, and other runs
  // reuse them).
  for (const dir of [crds, gatewayCrds]) {
    await ok(kubectlBin(), ['apply', '--server-side', '--force-conflicts', '-f', dir])
    for (const f of readdirSync(dir)) {
      const name = (parseYaml(readFileSync(join(dir, f), 'utf8')) as K8sObject).metadata.name
      await ok(kubectlBin(), ['wait', '--for=condition=Established', '--timeout=60s', `crd/${name}`])
    }
  }
})

/** The full values, moved into this run's namespaces. */
function fullValues(ns: { shop: string; pool: string; extra: string }): string {
  const v = parseYaml(readFileSync(FULL_VALUES, 'utf8')) as any
  v.config.sites[0].target.namespace = ns.shop
  v.config.sites[0].checks[0].url = `http://web.${ns.shop}.svc.cluster.local/`
  v.config.sites[1].target.namespace = ns.pool
  v.rbac.siteNamespaces = [ns.extra]
  const file = join(tmp, `full-${ns.shop}.yaml`)
  // YAML 1.1 as Helm reads it: `on` unquoted would be a boolean.
  writeFileSync(file, stringify(v, { version: '1.1' }))
  return file
}

function defaultValues(site: string): string {
  const v = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as any
  v.config.sites[0].target.namespace = site
  const file = join(tmp, `default-${site}.yaml`)
  writeFileSync(file, stringify({ config: v.config }, { version: '1.1' }))
  return file
}

t.test('kubectl apply --dry-run=server accepts the one-file install and the full-values render', async (t) => {
  const manifest = readFileSync(MANIFEST_PATH, 'utf8')
  const objs = parseAllDocuments(manifest)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null)
  // The objects' namespaces must exist for a dry run (it creates nothing).
  for (const ns of new Set(objs.map((o) => o.metadata.namespace).filter((n): n is string => n !== undefined)))
    await ensureNamespace(ns)
  const r = await ok(kubectlBin(), ['apply', '--dry-run=server', '-f', '-'], manifest)
  const lines = r.stdout.trim().split('\n')
  t.equal(lines.length, objs.length, 'one line per object')
  t.ok(
    lines.every((l) => / \(server dry run\)$/.test(l)),
    'every object went through the API server',
    { stdout: r.stdout },
  )
  t.same(warnings(r.stderr), [], 'no warnings')

  const ns = {
    rel: `chart-dry-${suffix}`,
    shop: `chart-dry-shop-${suffix}`,
    pool: `chart-dry-pool-${suffix}`,
    extra: `chart-dry-extra-${suffix}`,
  }
  await namespace(ns.rel, true)
  for (const n of [ns.shop, ns.pool, ns.extra]) await namespace(n)
  const full = renderText(helm, ['-f', fullValues(ns)], 'full', ns.rel)
  const count = parseAllDocuments(full).filter((d) => d.toJS() !== null).length
  const rf = await ok(kubectlBin(), ['apply', '--dry-run=server', '-f', '-'], full)
  t.equal(rf.stdout.trim().split('\n').length, count, 'full values: one line per object')
  t.match(rf.stdout, /servicemonitor.monitoring.coreos.com\/recycler created \(server dry run\)/)
  t.match(rf.stdout, /prometheusrule.monitoring.coreos.com\/recycler created \(server dry run\)/)
  t.same(warnings(rf.stderr), [], 'no warnings (Pod Security "restricted" is enforced in the release namespace)')

  // The HTTPRoute (off in the full values: most clusters lack the CRDs), checked by the Gateway API's own CRD schema.
  const routeValues = join(tmp, 'route.yaml')
  writeFileSync(
    routeValues,
    stringify({
      httpRoute: {
        enabled: true,
        parentRefs: [{ name: 'public', namespace: 'gateway-system', sectionName: 'https' }],
        hostnames: ['recycler.example.com'],
      },
    }),
  )
  const route = renderText(
    helm,
    ['-f', fullValues(ns), '-f', routeValues, '--show-only', 'templates/httproute.yaml'],
    'full',
    ns.rel,
  )
  const rr = await ok(kubectlBin(), ['apply', '--dry-run=server', '-f', '-'], route)
  t.match(
    rr.stdout,
    /httproute.gateway.networking.k8s.io\/recycler created \(server dry run\)/,
    'the API server accepts the HTTPRoute',
  )
  t.same(warnings(rr.stderr), [], 'no warnings')
  const bad = await run(
    kubectlBin(),
    ['apply', '--dry-run=server', '-f', '-'],
    route.replace('type: Exact', 'type: Anything'),
  )
  t.not(bad.code, 0, 'and refuses a match type the Gateway API does not know (the schema really checks)')
})

interface Install {
  release: string
  ns: string
  sa: string
  sites: string[]
  extra?: string
}

async function assertInstalled(t: Test, inst: Install, replicas: number, fullname: string): Promise<void> {
  const status = await ok(helm, ['status', inst.release, '-n', inst.ns, '-o', 'json'])
  t.equal(JSON.parse(status.stdout).info.status, 'deployed')
  const manifest = (await ok(helm, ['get', 'manifest', inst.release, '-n', inst.ns])).stdout
  const objs = parseAllDocuments(manifest)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null)
  for (const o of objs) {
    const got = await kubectlJson(
      [
        `get`,
        `${o.kind.toLowerCase()}.${o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''}`.replace(/\.$/, ''),
        o.metadata.name,
      ],
      { namespace: o.metadata.namespace ?? inst.ns },
    )
    t.equal(
      got.metadata.labels?.['app.kubernetes.io/instance'],
      inst.release,
      `${o.kind} ${o.metadata.namespace}/${o.metadata.name} exists, labelled with the release`,
    )
  }

  const d = await kubectlJson(['get', 'deployment', fullname], { namespace: inst.ns })
  t.equal(d.status.availableReplicas, replicas, `${replicas} replicas available`)
  const pods = (
    await kubectlJson(['get', 'pods', '-l', `app.kubernetes.io/instance=${inst.release}`], { namespace: inst.ns })
  ).items as any[]
  const running = pods.filter((p) => !p.metadata.deletionTimestamp)
  t.equal(new Set(running.map((p) => p.spec.nodeName)).size, Math.min(replicas, 3), 'one replica per node')

  const cmName = d.spec.template.spec.volumes.find((v: any) => v.name === 'config').configMap.name as string
  t.match(cmName, new RegExp(`^${fullname}-config-[a-f0-9]{10}$`), 'the pods mount the hash-named config')
  const cm = await kubectlJson(['get', 'configmap', cmName], { namespace: inst.ns })
  t.equal(cm.immutable, true, 'immutable')
  const config = parseConfig(cm.data['config.yaml'], 'the ConfigMap in the cluster')
  t.equal(config.service.namespace, inst.ns, 'the Lease namespace is the release namespace')
  t.same([...new Set(config.sites.map((s) => s.target.namespace))].sort(), [...inst.sites].sort())

  const as = `--as=system:serviceaccount:${inst.ns}:${inst.sa}`
  const can = async (args: string[]) => (await run(kubectlBin(), ['auth', 'can-i', as, ...args])).stdout.trim()
  const yes: string[][] = []
  const no: string[][] = []
  for (const site of [...inst.sites, ...(inst.extra ? [inst.extra] : [])]) {
    // What `kube-recycler rbac` says this namespace needs, and what it must not have.
    const rules = siteRules(config, site)
    for (const r of rules) {
      for (const res of r.resources) {
        for (const v of r.verbs) {
          const kind = r.apiGroups[0] === 'apps' ? `${res}.apps` : res
          if (res === 'pods/eviction') yes.push([v, 'pods', '--subresource=eviction', '-n', site])
          else if (r.resourceNames) for (const n of r.resourceNames) yes.push([v, `${kind}/${n}`, '-n', site])
          else yes.push([v, kind, '-n', site])
        }
      }
    }
    if (rules.some((r) => r.resourceNames))
      no.push(['patch', 'deployments.apps/not-a-site', '-n', site], ['list', 'deployments.apps', '-n', site])
    if (!rules.some((r) => r.resources.includes('pods') && r.verbs.includes('delete')))
      no.push(['delete', 'pods', '-n', site])
    no.push(
      ['get', 'secrets', '-n', site],
      ['list', 'secrets', '-n', site],
      ['get', 'configmaps', '-n', site],
      ['create', 'deployments.apps', '-n', site],
      ['delete', 'deployments.apps', '-n', site],
      ['update', 'deployments.apps', '-n', site],
      ['create', 'pods', '--subresource=exec', '-n', site],
      ['patch', 'pods', '-n', site],
      ['get', 'leases.coordination.k8s.io', '-n', site],
    )
  }
  const state = ownRules(config).find((r) => r.resources[0] === 'configmaps' && r.resourceNames)!.resourceNames!
  t.same(
    state,
    ['kube-recycler-heartbeat', ...config.sites.map((s) => `kube-recycler-site-${s.name}`)].sort(),
    "the state ConfigMaps of the configured sites, and the leader's heartbeat",
  )
  yes.push(
    ['get', 'leases.coordination.k8s.io/kube-recycler', '-n', inst.ns],
    ['update', 'leases.coordination.k8s.io/kube-recycler', '-n', inst.ns],
    ['create', 'leases.coordination.k8s.io', '-n', inst.ns],
    ...['list', 'watch', 'create'].map((v) => [v, 'configmaps', '-n', inst.ns]),
    ...state.flatMap((n) => ['get', 'update'].map((v) => [v, `configmaps/${n}`, '-n', inst.ns])),
    ['create', 'events', '-n', inst.ns],
  )
  no.push(
    ['update', 'leases.coordination.k8s.io/someone-else', '-n', inst.ns],
    ['delete', 'leases.coordination.k8s.io/kube-recycler', '-n', inst.ns],
    ...['update', 'patch', 'delete'].map((v) => [v, `configmaps/${cmName}`, '-n', inst.ns]),
    ['update', 'configmaps', '-n', inst.ns],
    ['get', 'configmaps', '-n', inst.ns],
    ['delete', 'configmaps', '-n', inst.ns],
    ['patch', 'configmaps', '-n', inst.ns],
    ['get', 'secrets', '-n', inst.ns],
    ['list', 'pods', '-n', inst.ns],
    ['list', 'namespaces'],
    ['list', 'deployments.apps', '--all-namespaces'],
    ['get', 'pods', '-n', 'default'],
  )
  for (const q of yes) t.equal(await can(q), 'yes', `can ${q.join(' ')}`)
  for (const q of no) t.equal(await can(q), 'no', `cannot ${q.join(' ')}`)
}

t.test('helm install of the defaults (the demo site moved to a fresh namespace)', async (t) => {
  const inst: Install = {
    release: 'kube-recycler',
    ns: `chart-def-${suffix}`,
    sa: 'kube-recycler',
    sites: [`chart-def-shop-${suffix}`],
  }
  await namespace(inst.ns, true)
  await namespace(inst.sites[0]!)
  await ok(kubectlBin(), [
    '-n',
    inst.ns,
    'create',
    'secret',
    'generic',
    'kube-recycler',
    `--from-literal=webhook-secret=${randomBytes(16).toString('hex')}`,
  ])
  const r = await ok(helm, [
    'install',
    inst.release,
    CHART_DIR,
    '-n',
    inst.ns,
    '-f',
    defaultValues(inst.sites[0]!),
    '--wait',
    '--timeout',
    '180s',
  ])
  t.same(warnings(r.stderr), [], 'helm install: no warnings')
  t.match(
    r.stdout,
    /Jenkins posts to: +http:\/\/kube-recycler\.chart-def-[^.]+\.svc:8080\/webhooks\/jenkins/,
    'NOTES say where Jenkins posts',
  )
  await assertInstalled(t, inst, 2, 'kube-recycler')

  // A new config is a new immutable ConfigMap, and rolls the pods onto it.
  const mounted = (d: any) =>
    d.spec.template.spec.volumes.find((v: any) => v.name === 'config').configMap.name as string
  const before = await kubectlJson(['get', 'deployment', 'kube-recycler'], { namespace: inst.ns })
  await ok(helm, [
    'upgrade',
    inst.release,
    CHART_DIR,
    '-n',
    inst.ns,
    '--reuse-values',
    '--set',
    'config.defaults.failureThreshold=4',
    '--wait',
    '--timeout',
    '180s',
  ])
  const after = await kubectlJson(['get', 'deployment', 'kube-recycler'], { namespace: inst.ns })
  t.not(mounted(after), mounted(before), 'another ConfigMap')
  t.equal(after.metadata.generation, before.metadata.generation + 1, 'one new pod template')
  await waitFor(
    async () =>
      (await kubectlJson(['get', 'deployment', 'kube-recycler'], { namespace: inst.ns })).status.updatedReplicas === 2,
    { timeoutMs: 90_000, description: 'rolled onto the new config' },
  )
  const cm = await kubectlJson(['get', 'configmap', mounted(after)], { namespace: inst.ns })
  t.equal(cm.immutable, true)
  t.equal(parseConfig(cm.data['config.yaml']).sites[0]!.failureThreshold, 4)
  const left = (await run(kubectlBin(), ['get', 'configmap', mounted(before), '-n', inst.ns])).code
  t.not(left, 0, 'helm removed the old one')

  await ok(helm, ['uninstall', inst.release, '-n', inst.ns, '--wait', '--timeout', '120s'])
  const roles = await run(kubectlBin(), ['get', 'roles.rbac.authorization.k8s.io', '-n', inst.sites[0]!, '-o', 'name'])
  t.equal(roles.stdout.trim(), '', 'uninstall removes the site namespace Role')
  t.equal(
    await (
      await run(kubectlBin(), [
        'auth',
        'can-i',
        `--as=system:serviceaccount:${inst.ns}:kube-recycler`,
        'patch',
        'deployments.apps',
        '-n',
        inst.sites[0]!,
      ])
    ).stdout.trim(),
    'no',
  )
})

t.test('helm install of the full values: monitoring objects, created Secret, every site namespace', async (t) => {
  const ns = {
    rel: `chart-full-${suffix}`,
    shop: `chart-full-shop-${suffix}`,
    pool: `chart-full-pool-${suffix}`,
    extra: `chart-full-extra-${suffix}`,
  }
  await namespace(ns.rel, true)
  for (const n of [ns.shop, ns.pool, ns.extra]) await namespace(n)
  const inst: Install = { release: 'full', ns: ns.rel, sa: 'recycler-sa', sites: [ns.shop, ns.pool], extra: ns.extra }
  const r = await ok(helm, [
    'install',
    inst.release,
    CHART_DIR,
    '-n',
    inst.ns,
    '-f',
    fullValues(ns),
    '--wait',
    '--timeout',
    '180s',
  ])
  t.same(warnings(r.stderr), [], 'helm install: no warnings')
  await assertInstalled(t, inst, 3, 'recycler')
  const rule = await kubectlJson(['get', 'prometheusrules.monitoring.coreos.com', 'recycler'], { namespace: inst.ns })
  const shipped = parseYaml(readFileSync(join(CHART_DIR, 'files', 'alerts.yaml'), 'utf8')) as {
    groups: { rules: { alert: string }[] }[]
  }
  t.same(
    rule.spec.groups.map((g: any) => g.rules.map((r: { alert: string }) => r.alert)),
    shipped.groups.map((g) => g.rules.map((r) => r.alert)),
    'the PrometheusRule holds every alert of files/alerts.yaml',
  )
  t.ok(
    rule.spec.groups.some((g: any) => g.rules.some((r: { alert: string }) => r.alert === 'KubeRecyclerCanaryFailed')),
    'KubeRecyclerCanaryFailed among them',
  )
  const secret = await kubectlJson(['get', 'secret', 'recycler'], { namespace: inst.ns })
  t.same(Object.keys(secret.data).sort(), ['git', 'hmac', 'operator', 'token'])

  // flowSchema.create: the service account's Lease requests are classified
  // into the leader-election level (the API server names the FlowSchema it
  // chose in a response header, even on a 403); its other requests are not.
  const fs = await kubectlJson(['get', 'flowschema', `recycler-${inst.ns}-lease`])
  t.equal(fs.spec.priorityLevelConfiguration.name, 'leader-election')
  t.equal(fs.status.conditions.find((c: any) => c.type === 'Dangling')?.status, 'False', 'its priority level exists')
  const chosen = async (args: string[]) => {
    const r = await run(kubectlBin(), [
      ...args,
      '-n',
      inst.ns,
      `--as=system:serviceaccount:${inst.ns}:${inst.sa}`,
      '-v=8',
    ])
    return /X-Kubernetes-Pf-Flowschema-Uid: ([0-9a-f-]+)/i.exec(r.stderr)?.[1]
  }
  t.equal(await chosen(['get', 'lease', 'kube-recycler']), fs.metadata.uid, 'a Lease read: this FlowSchema')
  const other = await chosen(['get', 'configmaps'])
  t.ok(other !== undefined && other !== fs.metadata.uid, 'a state read: another FlowSchema')
  await ok(helm, ['uninstall', inst.release, '-n', inst.ns, '--wait', '--timeout', '120s'])
})
