// Pure parts of the test cluster's pod runner (test/cluster/pod-runner/):
// env expansion and resolution as the kubelet does it, the image table, the
// path mapping, pod phase/conditions, back-off, and the loopback guard.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { expand, formatMap, resolveEnv, type DataSource } from '../cluster/pod-runner/env.ts'
import { lookupImage, mapPath, nginxDefaultPort } from '../cluster/pod-runner/images.ts'
import { assertLoopbackCidr, IpPool, isLoopback, parseCidr } from '../cluster/pod-runner/net-guard.ts'
import { ProbeCounter } from '../cluster/pod-runner/probes.ts'
import {
  isOurGroup,
  killRecordedGroups,
  procStartTime,
  ProcessGroups,
  readGroups,
} from '../cluster/pod-runner/procs.ts'
import {
  backoffDelay,
  podConditions,
  podPhase,
  type ContainerView,
  type PodView,
} from '../cluster/pod-runner/status.ts'

t.test('$(VAR) expansion: defined names replaced, $$ escapes, unknown names kept', async (t) => {
  const vars = { A: 'x', B: 'y' }
  t.equal(expand('$(A)-$(B)', vars), 'x-y')
  t.equal(expand('$$(A)', vars), '$(A)')
  t.equal(expand('$(NOPE) $A $(A', vars), '$(NOPE) $A $(A')
})

t.test('env: envFrom then env in order, refs, optional refs, downward API', async (t) => {
  const src: DataSource = {
    configMap: async (n) => (n === 'cm' ? { COLOR: 'blue', 'bad key': 'x' } : undefined),
    secret: async (n) => (n === 's' ? { password: 'hunter2' } : undefined),
  }
  const pod = {
    metadata: {
      name: 'p',
      namespace: 'ns',
      uid: 'u1',
      labels: { app: 'web' },
      annotations: { 'kube-recycler.io/commit': 'abc' },
    },
    spec: { nodeName: 'run-node-0' },
  }
  const container = {
    envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }, { secretRef: { name: 'missing', optional: true } }],
    env: [
      { name: 'X', value: 'one' },
      { name: 'Y', value: '$(X)-two-$(CM_COLOR)' },
      { name: 'COMMIT', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['kube-recycler.io/commit']" } } },
      { name: 'NONE', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['absent']" } } },
      { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'password' } } },
      { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'cm', key: 'absent', optional: true } } },
    ],
  }
  const env = await resolveEnv(pod, container, { PATH: '/bin' }, src, '127.77.0.1', '127.0.0.1')
  t.same(env, {
    PATH: '/bin',
    CM_COLOR: 'blue',
    X: 'one',
    Y: 'one-two-blue',
    COMMIT: 'abc',
    NONE: '',
    IP: '127.77.0.1',
    PW: 'hunter2',
  })
  await t.rejects(
    resolveEnv(pod, { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }, {}, src, '', ''),
    /secret "nope" not found/,
  )
  await t.rejects(
    resolveEnv(pod, { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }, {}, src, '', ''),
    /couldn't find key k in Secret ns\/s/,
  )
  t.equal(formatMap({ b: '2', a: 'x"y' }), 'a="x\\"y"\nb="2"')
})

t.test('image table: first match wins; anything else has no program', async (t) => {
  t.equal(lookupImage('alpine/git:2.49.1')?.kind, 'git')
  t.equal(lookupImage('alpine:3.20')?.kind, 'shell')
  t.equal(lookupImage('docker.io/library/nginx:1.27')?.kind, 'nginx')
  t.equal(lookupImage('nginxinc/nginx-unprivileged:1.27-alpine')?.kind, 'nginx')
  t.equal(nginxDefaultPort('nginxinc/nginx-unprivileged:1.27-alpine'), 8080)
  t.equal(nginxDefaultPort('nginx'), 80)
  t.equal(lookupImage('node:24-slim')?.kind, 'node')
  t.equal(lookupImage('busybox')?.kind, 'shell')
  t.equal(lookupImage('ghcr.io/acme/shop:1'), undefined)
  t.equal(lookupImage('nginxfoo:1'), undefined)
})

t.test('path mapping: equal to or under a mount path, longest mount first', async (t) => {
  const mounts = [
    { mountPath: '/usr', hostPath: '/h/usr' },
    { mountPath: '/usr/share/nginx/html', hostPath: '/h/site' },
    { mountPath: '/tmp/', hostPath: '/h/tmp' },
  ]
  t.equal(mapPath('/usr/share/nginx/html', mounts), '/h/site')
  t.equal(mapPath('/usr/share/nginx/html/a/b', mounts), '/h/site/a/b')
  t.equal(mapPath('/usr/bin', mounts), '/h/usr/bin')
  t.equal(mapPath('/tmp', mounts), '/h/tmp')
  t.equal(mapPath('/tmpfoo', mounts), '/tmpfoo')
  t.equal(mapPath('relative', mounts), 'relative')
})

const c = (name: string, state: ContainerView['state'], extra: Partial<ContainerView> = {}): ContainerView => ({
  name,
  image: 'busybox',
  imageID: '',
  state,
  lastState: {},
  restartCount: 0,
  ready: false,
  started: false,
  ...extra,
})
const view = (v: Partial<PodView>): PodView => ({
  restartPolicy: 'Always',
  initContainers: [],
  containers: [],
  initialized: true,
  initFailed: false,
  terminated: false,
  readinessGates: [],
  objectConditions: [],
  ...v,
})
const running = { running: { startedAt: 't' } }
const crashed = { terminated: { exitCode: 1, reason: 'Error', startedAt: 't', finishedAt: 't' } }

