// The k8s/ manifests against the real control plane (test/cluster):
// - `kubectl apply --dry-run=server -k` accepts the base and the demo site as written;
// - the base, deployed for real into a fresh namespace under Pod Security
//   "restricted", rolls out 2 replicas on 2 nodes behind its Service and PDB;
// - its ServiceAccount can do each thing the engine does (site Role, Lease,
//   Events) and nothing else (`kubectl auth can-i --as`);
// - the demo site rolls out, and the real engine, authenticated as that
//   ServiceAccount, rolls it onto a commit: the product's patch fits the site's
//   pod template (annotation + SITE_COMMIT on the init container);
// - the ConfigMap's config passes our loader and points at the demo site;
// - the demo site's init container script, run with a real git server, checks
//   out the pinned commit, falls back to the branch head, refuses a stranger.

import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { clusterState, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { quietLogger, realEngine, runOnce, siteFor } from '../fixtures/engine.ts'
import { createKube } from '../../src/kube/client.ts'
import { startGitServer } from '../fixtures/git-server.ts'
import { ROOT } from '../fixtures/process.ts'
import { parseConfig } from '../../src/config/load.ts'

const BASE = join(ROOT, 'k8s')
const SITE = join(ROOT, 'k8s', 'examples', 'site')
const COMMIT = '89abcdef0123456789abcdef0123456789abcdef'

type Obj = {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; [k: string]: any }
  [k: string]: any
}

const parseDocs = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => d.toJSON() as Obj)
    .filter((o) => o !== null)
const render = async (dir: string): Promise<Obj[]> => parseDocs(await kubectl(['kustomize', dir]))
const readYaml = (...path: string[]): Obj[] => parseDocs(readFileSync(join(ROOT, ...path), 'utf8'))
const find = (objs: Obj[], kind: string, name?: string): Obj => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name))
  if (!o)
    throw new Error(
      `no ${kind}${name ? ` ${name}` : ''} in ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`,
    )
  return o
}
const suffix = () => `${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 6)}`

/** Moves objects into other namespaces (Namespace names, metadata.namespace, RoleBinding subjects). */
function retarget(objs: Obj[], to: Record<string, string>): Obj[] {
  const out = structuredClone(objs)
  const map = (n: string) => to[n] ?? n
  for (const o of out) {
    if (o.kind === 'Namespace') o.metadata.name = map(o.metadata.name)
    else if (o.metadata.namespace) o.metadata.namespace = map(o.metadata.namespace)
    for (const s of (o.subjects ?? []) as { namespace?: string }[]) if (s.namespace) s.namespace = map(s.namespace)
  }
  return out
}

/** kubectl that also returns stderr (warnings), rejecting on a non-zero exit. */
function kubectlFull(args: string[], input = ''): Promise<{ stdout: string; stderr: string }> {
  const s = clusterState()
  return new Promise((resolve, reject) => {
    const env = { ...process.env }
    delete env.KUBECONFIG
    const child = spawn(join(s.binDir, 'kubectl'), [`--kubeconfig=${s.kubeconfig}`, ...args], { env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += String(d)
    })
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve({ stdout, stderr })
      else reject(new Error(`kubectl ${args.join(' ')} exited ${code}: ${stderr}${stdout}`))
    })
    child.stdin.end(input)
  })
}

/** Creates the Namespace unless it exists; the cleanup deletes only what this created. */
async function ensureNamespace(ns: Obj): Promise<() => Promise<void>> {
  try {
    await kubectl(['get', 'namespace', ns.metadata.name])
    return async () => {}
  } catch {
    await kubectl(['create', '--save-config', '-f', '-'], { input: JSON.stringify(ns) })
    return async () => {
      await kubectl(['delete', 'namespace', ns.metadata.name, '--wait=false', '--ignore-not-found'])
    }
  }
}

async function freshFrom(ns: Obj, name: string): Promise<() => Promise<void>> {
  await kubectl(['create', '-f', '-'], { input: JSON.stringify({ ...ns, metadata: { ...ns.metadata, name } }) })
  return async () => {
    await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found'])
  }
}

