// The local control plane (test/cluster) is a real Kubernetes: real
// apiserver + controllers + scheduler, with kwok playing the kubelets of 3
// fake nodes. These tests prove the parts the recycler relies on work.

import t from 'tap'
import { clusterState, freshNamespace, kubectl, kubectlJson, KubectlError } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'

t.setTimeout(240_000)

interface Condition {
  type: string
  status: string
}
interface Pod {
  metadata: { name: string; ownerReferences?: Array<{ kind: string }> }
  spec: { nodeName?: string }
  status: { phase?: string; podIP?: string; conditions?: Condition[]; containerStatuses?: Array<{ ready: boolean }> }
}

const state = clusterState()
const ns = await freshNamespace('cluster-test')
t.teardown(ns.cleanup)
const n = ns.name

const isReady = (p: Pod): boolean =>
  p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
const pods = async (selector: string): Promise<Pod[]> =>
  (await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-l', selector], { namespace: n })).items
const pod = (name: string): Promise<Pod> => kubectlJson<Pod>(['get', 'pod', name], { namespace: n })
const apply = (manifest: object): Promise<string> =>
  kubectl(['apply', '-f', '-'], { namespace: n, input: JSON.stringify(manifest) })

function deployment(
  name: string,
  replicas: number,
  podExtra: { annotations?: Record<string, string>; spec?: object } = {},
): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations: podExtra.annotations ?? {} },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27' }], ...podExtra.spec },
      },
    },
  }
}

const nodeNames = (
  await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'nodes', '-l', 'type=kwok'])
).items.map((x) => x.metadata.name)

t.test('3 fake nodes are Ready and schedulable', async (t) => {
  t.match(state.apiserver, /^https:\/\/127\.0\.0\.1:\d+$/)
  const nodes = (await kubectlJson<{ items: any[] }>(['get', 'nodes', '-l', 'type=kwok'])).items
  t.equal(nodes.length, 3)
  for (const node of nodes) {
    t.same(node.spec.taints ?? [], [], `${node.metadata.name} has no taints`)
    t.ok(
      node.status.conditions.some((c: Condition) => c.type === 'Ready' && c.status === 'True'),
      `${node.metadata.name} Ready`,
    )
  }
})

t.test('a 3-replica Deployment becomes 3/3 available; the ReplicaSet replaces a deleted pod', async (t) => {
  await apply(deployment('web', 3))
  await waitFor(
    async () => {
      const d = await kubectlJson<any>(['get', 'deployment', 'web'], { namespace: n })
      return d.status.availableReplicas === 3 && d.status.readyReplicas === 3
    },
    { timeoutMs: 60_000, description: 'deployment web 3/3 available' },
  )
  const before = await pods('app=web')
  t.equal(before.length, 3)
  for (const p of before) {
    t.ok(
      nodeNames.includes(p.spec.nodeName ?? ''),
      `${p.metadata.name} scheduled onto a kwok node (${p.spec.nodeName})`,
    )
    t.equal(p.status.phase, 'Running')
    t.ok(isReady(p), `${p.metadata.name} Ready`)
    t.equal(p.metadata.ownerReferences?.[0]?.kind, 'ReplicaSet')
  }

  const victim = before[0]!.metadata.name
  await kubectl(['delete', 'pod', victim, '--wait=true', '--timeout=30s'], { namespace: n })
  const after = await waitFor(
    async () => {
      const now = await pods('app=web')
      const fresh = now.filter((p) => !before.some((b) => b.metadata.name === p.metadata.name))
      return now.length === 3 &&
        fresh.length === 1 &&
        now.every(isReady) &&
        !now.some((p) => p.metadata.name === victim)
        ? now
        : false
    },
    { timeoutMs: 60_000, description: 'a replacement pod' },
  )
  t.equal(after.length, 3, 'back to 3 Ready pods, with a new name replacing the deleted one')
})

t.test('a DaemonSet places one pod on each of the 3 nodes', async (t) => {
  await apply({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: {
        metadata: { labels: { app: 'agent' } },
        spec: { containers: [{ name: 'agent', image: 'busybox:1.36' }] },
      },
    },
  })
  await waitFor(
    async () => {
      const ds = await kubectlJson<any>(['get', 'daemonset', 'agent'], { namespace: n })
      return ds.status.desiredNumberScheduled === 3 && ds.status.numberReady === 3
    },
    { timeoutMs: 60_000, description: 'daemonset agent 3 ready' },
  )
  const ps = await pods('app=agent')
  t.equal(ps.length, 3)
  t.same([...new Set(ps.map((p) => p.spec.nodeName))].sort(), [...nodeNames].sort(), 'one pod per node')
})

t.test('a StatefulSet rolls out its pods in order', async (t) => {
  await apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'db' },
    spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 5432 }] },
  })
  await apply({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db' },
    spec: {
      serviceName: 'db',
      replicas: 2,
      selector: { matchLabels: { app: 'db' } },
      template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'postgres:17' }] } },
    },
  })
  await waitFor(
    async () => (await kubectlJson<any>(['get', 'statefulset', 'db'], { namespace: n })).status.readyReplicas === 2,
    { timeoutMs: 60_000, description: 'statefulset db 2 ready' },
  )
  t.same((await pods('app=db')).map((p) => p.metadata.name).sort(), ['db-0', 'db-1'])
})

