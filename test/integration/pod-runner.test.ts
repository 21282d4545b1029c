// The test cluster's pod runner (test/cluster/pod-runner): pods of a
// namespace opted in with freshNamespace(prefix, { runPods: true }) run as
// local processes on loopback pod IPs, with probes, restarts, the kubelet's
// status and graceful deletion; Services get a local address that balances
// over the Ready pods. Pods of other namespaces stay inert kwok pods.

import t from 'tap'
import { freshNamespace, kubectl, kubectlJson, podLog, serviceUrl } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { httpGet, nodeServerContainer } from '../fixtures/run-pods.ts'

t.setTimeout(280_000)

const ns = await freshNamespace('pod-runner', { runPods: true })
t.teardown(ns.cleanup)
const n = ns.name
const apply = (manifest: object): Promise<string> =>
  kubectl(['apply', '-f', '-'], { namespace: n, input: JSON.stringify(manifest) })
const getPod = (name: string): Promise<any> => kubectlJson<any>(['get', 'pod', name], { namespace: n })
const podsOf = async (selector: string): Promise<any[]> =>
  (await kubectlJson<{ items: any[] }>(['get', 'pods', '-l', selector], { namespace: n })).items
const cond = (p: any, type: string): string | undefined =>
  p.status?.conditions?.find((c: any) => c.type === type)?.status
const isReady = (p: any) => cond(p, 'Ready') === 'True'
/** The STATUS column of `kubectl get pod`. */
const statusColumn = async (name: string) =>
  (await kubectl(['get', 'pod', name, '--no-headers'], { namespace: n })).trim().split(/\s+/)[2]

function deployment(name: string, replicas: number, podSpec: object, annotations: Record<string, string> = {}): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations },
        spec: { terminationGracePeriodSeconds: 5, ...podSpec },
      },
    },
  }
}

function pod(name: string, spec: object, annotations: Record<string, string> = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { test: name }, annotations },
    spec: { terminationGracePeriodSeconds: 5, ...spec },
  }
}

const readinessProbe = { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 1 }

