// `npm run cluster:down` stops what it recorded, says what it stopped and
// what it left running, and leaves no pod process behind even when the pod
// runner itself died. Runs a second control plane in a scratch cache whose
// bin/ is a symlink to the real one (/proc/PID/exe names the real path).

import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { cacheRoot, type ClusterState } from '../cluster/lib.ts'
import { RUN_PODS_NAMESPACE } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'

t.setTimeout(240_000)

const ROOT = path.resolve(import.meta.dirname, '../..')

function run(
  script: string,
  cache: string,
  args: string[] = [],
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: ROOT,
      env: { ...process.env, KUBE_RECYCLER_CACHE: cache },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(input ?? '')
  })
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3))
}

function kubectl(state: ClusterState, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(state.binDir, 'kubectl'), [`--kubeconfig=${state.kubeconfig}`, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err}`))))
    child.stdin.end(input ?? '')
  })
}

t.test('a cache whose bin/ is a symlink: down stops every process, and the pods of a runner that died', async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kr-down-'))
  fs.symlinkSync(path.join(cacheRoot(), 'bin'), path.join(scratch, 'bin'))
  let started: number[] = []
  t.teardown(async () => {
    await run('test/cluster/down.ts', scratch) // in case an assertion failed half-way
    // and if down itself failed: the processes this test started go anyway
    for (const pid of started) if (alive(Math.abs(pid))) process.kill(pid, 'SIGKILL')
    fs.rmSync(scratch, { recursive: true, force: true })
  })
  const up = await run('test/cluster/up.ts', scratch)
  t.equal(up.code, 0, `cluster:up in the scratch cache (${up.stderr.slice(-500)})`)
  t.match(up.stderr, /run-pods=true run as processes/, 'up says how pods run and where Service addresses are')
  const state = JSON.parse(fs.readFileSync(path.join(scratch, 'run', 'state.json'), 'utf8')) as ClusterState
  const pids = Object.entries(state.pids) as Array<[string, number]>
  started = pids.map(([, pid]) => pid)
  t.same(pids.map(([c]) => c).sort(), [
    'etcd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kwok',
    'pod-runner',
  ])

  // a pod process of the runner, then the runner dies without cleaning up
  const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'down', ...RUN_PODS_NAMESPACE } }
  await kubectl(state, ['create', '-f', '-'], JSON.stringify(ns))
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'sleeper', namespace: 'down' },
    spec: { containers: [{ name: 's', image: 'busybox', command: ['sh', '-c', 'sleep 600'] }] },
  }
  await waitFor(() => kubectl(state, ['create', '-f', '-'], JSON.stringify(pod)), {
    timeoutMs: 30_000,
    description: 'pod created (ServiceAccount ready)',
  })
  const pgidFile = path.join(scratch, 'run', 'pod-runner', 'pgids')
  const pgid = await waitFor(() => Number(fs.readFileSync(pgidFile, 'utf8').split(' ')[0]), {
    timeoutMs: 60_000,
    description: 'pod process started',
  })
  t.ok(alive(pgid), 'the pod process runs')
  started.push(-pgid)
  process.kill(state.pids['pod-runner']!, 'SIGKILL')
  await waitFor(() => !alive(state.pids['pod-runner']!), { timeoutMs: 5000, description: 'runner dead' })
  t.ok(alive(pgid), 'the pod process outlived its runner')

  const down = await run('test/cluster/down.ts', scratch)
  t.equal(down.code, 0, 'nothing left running')
  for (const [c, pid] of pids) {
    t.notOk(alive(pid), `${c} (pid ${pid}) stopped`)
    if (c !== 'pod-runner') t.match(down.stderr, `${c} (pid ${pid})`, `down names ${c}`)
  }
  t.notOk(alive(pgid), 'the orphaned pod process was killed')
  t.match(down.stderr, /killed 1 pod process groups left behind/)
  t.notMatch(down.stderr, /LEFT RUNNING/)
})

t.test('down names a recorded process it would not stop, and exits 1', async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kr-down-'))
  const stranger: ChildProcess = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => {
    stranger.kill('SIGKILL')
    fs.rmSync(scratch, { recursive: true, force: true })
  })
  fs.mkdirSync(path.join(scratch, 'run'), { recursive: true })
  const state = {
    pids: { etcd: stranger.pid },
    binDir: path.join(scratch, 'bin'),
    runDir: path.join(scratch, 'run'),
    kubeconfig: '',
    apiserver: '',
    caFile: '',
    startedAt: '',
    ports: {},
  }
  fs.writeFileSync(path.join(scratch, 'run', 'state.json'), JSON.stringify(state))
  const down = await run('test/cluster/down.ts', scratch)
  t.equal(down.code, 1)
  t.match(down.stderr, /stopped: nothing/)
  t.match(
    down.stderr,
    new RegExp(`LEFT RUNNING.*etcd \\(pid ${stranger.pid}\\): pid ${stranger.pid} runs /\\S*sleep, not`),
  )
  t.notMatch(down.stderr, /cluster stopped/)
  t.ok(alive(stranger.pid!), 'the stranger was not signalled')
})