const readyPods = async (ns: string, selector: string) =>
  ((await kubectlJson(['get', 'pods', '-l', selector], { namespace: ns })).items as any[]).filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
  )

async function rolledOut(ns: string, name: string, replicas: number) {
  await waitFor(
    async () => {
      const s = (await kubectlJson(['get', 'deployment', name], { namespace: ns })).status ?? {}
      return s.updatedReplicas === replicas && s.availableReplicas === replicas && s.replicas === replicas
    },
    { timeoutMs: 90_000, description: `deployment ${ns}/${name}: ${replicas} available` },
  )
}

/** Waits for the disruption controller to count `healthy` pods; the timeout message shows its last status. */
async function pdbStatus(ns: string, name: string, healthy: number): Promise<any> {
  return waitFor(
    async () => {
      const st = (await kubectlJson(['get', 'pdb', name], { namespace: ns })).status
      if (st?.currentHealthy === healthy) return st
      throw new Error(`status ${JSON.stringify(st)}`)
    },
    { timeoutMs: 90_000, description: `PodDisruptionBudget ${ns}/${name}: ${healthy} healthy` },
  )
}

async function endpointsReady(ns: string, service: string, count: number) {
  return waitFor(
    async () => {
      const e = await readyEndpoints(ns, service)
      if (e.count === count) return e
      throw new Error(`${e.count} ready endpoints`)
    },
    { timeoutMs: 90_000, description: `Service ${ns}/${service}: ${count} ready endpoints` },
  )
}

/**
 * The endpoints kube-proxy would send the Service's traffic to: the Ready pods
 * its selector picks, on its targetPort resolved against their containers.
 * Read from the pods, as the EndpointSlice controller reads them: the test
 * cluster's pod IPs are loopback (no packet may leave the machine), and
 * EndpointSlices refuse loopback addresses, so it writes none.
 */
async function readyEndpoints(ns: string, service: string): Promise<{ count: number; ports: number[] }> {
  const svc = await kubectlJson(['get', 'service', service], { namespace: ns })
  const selector = Object.entries((svc.spec.selector ?? {}) as Record<string, string>)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
  const pods = ((await kubectlJson(['get', 'pods', '-l', selector], { namespace: ns })).items as any[]).filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
  )
  const ports = new Set<number>()
  for (const p of pods) {
    for (const sp of svc.spec.ports ?? []) {
      const target = sp.targetPort ?? sp.port
      if (typeof target === 'number') ports.add(target)
      else {
        for (const c of p.spec.containers ?? [])
          for (const cp of c.ports ?? []) if (cp.name === target) ports.add(cp.containerPort)
      }
    }
  }
  return { count: pods.length, ports: [...ports] }
}