t.test(
  'a Deployment runs as processes on loopback pod IPs; the readiness probe decides Ready and availability',
  async (t) => {
    await apply(deployment('api', 2, { containers: [nodeServerContainer({ readinessProbe })] }))
    const running = await waitFor(
      async () => {
        const ps = await podsOf('app=api')
        return ps.length === 2 &&
          ps.every((p) => p.status.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running)
          ? ps
          : undefined
      },
      { timeoutMs: 60_000, description: 'api pods Running' },
    )
    for (const p of running) {
      t.match(p.spec.nodeName, /^run-node-\d$/, 'on a runner node')
      t.match(p.status.podIP, /^127\.77\.\d+\.\d+$/, 'a loopback pod IP')
      t.same(p.status.podIPs, [{ ip: p.status.podIP }])
      t.equal(p.status.hostIP, '127.0.0.1')
      t.ok(p.status.startTime)
      t.equal(cond(p, 'Ready'), 'False', 'not Ready: the readiness probe fails (START_READY unset)')
      t.equal(cond(p, 'ContainersReady'), 'False')
      t.equal(cond(p, 'Initialized'), 'True')
      t.equal(cond(p, 'PodReadyToStartContainers'), 'True')
      const cs = p.status.containerStatuses[0]
      t.match(cs, { name: 'app', ready: false, started: true, restartCount: 0, image: 'node:24-alpine' })
      t.match(cs.containerID, /^pod-runner:\/\//)
      t.match(cs.imageID, /^docker\.io\/node@sha256:[0-9a-f]{64}$/)
      // Running means started, not yet listening (as with a kubelet): retry until it answers
      const hello = await waitFor(() => httpGet(`http://${p.status.podIP}:8080/`), {
        timeoutMs: 10_000,
        description: 'the process answers',
      })
      t.equal(hello.body, `hello from ${p.metadata.name}`, 'the process serves on its pod IP')
    }
    let d = await kubectlJson<any>(['get', 'deployment', 'api'], { namespace: n })
    t.notOk(d.status.availableReplicas, 'no replica available while NotReady')

    for (const p of running) await httpGet(`http://${p.status.podIP}:8080/set?ready=1`)
    await waitFor(
      async () =>
        (await kubectlJson<any>(['get', 'deployment', 'api'], { namespace: n })).status.availableReplicas === 2,
      { timeoutMs: 30_000, description: 'deployment api 2 available' },
    )
    const ready = await podsOf('app=api')
    t.ok(ready.every(isReady), 'both pods Ready once the probe passes')
    t.ok(
      ready.every((p) => p.status.containerStatuses[0].ready),
      'containerStatuses[].ready',
    )

    await httpGet(`http://${ready[0].status.podIP}:8080/set?ready=0`)
    await waitFor(async () => !isReady(await getPod(ready[0].metadata.name)), {
      timeoutMs: 15_000,
      description: 'pod NotReady again',
    })
    d = await kubectlJson<any>(['get', 'deployment', 'api'], { namespace: n })
    t.equal(d.status.readyReplicas, 1, 'the Deployment counts one ready replica')
    await httpGet(`http://${ready[0].status.podIP}:8080/set?ready=1`)
  },
)

t.test('a Service address balances over the Ready pods only', async (t) => {
  await apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'api' },
    spec: { selector: { app: 'api' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
  })
  const url = await serviceUrl(n, 'api')
  t.match(url, /^http:\/\/127\.78\.\d+\.\d+:\d+$/)
  t.equal(await serviceUrl(n, 'api', 'web'), url, 'by port name')
  t.equal(await serviceUrl(n, 'api', 80), url, 'by port number')
  const svc = await kubectlJson<any>(['get', 'service', 'api'], { namespace: n })
  t.equal(`http://${svc.metadata.annotations['kube-recycler.test/address']}`, url, 'the address is on the Service too')

  const ps = await waitFor(
    async () => {
      const p = await podsOf('app=api')
      return p.length === 2 && p.every(isReady) ? p : undefined
    },
    { timeoutMs: 20_000, description: 'both api pods Ready' },
  )
  const seen = new Map<string, number>()
  for (let i = 0; i < 10; i++) {
    const r = await httpGet(`${url}/`)
    seen.set(r.body, (seen.get(r.body) ?? 0) + 1)
  }
  t.same([...seen.keys()].sort(), ps.map((p) => `hello from ${p.metadata.name}`).sort(), 'both Ready pods answer')
  t.same([...seen.values()], [5, 5], 'round-robin')

  const [off, on] = ps
  await httpGet(`http://${off.status.podIP}:8080/set?ready=0`)
  await waitFor(async () => !isReady(await getPod(off.metadata.name)), {
    timeoutMs: 15_000,
    description: 'one pod NotReady',
  })
  const bodies = new Set<string>()
  for (let i = 0; i < 6; i++) bodies.add((await httpGet(`${url}/`)).body)
  t.same([...bodies], [`hello from ${on.metadata.name}`], 'a NotReady pod gets no traffic')

  await httpGet(`http://${on.status.podIP}:8080/set?ready=0`)
  await waitFor(async () => !isReady(await getPod(on.metadata.name)), {
    timeoutMs: 15_000,
    description: 'no pod Ready',
  })
  await t.rejects(httpGet(`${url}/`), 'no Ready endpoint: the connection is refused')
  for (const p of ps) await httpGet(`http://${p.status.podIP}:8080/set?ready=1`)
})