t.test('TokenRequest tokens authenticate; RBAC allows what is bound and denies the rest', async (t) => {
  await kubectl(['create', 'serviceaccount', 'robot'], { namespace: n })
  await kubectl(['create', 'role', 'pod-reader', '--verb=get,list,watch', '--resource=pods'], { namespace: n })
  await kubectl(['create', 'rolebinding', 'robot-reads-pods', '--role=pod-reader', `--serviceaccount=${n}:robot`], {
    namespace: n,
  })
  // `kubectl create token` is the TokenRequest API (serviceaccounts/token).
  const token = (await kubectl(['create', 'token', 'robot', '--duration=10m'], { namespace: n })).trim()
  t.match(token, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT')

  const who = await kubectlJson<any>(['auth', 'whoami'], { token })
  t.equal(who.status.userInfo.username, `system:serviceaccount:${n}:robot`)

  await waitFor(
    async () => (await kubectl(['auth', 'can-i', 'list', 'pods'], { namespace: n, token })).trim() === 'yes',
    { timeoutMs: 10_000, description: 'rolebinding effective' },
  )
  await kubectl(['get', 'pods'], { namespace: n, token })
  t.pass('the ServiceAccount may list pods in its namespace')

  const canSecrets = await kubectl(['auth', 'can-i', 'get', 'secrets'], { namespace: n, token }).then(
    (out) => out.trim(),
    (e: unknown) => (e instanceof KubectlError ? e.stdout.trim() : String(e)),
  )
  t.equal(canSecrets, 'no', 'auth can-i get secrets: no')
  const denied = await kubectl(['get', 'secrets'], { namespace: n, token }).then(
    () => null,
    (e: unknown) => e,
  )
  t.ok(denied instanceof KubectlError, 'reading secrets fails')
  t.match((denied as KubectlError).stderr, /forbidden/i)
  t.match((denied as KubectlError).stderr, new RegExp(`system:serviceaccount:${n}:robot`))

  const bogus = await kubectl(['get', 'pods'], { namespace: n, token: `${token.slice(0, -4)}AAAA` }).then(
    () => null,
    (e: unknown) => e,
  )
  t.match((bogus as KubectlError).stderr, /Unauthorized|must be logged in/i, 'a tampered token is rejected')
})

t.test('never-ready pods stay NotReady while normal pods are Ready', async (t) => {
  await apply(deployment('normal', 1))
  // Mechanism A: a readiness gate nobody sets (real kubelet semantics).
  await apply(deployment('gated', 1, { spec: { readinessGates: [{ conditionType: 'kube-recycler.test/never' }] } }))
  // Mechanism B: the simulated readiness probe fails.
  await apply(deployment('probe-fails', 1, { annotations: { 'kube-recycler.test/ready': 'false' } }))

  const running = async (app: string): Promise<Pod> =>
    waitFor(
      async () => {
        const [p] = await pods(`app=${app}`)
        return p && p.status.phase === 'Running' && p.status.podIP ? p : undefined
      },
      { timeoutMs: 60_000, description: `${app} pod running` },
    )
  const normal = await waitFor(
    async () => {
      const p = await running('normal')
      return isReady(p) ? p : undefined
    },
    { timeoutMs: 60_000, description: 'normal pod Ready' },
  )
  const gated = await running('gated')
  const probe = await running('probe-fails')

  // Watch for 5 s: both stay NotReady (and Running), the normal one stays Ready.
  const until = Date.now() + 5_000
  let samples = 0
  while (Date.now() < until) {
    const [g, p, ok] = await Promise.all([
      pod(gated.metadata.name),
      pod(probe.metadata.name),
      pod(normal.metadata.name),
    ])
    if (isReady(g) || isReady(p) || !isReady(ok) || g.status.phase !== 'Running' || p.status.phase !== 'Running') {
      t.fail('readiness changed', { gated: g.status, probe: p.status, normal: ok.status })
      break
    }
    samples++
    await new Promise((r) => setTimeout(r, 500))
  }
  t.ok(samples >= 5, `stayed NotReady over ${samples} samples in 5 s`)
  const g = await pod(gated.metadata.name)
  t.equal(
    g.status.conditions?.find((c) => c.type === 'ContainersReady')?.status,
    'True',
    'gated: containers ready, gate is not',
  )
  t.notOk(
    g.status.conditions?.some((c) => c.type === 'kube-recycler.test/never'),
    'kwok did not set the gate condition',
  )
  const p = await pod(probe.metadata.name)
  t.same(
    p.status.containerStatuses?.map((c) => c.ready),
    [false],
    'probe-fails: container not ready',
  )
  const d = await kubectlJson<any>(['get', 'deployment', 'gated'], { namespace: n })
  t.notOk(d.status.availableReplicas, 'the gated Deployment has no available replica')

  await t.test('setting the gate condition makes the pod Ready (as with a real kubelet)', async (t) => {
    await kubectl(
      [
        'patch',
        'pod',
        gated.metadata.name,
        '--subresource=status',
        '--type=strategic',
        '-p',
        JSON.stringify({ status: { conditions: [{ type: 'kube-recycler.test/never', status: 'True' }] } }),
      ],
      { namespace: n },
    )
    await waitFor(async () => isReady(await pod(gated.metadata.name)), {
      timeoutMs: 20_000,
      description: 'gated pod Ready',
    })
    t.pass('Ready')
  })
  await t.test('the probe annotation toggles readiness of a running pod', async (t) => {
    await kubectl(['annotate', 'pod', probe.metadata.name, 'kube-recycler.test/ready-'], { namespace: n })
    await waitFor(async () => isReady(await pod(probe.metadata.name)), {
      timeoutMs: 20_000,
      description: 'probe pod Ready',
    })
    await kubectl(['annotate', 'pod', normal.metadata.name, 'kube-recycler.test/ready=false'], { namespace: n })
    await waitFor(async () => !isReady(await pod(normal.metadata.name)), {
      timeoutMs: 20_000,
      description: 'normal pod NotReady',
    })
    t.pass('toggled both ways')
  })
})