t.test('phase as the kubelet computes it', async (t) => {
  t.equal(podPhase(view({ initialized: false, initContainers: [c('i', running)] })), 'Pending')
  t.equal(podPhase(view({ containers: [c('a', { waiting: { reason: 'ImagePullBackOff' } })] })), 'Pending')
  t.equal(
    podPhase(view({ containers: [c('a', { waiting: { reason: 'CrashLoopBackOff' } }, { lastState: crashed })] })),
    'Running',
  )
  t.equal(podPhase(view({ containers: [c('a', running)] })), 'Running')
  t.equal(podPhase(view({ restartPolicy: 'Never', containers: [c('a', crashed)] })), 'Failed')
  t.equal(
    podPhase(
      view({
        restartPolicy: 'OnFailure',
        containers: [c('a', { terminated: { ...crashed.terminated, exitCode: 0 } })],
      }),
    ),
    'Succeeded',
  )
  t.equal(podPhase(view({ initFailed: true })), 'Failed')
})

t.test('conditions: ContainersReady from containers, Ready also from readiness gates', async (t) => {
  const get = (v: PodView, type: string) => podConditions(v).find((x) => x.type === type)
  const ready = view({ containers: [c('a', running, { ready: true, started: true })] })
  t.equal(get(ready, 'Ready')?.status, 'True')
  const unready = view({ containers: [c('a', running), c('b', running, { ready: true })] })
  t.match(get(unready, 'Ready'), {
    status: 'False',
    reason: 'ContainersNotReady',
    message: 'containers with unready status: [a]',
  })
  const gated = view({ ...ready, readinessGates: ['x/y'] })
  t.match(get(gated, 'Ready'), { status: 'False', reason: 'ReadinessGatesNotReady' })
  t.equal(get(gated, 'ContainersReady')?.status, 'True')
  t.equal(get(view({ ...gated, objectConditions: [{ type: 'x/y', status: 'True' }] }), 'Ready')?.status, 'True')
  const init = view({
    initialized: false,
    initContainers: [c('checkout', crashed)],
    containers: [c('a', { waiting: { reason: 'PodInitializing' } })],
  })
  t.match(get(init, 'Initialized'), {
    status: 'False',
    reason: 'ContainersNotInitialized',
    message: 'containers with incomplete status: [checkout]',
  })
})

t.test('back-off: first restart at once, then base doubling to the cap', async (t) => {
  t.same(
    [1, 2, 3, 4, 9, 20].map((n) => backoffDelay(n, 10_000, 300_000)),
    [0, 10_000, 20_000, 40_000, 300_000, 300_000],
  )
})

t.test('probe thresholds count consecutive results', async (t) => {
  const p = new ProbeCounter({ successThreshold: 2, failureThreshold: 3 }, false)
  t.notOk(p.feed(true), 'one success is not enough')
  t.ok(p.feed(true), 'two in a row flip to success')
  t.notOk(p.feed(false))
  t.notOk(p.feed(false))
  t.notOk(p.feed(true), 'a success resets the failure streak')
  t.notOk(p.feed(false))
  t.notOk(p.feed(false))
  t.ok(p.feed(false), 'three failures in a row flip')
  t.equal(p.result, false)
})

t.test('loopback guard: ranges outside 127.0.0.0/8 are refused', async (t) => {
  t.ok(isLoopback('127.77.0.5'))
  t.notOk(isLoopback('10.244.0.1'))
  t.notOk(isLoopback('localhost'))
  t.throws(() => assertLoopbackCidr('10.244.0.1/16', "kwok's --cidr"), /not inside 127\.0\.0\.0\/8/)
  t.throws(() => assertLoopbackCidr('0.0.0.0/0', 'x'))
  t.equal(assertLoopbackCidr('127.76.0.1/16', 'x').text, '127.76.0.1/16')
  const pool = new IpPool(parseCidr('127.77.0.0/16'))
  const a = pool.allocate()
  const b = pool.allocate()
  t.same([a, b], ['127.77.0.1', '127.77.0.2'])
  pool.release(a)
  t.equal(pool.allocate(), '127.77.0.3', 'released addresses are reused only after the rest (no immediate reuse)')
})

t.test('process groups: recorded while alive, the whole group killed, a reused pid not taken for ours', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgids-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'pgids')
  const groups = new ProcessGroups(file)
  // a leader with a child in its group: killing the group kills both
  const leader = groups.spawn('sh', ['-c', 'sleep 30 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] })
  const childPid = Number(await new Promise<string>((r) => leader.stdout!.once('data', (d: Buffer) => r(d.toString()))))
  const recorded = readGroups(file)
  t.same(
    recorded.map((g) => g.pgid),
    [leader.pid],
    'recorded at start',
  )
  t.ok(isOurGroup(leader.pid!, recorded[0]!.start))
  t.notOk(isOurGroup(leader.pid!, 'other-start-time'), 'a leader with another start time is a reused pid')
  const exited = new Promise((r) => leader.once('exit', r))
  t.same(killRecordedGroups(file), [leader.pid], 'stopCluster path: recorded groups killed')
  await exited
  await new Promise((r) => setTimeout(r, 100))
  const state = () => {
    try {
      const st = fs.readFileSync(`/proc/${childPid}/stat`, 'utf8')
      return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3)
    } catch {
      return 'gone'
    }
  }
  t.match(state(), /^(gone|Z|X)$/, 'the child in the group died too (gone, or a zombie not yet reaped)')
  groups.release(leader.pid!)
  t.same(readGroups(file), [], 'released groups are forgotten')
  const other = groups.spawn('sleep', ['30'], { stdio: 'ignore' })
  t.ok(groups.alive(other.pid!))
  const gone = new Promise((r) => other.once('exit', r))
  groups.killAll()
  await gone
  t.same(readGroups(file), [])
  t.same(procStartTime(process.pid)?.length ? 'ok' : 'none', 'ok')
})