t.test('env and volumes as the kubelet resolves them, mount paths mapped onto host directories', async (t) => {
  await apply({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'settings' },
    data: { COLOR: 'blue', 'greeting.txt': 'hello volume' },
  })
  await apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'creds' },
    stringData: { password: 'hunter2', token: 't0k' },
  })
  await apply(
    pod(
      'env',
      {
        containers: [
          nodeServerContainer({
            env: [
              { name: 'FIRST', value: 'one' },
              { name: 'SECOND', value: '$(FIRST)-two $$(FIRST)' },
              {
                name: 'COMMIT',
                valueFrom: { fieldRef: { fieldPath: "metadata.annotations['kube-recycler.io/commit']" } },
              },
              { name: 'APP_LABEL', valueFrom: { fieldRef: { fieldPath: "metadata.labels['test']" } } },
              { name: 'MY_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'MY_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'MY_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
              { name: 'COLOR_REF', valueFrom: { configMapKeyRef: { name: 'settings', key: 'COLOR' } } },
              { name: 'MISSING_OK', valueFrom: { secretKeyRef: { name: 'nope', key: 'x', optional: true } } },
              { name: 'CONF_DIR', value: '/etc/settings' },
              { name: 'CREDS_FILE', value: '/etc/creds/token' },
              { name: 'INFO_DIR', value: '/etc/podinfo' },
              { name: 'OTHER', value: '/usr/lib' },
            ],
            envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CM_' }, { secretRef: { name: 'creds' } }],
            volumeMounts: [
              { name: 'settings', mountPath: '/etc/settings' },
              { name: 'creds', mountPath: '/etc/creds', readOnly: true },
              { name: 'podinfo', mountPath: '/etc/podinfo' },
              { name: 'tmp', mountPath: '/tmp' },
            ],
          }),
        ],
        volumes: [
          { name: 'settings', configMap: { name: 'settings' } },
          { name: 'creds', secret: { secretName: 'creds' } },
          {
            name: 'podinfo',
            downwardAPI: {
              items: [
                { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
                { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
              ],
            },
          },
          { name: 'tmp', emptyDir: {} },
        ],
      },
      { 'kube-recycler.io/commit': 'abc123' },
    ),
  )
  const p = await waitFor(
    async () => {
      const x = await getPod('env')
      return x.status.containerStatuses?.[0]?.state?.running ? x : undefined
    },
    { timeoutMs: 30_000, description: 'pod env running' },
  )
  const base = `http://${p.status.podIP}:8080`
  const env = await waitFor(async () => JSON.parse((await httpGet(`${base}/env`)).body), {
    timeoutMs: 10_000,
    description: 'env served',
  })
  t.match(env, {
    FIRST: 'one',
    SECOND: 'one-two $(FIRST)',
    COMMIT: 'abc123',
    APP_LABEL: 'env',
    MY_NAME: 'env',
    MY_NS: n,
    MY_UID: p.metadata.uid,
    PASSWORD: 'hunter2',
    COLOR_REF: 'blue',
    CM_COLOR: 'blue',
    password: 'hunter2',
    token: 't0k',
    OTHER: '/usr/lib',
    HOSTNAME: 'env',
  })
  t.notOk('MISSING_OK' in env, 'an optional missing reference sets nothing')
  t.notOk('CM_greeting.txt' in env && false)
  t.not(env.CONF_DIR, '/etc/settings', 'a mount path in env is mapped onto its host directory')
  t.ok(env.TMPDIR, 'TMPDIR set: /tmp is a mount')
  t.equal(
    (await httpGet(`${base}/file?p=${encodeURIComponent(`${env.CONF_DIR}/greeting.txt`)}`)).body,
    'hello volume',
    'configMap volume',
  )
  t.equal(
    (await httpGet(`${base}/file?p=${encodeURIComponent(env.CREDS_FILE)}`)).body,
    't0k',
    'secret volume, a path under a mount mapped',
  )
  t.equal(
    (await httpGet(`${base}/file?p=${encodeURIComponent(`${env.INFO_DIR}/name`)}`)).body,
    'env',
    'downwardAPI volume',
  )
  t.match(
    (await httpGet(`${base}/file?p=${encodeURIComponent(`${env.INFO_DIR}/annotations`)}`)).body,
    'kube-recycler.io/commit="abc123"',
  )
})

t.test('nginx serves the volume an init container filled; 3 replicas become available', async (t) => {
  const started = Date.now()
  await apply(
    deployment('site', 3, {
      initContainers: [
        {
          name: 'fill',
          image: 'busybox:1.36',
          command: ['sh', '-c', 'echo "<h1>site of $POD_NAME</h1>" > "$SITE_DIR/index.html"'],
          env: [
            { name: 'SITE_DIR', value: '/site' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          ],
          volumeMounts: [{ name: 'site', mountPath: '/site' }],
        },
      ],
      containers: [
        {
          name: 'web',
          image: 'nginxinc/nginx-unprivileged:1.27-alpine',
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
          volumeMounts: [{ name: 'site', mountPath: '/usr/share/nginx/html', readOnly: true }],
        },
      ],
      volumes: [{ name: 'site', emptyDir: {} }],
    }),
  )
  await waitFor(
    async () =>
      (await kubectlJson<any>(['get', 'deployment', 'site'], { namespace: n })).status.availableReplicas === 3,
    { timeoutMs: 60_000, intervalMs: 100, description: 'deployment site 3 available' },
  )
  const seconds = (Date.now() - started) / 1000
  t.comment(`3 nginx pods (init container + readiness probe) available in ${seconds.toFixed(1)} s`)
  for (const p of await podsOf('app=site')) {
    const r = await httpGet(`http://${p.status.podIP}:8080/`)
    t.equal(r.status, 200)
    t.equal(r.body.trim(), `<h1>site of ${p.metadata.name}</h1>`, `nginx serves ${p.metadata.name}'s own volume`)
    t.match(p.status.initContainerStatuses[0], {
      name: 'fill',
      ready: true,
      state: { terminated: { exitCode: 0, reason: 'Completed' } },
    })
  }
  await apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'site' },
    spec: { selector: { app: 'site' }, ports: [{ port: 80, targetPort: 'http' }] },
  })
  t.match((await httpGet(`${await serviceUrl(n, 'site')}/`)).body, /<h1>site of site-/, 'through the Service')
})