/** A kubeconfig that authenticates with a ServiceAccount token (not the admin cert). */
function saKubeconfig(t: { teardown(fn: () => void): void }, token: string): string {
  const s = clusterState()
  const dir = mkdtempSync(join(tmpdir(), 'kr-manifests-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'kubeconfig')
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

t.test('the delete-strategy component adds pod delete to the site Role, and nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kr-delete-component-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: legacy\nresources: [${relative(dir, join(BASE, 'rbac'))}]\ncomponents: [${relative(dir, join(BASE, 'rbac', 'delete-strategy'))}]\n`,
  )
  const role = find(await render(dir), 'Role', 'kube-recycler-site')
  const plain = find(await render(join(BASE, 'rbac')), 'Role', 'kube-recycler-site')
  t.same(
    plain.rules.filter((r: any) => r.verbs.includes('delete')),
    [],
    'the base site Role deletes nothing',
  )
  t.same(role.rules, [...plain.rules, { apiGroups: [''], resources: ['pods'], verbs: ['delete'] }])
})

t.test('kubectl apply --dry-run=server -k accepts k8s/ and k8s/examples/site/ as written', async (t) => {
  for (const dir of [BASE, SITE]) {
    const objs = await render(dir)
    const cleanup = await ensureNamespace(find(objs, 'Namespace'))
    t.teardown(cleanup)
    const { stdout, stderr } = await kubectlFull(['apply', '--dry-run=server', '-k', dir])
    const lines = stdout.trim().split('\n')
    t.equal(lines.length, objs.length, `${dir}: one line per object`, { stdout })
    t.ok(
      lines.every((l) => / \(server dry run\)$/.test(l)),
      'every object went through the API server (admission, validation)',
      { stdout },
    )
    // (A namespace someone else created without --save-config gets kubectl's last-applied notice: not ours.)
    const warnings = stderr.split('\n').filter((l) => l.trim() !== '' && !/last-applied-configuration/.test(l))
    t.same(warnings, [], 'no warnings (PodSecurity, unknown or deprecated fields)')
  }
  const base = await render(BASE)
  t.same(
    base.map((o) => o.kind).sort(),
    [
      'ConfigMap',
      'Deployment',
      'Namespace',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ],
    'one of each resource',
  )
  t.notOk(
    base.some((o) => o.kind === 'Secret'),
    'no Secret in the base: secret.example.yaml is not applied by -k',
  )
  t.ok(
    base.every((o) => o.kind === 'Namespace' || o.metadata.namespace === 'kube-recycler'),
    'everything in namespace kube-recycler',
  )
})

t.test(
  'the base, deployed for real: restricted pods, 2 replicas on 2 nodes, Service, PDB; least-privilege RBAC',
  async (t) => {
    const sys = `kr-base-${suffix()}`
    const site = `kr-site-${suffix()}`
    const other = `kr-other-${suffix()}`
    const base = retarget(await render(BASE), { 'kube-recycler': sys })
    t.teardown(await freshFrom(find(base, 'Namespace'), sys))
    t.teardown(await freshFrom(find(base, 'Namespace'), site))
    t.teardown(await freshFrom(find(base, 'Namespace'), other))

    // Pod Security "restricted" is enforced in these namespaces: a privileged pod is refused.
    await t.rejects(
      kubectl(['apply', '--dry-run=server', '-f', '-'], {
        namespace: sys,
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p' },
          spec: { containers: [{ name: 'c', image: 'x', securityContext: { privileged: true } }] },
        }),
      }),
      /violates PodSecurity "restricted/,
      'control: the API server enforces Pod Security here',
    )

    const secret = retarget(readYaml('k8s', 'secret.example.yaml'), { 'kube-recycler': sys })
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: secret }) })
    const rest = base.filter((o) => o.kind !== 'Namespace')
    const applied = await kubectlFull(
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rest }),
    )
    t.equal(applied.stderr, '', 'applied without warnings (PodSecurity, unknown or deprecated fields)')

    // The ReplicaSet controller can only create pods that pass "restricted".
    await rolledOut(sys, 'kube-recycler', 2)
    const pods = await readyPods(sys, 'app.kubernetes.io/name=kube-recycler')
    t.equal(pods.length, 2, '2 Ready replicas')
    t.equal(new Set(pods.map((p) => p.spec.nodeName)).size, 2, 'topology spread: the replicas are on different nodes')
    const pod = pods[0]
    const c = pod.spec.containers[0]
    t.equal(pod.spec.serviceAccountName, 'kube-recycler', 'runs as the ServiceAccount kube-recycler')
    t.match(
      pod.spec.securityContext,
      { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      'pod: non-root numeric user, seccomp RuntimeDefault',
    )
    t.match(
      c.securityContext,
      { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      'container: read-only root, no escalation, no capabilities',
    )
    t.match(c.livenessProbe.httpGet, { path: '/healthz' }, 'liveness /healthz')
    t.match(c.readinessProbe.httpGet, { path: '/readyz' }, 'readiness /readyz')
    t.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, 'requests and limits')
    t.equal(c.volumeMounts.find((m: any) => m.mountPath === '/tmp')?.name, 'tmp', '/tmp is the emptyDir')
    const configMap = find(base, 'ConfigMap')
    t.match(configMap.metadata.name, /^kube-recycler-config-[a-z0-9]+$/, 'kustomize hashed the ConfigMap name')
    t.equal(
      configMap.immutable,
      true,
      'the service config is immutable: nobody can change it, not even through the state RBAC',
    )
    t.equal(
      pod.spec.volumes.find((v: any) => v.name === 'config')?.configMap?.name,
      configMap.metadata.name,
      'the pods mount that ConfigMap',
    )
    const envNames = c.env.map((e: any) => e.name)
    for (const n of [
      'KUBE_RECYCLER_CONFIG',
      'KUBE_RECYCLER_WEBHOOK_SECRET',
      'KUBE_RECYCLER_WEBHOOK_TOKEN',
      'KUBE_RECYCLER_RECYCLE_TOKEN',
      'KUBE_RECYCLER_GIT_TOKEN',
    ])
      t.ok(envNames.includes(n), `env ${n}`)
    const secretKeys = Object.keys(secret[0]!.stringData).sort()
    t.same(
      c.env
        .filter((e: any) => e.valueFrom?.secretKeyRef)
        .map((e: any) => e.valueFrom.secretKeyRef.key)
        .sort(),
      secretKeys,
      'the example Secret has exactly the keys the Deployment reads',
    )

    const eps = await endpointsReady(sys, 'kube-recycler', 2)
    t.same(eps.ports, [8080], 'the Service sends to the pods on 8080')
    const pdb = await pdbStatus(sys, 'kube-recycler', 2)
    t.equal(pdb.disruptionsAllowed, 1, 'the PDB lets a drain take one replica, not two')

    // Site access, the documented way: kubectl apply -n <site> -k k8s/rbac (dry run shows where it lands) …
    const planned = JSON.parse(
      (await kubectlFull(['apply', '--dry-run=server', '-n', site, '-k', join(BASE, 'rbac'), '-o', 'json'])).stdout,
    )
    t.same(
      (planned.items ?? [planned]).map((o: Obj) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`).sort(),
      [`Role/${site}/kube-recycler-site`, `RoleBinding/${site}/kube-recycler-site`],
    )
    // … and for real, bound to this test's ServiceAccount.
    const siteRbac = retarget(await render(join(BASE, 'rbac')), { 'kube-recycler': sys })
    await kubectl(['apply', '-n', site, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: siteRbac }),
    })

    const as = `system:serviceaccount:${sys}:kube-recycler`
    const can = async (args: string[]) =>
      (await kubectl(['auth', 'can-i', `--as=${as}`, ...args]).catch((e: { stdout?: string }) => e.stdout ?? '')).trim()
    const yes: string[][] = [
      // the demo site's Deployment web, by name only (k8s/rbac/site-role.yaml)
      ...['get', 'watch', 'patch'].map((v) => [v, 'deployments/web', '-n', site]),
      ['get', 'replicasets', '-n', site],
      ['list', 'replicasets', '-n', site],
      ['get', 'controllerrevisions', '-n', site],
      ['list', 'controllerrevisions', '-n', site],
      ['get', 'pods', '-n', site],
      ['list', 'pods', '-n', site],
      ['create', 'pods', '--subresource=eviction', '-n', site],
      ['create', 'events', '-n', site],
      // its own namespace: the Lease, the state ConfigMaps and Events
      ['get', 'leases/kube-recycler', '-n', sys],
      ['update', 'leases/kube-recycler', '-n', sys],
      ['create', 'leases', '-n', sys],
      ['create', 'events', '-n', sys],
      // The shared service state: one ConfigMap per site in its own namespace,
      // read and replaced by name (the demo site's).
      ['get', 'configmaps/kube-recycler-site-shop', '-n', sys],
      ['update', 'configmaps/kube-recycler-site-shop', '-n', sys],
      ['list', 'configmaps', '-n', sys],
      ['watch', 'configmaps', '-n', sys],
      ['create', 'configmaps', '-n', sys],
    ]
    const no: string[][] = [
      // any other workload, and pod delete (only the delete-strategy component adds it)
      ...['get', 'watch', 'patch'].map((v) => [v, 'deployments/other', '-n', site]),
      ['list', 'deployments', '-n', site],
      ['patch', 'statefulsets/web', '-n', site],
      ['patch', 'daemonsets/web', '-n', site],
      ['delete', 'pods', '-n', site],
      ['get', 'secrets', '-n', site],
      ['list', 'secrets', '-n', site],
      ['get', 'configmaps', '-n', site],
      ['get', 'secrets', '-n', sys],
      ['list', 'secrets', '-n', sys],
      ['delete', 'configmaps', '-n', sys],
      ['get', 'configmaps', '-n', other],
      // Any other ConfigMap of its namespace, its config above all (immutable too).
      ['update', 'configmaps', '-n', sys],
      ['patch', 'configmaps', '-n', sys],
      ['get', 'configmaps', '-n', sys],
      ...['update', 'patch', 'delete'].map((v) => [v, `configmaps/${configMap.metadata.name}`, '-n', sys]),
      ['update', 'configmaps/kube-recycler-site-other', '-n', sys],
      ['create', 'deployments', '-n', site],
      ['delete', 'deployments', '-n', site],
      ['update', 'deployments', '-n', site],
      ['delete', 'statefulsets', '-n', site],
      ['create', 'daemonsets', '-n', site],
      ['patch', 'replicasets', '-n', site],
      ['create', 'pods', '-n', site],
      ['create', 'pods', '--subresource=exec', '-n', site],
      ['get', 'pods', '--subresource=log', '-n', site],
      ['patch', 'pods', '-n', site],
      ['create', 'roles', '-n', site],
      ['create', 'rolebindings', '-n', site],
      ['get', 'leases/other', '-n', sys],
      ['update', 'leases/other', '-n', sys],
      ['delete', 'leases/kube-recycler', '-n', sys],
      ['list', 'leases', '-n', sys],
      ['patch', 'deployments', '-n', sys],
      ['delete', 'pods', '-n', sys],
      ['get', 'deployments', '-n', other],
      ['patch', 'deployments', '-n', other],
      ['delete', 'pods', '-n', other],
      ['create', 'events', '-n', other],
      ['create', 'leases', '-n', other],
      ['get', 'deployments', '-A'],
      ['create', 'namespaces'],
      ['delete', 'namespaces'],
      ['patch', 'nodes'],
      ['create', 'clusterroles'],
      ['create', 'clusterrolebindings'],
      ['create', 'persistentvolumes'],
      ['create', 'certificatesigningrequests'],
    ]
    for (const a of yes) t.equal(await can(a), 'yes', `can ${a.join(' ')}`)
    for (const a of no) t.equal(await can(a), 'no', `cannot ${a.join(' ')}`)

    // The service's own Lease code, authenticated as the ServiceAccount, in the
    // namespace the pods get as POD_NAMESPACE: create, renew, release.
    t.same(
      c.env.find((e: any) => e.name === 'POD_NAMESPACE')?.valueFrom,
      { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
      'POD_NAMESPACE from the downward API',
    )
    const kube = createKube({
      kubeconfig: saKubeconfig(
        t,
        (await kubectl(['create', 'token', 'kube-recycler', '--duration=10m'], { namespace: sys })).trim(),
      ),
      logger: quietLogger(),
      env: {},
    })
    t.teardown(() => kube.close())
    const lease = kube.lease(sys, 'kube-recycler')
    t.equal(await lease.read(), undefined, 'no Lease yet (get allowed)')
    const created = await lease.write('replica-a', undefined, Date.now(), 15)
    t.equal(created.holder, 'replica-a', 'created')
    const renewed = await lease.write('replica-a', created, Date.now(), 15)
    t.not(renewed.resourceVersion, created.resourceVersion, 'renewed (update allowed)')
    const released = await lease.write(undefined, renewed, Date.now(), 1)
    t.equal(released.holder, undefined, 'released')
    await t.rejects(kube.lease(sys, 'someone-else').read(), /forbidden/i, 'another Lease cannot be read')
    // The state store's calls, as the ServiceAccount: list, create, replace, a 409 on a stale version.
    const objects = kube.objects(sys)
    t.equal((await objects.list()).items.size, 0, 'list allowed')
    const v1 = await objects.write('kube-recycler-site-shop', '{}', undefined)
    const v2 = await objects.write('kube-recycler-site-shop', '{"a":1}', v1)
    t.not(v2, v1, 'replaced (update allowed)')
    await t.rejects(
      objects.write('kube-recycler-site-shop', '{"a":2}', v1),
      { code: 'KR_KUBE_CONFLICT' },
      'a stale write is refused',
    )
    t.equal((await objects.read('kube-recycler-site-shop'))?.data, '{"a":1}')
  },
)

t.test('the demo site rolls out, and the engine as the ServiceAccount rolls it onto a commit', async (t) => {
  const sys = `kr-sys-${suffix()}`
  const shop = `kr-shop-${suffix()}`
  const siteObjs = retarget(await render(SITE), { shop, 'kube-recycler': sys })
  t.teardown(await freshFrom(find(siteObjs, 'Namespace'), sys))
  t.teardown(await freshFrom(find(siteObjs, 'Namespace'), shop))
  const baseRbac = retarget(await render(BASE), { 'kube-recycler': sys }).filter((o) => o.kind === 'ServiceAccount')
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: baseRbac }) })
  const applied = await kubectlFull(
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: siteObjs.filter((o) => o.kind !== 'Namespace') }),
  )
  t.equal(applied.stderr, '', 'applied without warnings (PodSecurity, unknown or deprecated fields)')

  const web = find(siteObjs, 'Deployment', 'web')
  const replicas = web.spec.replicas as number
  await rolledOut(shop, 'web', replicas)
  t.equal((await endpointsReady(shop, 'web', replicas)).count, replicas, 'the Service balances across every replica')
  const pdb = await pdbStatus(shop, 'web', replicas)
  t.equal(pdb.disruptionsAllowed, 1, 'the PDB allows one disruption at a time')
  const init = web.spec.template.spec.initContainers[0]
  t.match(
    init.env.find((e: any) => e.name === 'PINNED_COMMIT')?.valueFrom?.fieldRef?.fieldPath,
    "metadata.annotations['kube-recycler.io/commit']",
    'the init container reads the pinned commit through the downward API',
  )
  t.notOk(
    [...web.spec.template.spec.containers, init].some((c: any) =>
      (c.env ?? []).some((e: any) => e.name === 'SITE_COMMIT'),
    ),
    'SITE_COMMIT is left to kube-recycler, not declared',
  )
  t.ok(
    web.spec.template.spec.containers[0].readinessProbe && web.spec.template.spec.containers[0].livenessProbe,
    'readiness and liveness probes',
  )

  // The engine, authenticated as the ServiceAccount the site RoleBinding names.
  const token = (await kubectl(['create', 'token', 'kube-recycler', '--duration=10m'], { namespace: sys })).trim()
  const { engine } = realEngine(saKubeconfig(t, token), 'manifests-test')
  const r = await runOnce(
    engine,
    siteFor(
      `{ kind: Deployment, namespace: ${shop}, name: web }`,
      '{ strategy: rollout, commitEnv: SITE_COMMIT, timeout: 90s }',
    ),
    { commit: COMMIT },
  )
  t.equal(r.outcome.state, 'succeeded', 'the rollout as the ServiceAccount succeeded', {
    outcome: r.outcome,
    steps: r.steps,
  })

  const live = await kubectlJson(['get', 'deployment', 'web'], { namespace: shop })
  const tpl = live.spec.template
  t.equal(tpl.metadata.annotations['kube-recycler.io/commit'], COMMIT, 'the template carries the pinned commit')
  t.ok(tpl.metadata.annotations['kubectl.kubernetes.io/restartedAt'], 'and restartedAt')
  const liveInit = tpl.spec.initContainers[0]
  t.same(
    liveInit.env.find((e: any) => e.name === 'SITE_COMMIT'),
    { name: 'SITE_COMMIT', value: COMMIT },
    'SITE_COMMIT set on the init container',
  )
  t.ok(liveInit.env.find((e: any) => e.name === 'PINNED_COMMIT')?.valueFrom, 'the downward-API variable is untouched')
  const fresh = await readyPods(shop, 'app.kubernetes.io/name=web')
  t.equal(fresh.length, replicas, 'every replica Ready after the rollout')
  t.ok(
    fresh.every((p) => p.metadata.annotations?.['kube-recycler.io/commit'] === COMMIT),
    'every Ready pod is on the pinned commit',
  )
})

t.test("the ConfigMap's config passes the loader and points at the demo site", async (t) => {
  const base = await render(BASE)
  const text = find(base, 'ConfigMap').data['config.yaml'] as string
  t.equal(text, readFileSync(join(BASE, 'config.yaml'), 'utf8'), 'the ConfigMap carries k8s/config.yaml')
  const config = parseConfig(text, 'k8s/config.yaml')
  const deployment = find(base, 'Deployment')
  const c = deployment.spec.template.spec.containers[0]
  const mount = c.volumeMounts.find((m: any) => m.name === 'config').mountPath
  t.equal(
    c.env.find((e: any) => e.name === 'KUBE_RECYCLER_CONFIG').value,
    `${mount}/config.yaml`,
    'KUBE_RECYCLER_CONFIG names the mounted file',
  )
  t.equal(config.service.namespace, 'kube-recycler', 'the Lease namespace is the base namespace')

  const site = await render(SITE)
  const web = find(site, 'Deployment', 'web')
  const svc = find(site, 'Service', 'web')
  const shop = config.sites.find((s) => s.name === 'shop')!
  t.same(
    shop.target,
    { kind: 'Deployment', namespace: web.metadata.namespace, name: web.metadata.name },
    'the site entry targets the demo Deployment',
  )
  t.equal(shop.recycle.strategy, 'rollout', 'strategy rollout (the init container pattern)')
  t.equal(shop.recycle.commitEnv, 'SITE_COMMIT', 'the env var the init container reads')
  for (const check of shop.checks) {
    const u = new URL(check.url)
    t.equal(
      u.hostname,
      `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`,
      `${check.name} calls the demo Service`,
    )
    t.equal(Number(u.port || 80), svc.spec.ports[0].port, `${check.name} uses the Service port`)
  }
  const init = web.spec.template.spec.initContainers[0]
  const envOf = (n: string) => init.env.find((e: any) => e.name === n)?.value
  t.equal(shop.git?.repo, envOf('SITE_REPO'), 'kube-recycler resolves the head of the repository the site clones')
  t.equal(shop.git?.branch, envOf('SITE_BRANCH'), 'and its branch')

  // The README's copy of the entry says the same as the file.
  const readme = readFileSync(join(SITE, 'README.md'), 'utf8')
  const snippet = /## The config entry[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1]
  t.ok(snippet, 'the demo README shows the config entry')
  const shown = parseConfig(snippet!, 'k8s/examples/site/README.md').sites[0]!
  const gist = (x: typeof shop) => ({
    name: x.name,
    target: x.target,
    jobs: x.jenkins.jobs,
    checks: x.checks,
    strategy: x.recycle.strategy,
    commitEnv: x.recycle.commitEnv,
    git: x.git,
  })
  t.same(gist(shown), gist(shop), 'and it is the entry in k8s/config.yaml (target, jobs, checks, strategy, git)')

  // The NetworkPolicy lets the probes reach those pods on their container port.
  const np = find(base, 'NetworkPolicy')
  const siteRule = np.spec.egress.find((r: any) =>
    r.to?.some(
      (p: any) => p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === web.metadata.namespace,
    ),
  )
  t.ok(siteRule, 'an egress rule for the site namespace')
  t.match(web.spec.template.metadata.labels, siteRule.to[0].podSelector.matchLabels, 'it selects the site pods')
  t.same(
    siteRule.ports.map((p: any) => p.port),
    [web.spec.template.spec.containers[0].ports[0].containerPort],
    'on the container port',
  )
  t.same(np.spec.ingress[0].ports, [{ protocol: 'TCP', port: 8080 }], 'ingress only to 8080')
})

t.test("the demo site's init container checks out the pinned commit (real git server)", async (t) => {
  const web = find(readYaml('k8s', 'examples', 'site', 'deployment.yaml'), 'Deployment', 'web')
  const init = web.spec.template.spec.initContainers[0]
  const literal = Object.fromEntries(
    init.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value as string]),
  )
  const server = await startGitServer({ username: 'site', password: 'site-pass-1f2e3d' })
  t.teardown(() => server.close())
  const repo = await server.createRepo('shop-site')
  const first = await repo.head()
  const second = await repo.push('second')
  const head = await repo.push('third')

  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; out: string; dir: string }>((resolve) => {
      const dir = mkdtempSync(join(tmpdir(), 'kr-site-'))
      const home = mkdtempSync(join(tmpdir(), 'kr-home-'))
      const child = spawn(init.command[0], [...init.command.slice(1), ...init.args], {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          ...literal,
          HOME: home,
          TMPDIR: home,
          SITE_REPO: server.url('shop-site'),
          SITE_DIR: dir,
          GIT_USERNAME: 'site',
          GIT_PASSWORD: 'site-pass-1f2e3d',
          ...env,
        },
      })
      let out = ''
      child.stdout.on('data', (d) => {
        out += String(d)
      })
      child.stderr.on('data', (d) => {
        out += String(d)
      })
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
      child.on('close', (code) => {
        clearTimeout(timer)
        rmSync(home, { recursive: true, force: true })
        resolve({ code, out, dir })
      })
    })
  const version = (dir: string) => JSON.parse(readFileSync(join(dir, 'version.json'), 'utf8'))

  const pinned = await run({ PINNED_COMMIT: second })
  t.equal(pinned.code, 0, 'pinned by the annotation: exit 0', { output: pinned.out })
  t.same(version(pinned.dir), { commit: second, branch: 'production' }, 'the annotation (downward API) pins the commit')
  t.notOk(existsSync(join(pinned.dir, '.git')), 'no .git directory in what the web server serves')
  t.notMatch(readdirSync(pinned.dir).join(','), /token|askpass|credential/, 'no credential file in the web root')

  const env = await run({ SITE_COMMIT: first, PINNED_COMMIT: second })
  t.equal(env.code, 0, 'pinned by SITE_COMMIT: exit 0', { output: env.out })
  t.equal(version(env.dir).commit, first, 'SITE_COMMIT wins over the annotation')

  const unpinned = await run({ PINNED_COMMIT: '' })
  t.equal(unpinned.code, 0, 'unpinned: exit 0', { output: unpinned.out })
  t.equal(version(unpinned.dir).commit, head, 'unpinned (empty annotation): the head of production')
  t.match(unpinned.out, /no pinned commit/, 'says it is unpinned')

  const stranger = await run({ SITE_COMMIT: 'ffffffffffffffffffffffffffffffffffffffff' })
  t.not(stranger.code, 0, 'a commit that is not on production is refused')
  t.match(stranger.out, /not on branch production/, 'and says why')

  t.ok(
    server.requests.some((r) => r.user === 'site'),
    'credentials went through the credential helper',
  )
  t.notOk(
    server.requests.some((r) => r.path.includes('site-pass') || r.query.includes('site-pass')),
    'the password is in no URL',
  )
  for (const r of [pinned, env, unpinned, stranger]) rmSync(r.dir, { recursive: true, force: true })
})