t.test('deletion: SIGTERM to the process, the pod object goes once it exited', async (t) => {
  await apply(
    pod('graceful', { containers: [nodeServerContainer({ env: [{ name: 'TERM_DELAY_MS', value: '1500' }] })] }),
  )
  await waitFor(async () => (await getPod('graceful')).status.containerStatuses?.[0]?.state?.running, {
    timeoutMs: 30_000,
    description: 'running',
  })
  await waitFor(() => podLog(n, 'graceful', 'app').includes('listening'), {
    timeoutMs: 10_000,
    description: 'listening',
  })
  const t0 = Date.now()
  await kubectl(['delete', 'pod', 'graceful', '--wait=false'], { namespace: n })
  const terminating = await getPod('graceful')
  t.ok(terminating.metadata.deletionTimestamp, 'Terminating while the process shuts down')
  await waitFor(
    async () => {
      try {
        await getPod('graceful')
        return false
      } catch {
        return true
      }
    },
    { timeoutMs: 20_000, description: 'pod gone' },
  )
  const took = Date.now() - t0
  t.match(podLog(n, 'graceful', 'app'), /SIGTERM received/, 'the process saw SIGTERM')
  t.ok(took >= 1400, `the pod stayed until its process exited (${took} ms)`)

  // a process that ignores SIGTERM is killed after terminationGracePeriodSeconds
  await apply(
    pod('stubborn', {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'sh',
          image: 'busybox',
          command: ['sh', '-c', 'trap "echo ignoring TERM" TERM; while true; do sleep 0.2; done'],
        },
      ],
    }),
  )
  await waitFor(async () => (await getPod('stubborn')).status.containerStatuses?.[0]?.state?.running, {
    timeoutMs: 30_000,
    description: 'running',
  })
  const t1 = Date.now()
  await kubectl(['delete', 'pod', 'stubborn', '--wait=true', '--timeout=20s'], { namespace: n })
  const took2 = Date.now() - t1
  t.ok(took2 >= 1900 && took2 < 10_000, `SIGKILL after the 2 s grace period (${took2} ms)`)
  t.match(podLog(n, 'stubborn', 'sh'), /ignoring TERM/)
})

t.test('a failing liveness probe restarts the container', async (t) => {
  await apply(
    pod('liveness', {
      containers: [
        nodeServerContainer({
          env: [{ name: 'START_READY', value: '1' }],
          livenessProbe: { httpGet: { path: '/live', port: 8080 }, periodSeconds: 1, failureThreshold: 2 },
        }),
      ],
    }),
  )
  const p = await waitFor(
    async () => {
      const x = await getPod('liveness')
      return x.status.containerStatuses?.[0]?.ready ? x : undefined
    },
    { timeoutMs: 30_000, description: 'liveness pod ready' },
  )
  // No readiness probe: Ready once started, which may be before the server listens (as on a kubelet).
  await waitFor(async () => (await httpGet(`http://${p.status.podIP}:8080/set?live=0`)).status === 200, {
    timeoutMs: 10_000,
    description: 'the server takes /set',
  })
  const after = await waitFor(
    async () => {
      const x = await getPod('liveness')
      const cs = x.status.containerStatuses[0]
      return cs.restartCount >= 1 && cs.state.running ? x : undefined
    },
    { timeoutMs: 30_000, description: 'restarted' },
  )
  const cs = after.status.containerStatuses[0]
  t.equal(cs.restartCount, 1)
  t.match(
    cs.lastState,
    { terminated: { reason: 'Completed', message: /failed liveness probe/ } },
    'the last state says why',
  )
  t.match(podLog(n, 'liveness', 'app'), /SIGTERM received/, 'stopped with SIGTERM first')
  t.ok(
    await waitFor(async () => (await httpGet(`http://${after.status.podIP}:8080/live`)).status === 200, {
      timeoutMs: 10_000,
      description: '/live',
    }),
    'the new process is live',
  )
})

t.test('a startup probe holds back readiness and liveness; exec and tcpSocket probes', async (t) => {
  await apply(
    pod('startup', {
      containers: [
        nodeServerContainer({
          // the startup probe passes once /healthz does; readiness is an exec probe, liveness a tcpSocket probe
          startupProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 60 },
          readinessProbe: { exec: { command: ['sh', '-c', 'test "$POD_IP" != ""'] }, periodSeconds: 1 },
          livenessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1, failureThreshold: 1 },
        }),
      ],
    }),
  )
  const p = await waitFor(
    async () => {
      const x = await getPod('startup')
      return x.status.containerStatuses?.[0]?.state?.running ? x : undefined
    },
    { timeoutMs: 30_000, description: 'running' },
  )
  await waitFor(() => httpGet(`http://${p.status.podIP}:8080/`), { timeoutMs: 10_000, description: 'answers' })
  await new Promise((r) => setTimeout(r, 3000))
  let cs = (await getPod('startup')).status.containerStatuses[0]
  t.match(
    cs,
    { started: false, ready: false, restartCount: 0 },
    'not started while the startup probe fails: no readiness, no liveness',
  )
  await httpGet(`http://${p.status.podIP}:8080/set?ready=1`)
  const ready = await waitFor(
    async () => {
      const x = await getPod('startup')
      return isReady(x) ? x : undefined
    },
    { timeoutMs: 20_000, description: 'Ready after the startup probe passed' },
  )
  cs = ready.status.containerStatuses[0]
  t.match(
    cs,
    { started: true, ready: true, restartCount: 0 },
    'started, Ready by the exec probe, live by the tcpSocket probe',
  )
})

t.test('a crashing container: Error, then CrashLoopBackOff with growing restarts', async (t) => {
  await apply(
    pod(
      'crash',
      { containers: [{ name: 'boom', image: 'busybox:1.36', command: ['sh', '-c', 'echo boom; exit 3'] }] },
      { 'kube-recycler.test/backoff-ms': '1000' },
    ),
  )
  const seen = new Set<string>()
  await waitFor(
    async () => {
      seen.add((await statusColumn('crash')) ?? '')
      return seen.has('Error') && seen.has('CrashLoopBackOff')
    },
    {
      timeoutMs: 40_000,
      intervalMs: 100,
      description: `kubectl shows Error and CrashLoopBackOff (seen ${[...seen].join(', ')})`,
    },
  )
  const p = await waitFor(
    async () => {
      const x = await getPod('crash')
      const cs = x.status.containerStatuses?.[0]
      return cs?.state?.waiting?.reason === 'CrashLoopBackOff' && cs.restartCount >= 2 ? x : undefined
    },
    { timeoutMs: 40_000, intervalMs: 200, description: 'CrashLoopBackOff after 2 restarts' },
  )
  const cs = p.status.containerStatuses[0]
  t.match(cs.lastState, { terminated: { exitCode: 3, reason: 'Error' } })
  t.match(cs.state.waiting.message, /back-off \d+s restarting failed container=boom/)
  t.equal(p.status.phase, 'Running', 'a restarting pod is Running, as the kubelet says')
  t.equal(cond(p, 'Ready'), 'False')
  t.ok(
    seen.has('Error') && seen.has('CrashLoopBackOff'),
    `kubectl showed Error and CrashLoopBackOff (${[...seen].join(', ')})`,
  )
  t.match(podLog(n, 'crash', 'boom'), /boom\nboom\n/, 'every run logged')
})

t.test('an image with no local program: ErrImagePull, then ImagePullBackOff', async (t) => {
  await apply(pod('noimage', { containers: [{ name: 'x', image: 'ghcr.io/acme/nothing:1' }] }))
  const seen = new Set<string>()
  await waitFor(
    async () => {
      const r = (await getPod('noimage')).status.containerStatuses?.[0]?.state?.waiting?.reason
      if (r) seen.add(r)
      return seen.has('ErrImagePull') && seen.has('ImagePullBackOff')
    },
    {
      timeoutMs: 30_000,
      intervalMs: 200,
      description: `ErrImagePull and ImagePullBackOff (seen ${[...seen].join(', ')})`,
    },
  )
  const p = await getPod('noimage')
  t.equal(p.status.phase, 'Pending')
  t.pass([...seen].join(' -> '))
})

t.test('a failing init container: Init:Error, then Init:CrashLoopBackOff; the app never starts', async (t) => {
  await apply(
    pod(
      'initfail',
      {
        initContainers: [
          { name: 'checkout', image: 'alpine/git:2.49.1', command: ['sh', '-c', 'echo "no such commit" >&2; exit 1'] },
        ],
        containers: [{ name: 'web', image: 'nginx:1.27' }],
      },
      { 'kube-recycler.test/backoff-ms': '1000' },
    ),
  )
  const seen = new Set<string>()
  await waitFor(
    async () => {
      seen.add((await statusColumn('initfail')) ?? '')
      return seen.has('Init:Error') && seen.has('Init:CrashLoopBackOff')
    },
    {
      timeoutMs: 30_000,
      intervalMs: 200,
      description: `Init:Error and Init:CrashLoopBackOff (seen ${[...seen].join(', ')})`,
    },
  )
  const p = await getPod('initfail')
  t.equal(p.status.phase, 'Pending')
  t.match(
    p.status.conditions.find((c: any) => c.type === 'Initialized'),
    { status: 'False', reason: 'ContainersNotInitialized' },
  )
  t.match(p.status.containerStatuses[0].state, { waiting: { reason: 'PodInitializing' } })
  t.match(podLog(n, 'initfail', 'checkout'), /no such commit/)
})

t.test('pods of a namespace without the opt-in stay inert kwok pods', async (t) => {
  const plain = await freshNamespace('pod-runner-inert')
  t.teardown(plain.cleanup)
  await kubectl(['apply', '-f', '-'], {
    namespace: plain.name,
    input: JSON.stringify(pod('inert', { containers: [nodeServerContainer()] })),
  })
  const p = await waitFor(
    async () => {
      const x = await kubectlJson<any>(['get', 'pod', 'inert'], { namespace: plain.name })
      return isReady(x) ? x : undefined
    },
    { timeoutMs: 30_000, description: 'inert pod Ready (kwok)' },
  )
  t.match(p.spec.nodeName, /^kwok-node-\d$/)
  t.match(p.status.podIP, /^127\.76\.\d+\.\d+$/, "kwok's pod IPs are loopback too")
  t.equal(podLog(plain.name, 'inert', 'app'), '', 'no process ran')
  await t.rejects(httpGet(`http://${p.status.podIP}:8080/`, 1000), 'nothing listens on a kwok pod IP')
})
