// Start/stop logic of the local Kubernetes control plane used by the
// integration tests: etcd, kube-apiserver (TLS, RBAC, ServiceAccount tokens),
// kube-controller-manager, kube-scheduler, kwok faking 3 nodes, and the pod
// runner (pod-runner/) running the pods of opted-in namespaces as local
// processes on 2 nodes of its own. All bound to loopback, started detached,
// recorded in run/state.json.
// See README.md next to this file.
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { killRecordedGroups } from './pod-runner/procs.ts'

export const K8S_VERSION = 'v1.34.4'
export const KWOK_VERSION = 'v0.7.0'
export const NODE_COUNT = 3
/** Nodes carrying this annotation are managed by our kwok. */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node'
/** kwok's pod IPs: loopback too, so that no pod IP of the test cluster routes off this machine. */
export const KWOK_POD_CIDR = '127.76.0.1/16'
/** The pod runner's pod IPs and Service addresses (pod-runner/). */
export const RUNNER_POD_CIDR = '127.77.0.0/16'
export const RUNNER_SERVICE_CIDR = '127.78.0.0/16'
export const RUNNER_NODES = ['run-node-0', 'run-node-1']

const HERE = path.dirname(fileURLToPath(import.meta.url))
const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kwok'] as const
/** Stop order: clients of the API first, etcd last. */
const COMPONENTS = [
  'pod-runner',
  'kwok',
  'kube-scheduler',
  'kube-controller-manager',
  'kube-apiserver',
  'etcd',
] as const
type Component = (typeof COMPONENTS)[number]

export interface ClusterState {
  pids: Partial<Record<Component, number>>
  kubeconfig: string
  apiserver: string
  caFile: string
  startedAt: string
  /** Extra detail, not needed by clients. */
  binDir: string
  runDir: string
  ports: Record<string, number>
  startSeconds?: number
  /** The Node.js binary running the pod runner (its identity check). */
  nodeBin?: string
}

export interface Logger {
  (msg: string): void
}

const defaultLog: Logger = (msg) => process.stderr.write(`[cluster ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)

export function cacheRoot(): string {
  if (process.env.KUBE_RECYCLER_CACHE) return process.env.KUBE_RECYCLER_CACHE
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  return path.join(xdg, 'kube-recycler')
}
export const runDir = (): string => path.join(cacheRoot(), 'run')
export const statePath = (): string => path.join(runDir(), 'state.json')
export const binDir = (): string => path.join(cacheRoot(), 'bin', `k8s-${K8S_VERSION}-kwok-${KWOK_VERSION}`)
/** Written by tap-before.ts when it started the cluster; tap-after.ts stops only then. */
export const tapMarkerPath = (): string => path.join(runDir(), 'started-by-tap')
export const kubectlPath = (): string => path.join(binDir(), 'kubectl')
/** The pod runner's folder: pgids, services.json, pods/<namespace>/<pod>.<uid8>/logs/<container>.log */
export const podRunnerDir = (): string => path.join(runDir(), 'pod-runner')

export function readState(): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(statePath(), 'utf8')) as ClusterState
  } catch {
    return undefined
  }
}

function writeState(state: ClusterState): void {
  const tmp = `${statePath()}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n')
  fs.renameSync(tmp, statePath())
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

// ---------------------------------------------------------------- processes

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A zombie (exited, not yet reaped by its parent) is not alive.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    if (st === 'Z' || st === 'X') return false
  } catch {
    /* no /proc: trust kill(0) */
  }
  return true
}

function realPath(p: string): string {
  try {
    return fs.realpathSync(p)
  } catch {
    return p
  }
}

/**
 * True if pid is alive AND is still the binary we started (guards against pid
 * reuse). /proc/PID/exe names the real path, so the expected binary is
 * compared by its real path too (the cache's bin/ may be a symlink).
 */
export function isOurProcess(pid: number, bin: string): boolean {
  return whyNotOurs(pid, bin) === undefined
}

/** undefined if pid is ours; otherwise why not (for the report of cluster:down). */
function whyNotOurs(pid: number, bin: string): string | undefined {
  if (!pidAlive(pid)) return 'not running'
  const want = realPath(bin)
  try {
    const exe = fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '')
    return exe === want || exe === bin ? undefined : `pid ${pid} runs ${exe}, not ${want} (pid reused?)`
  } catch {
    try {
      const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? ''
      return argv0 === bin || realPath(argv0) === want ? undefined : `pid ${pid} runs ${argv0}, not ${bin}`
    } catch {
      return undefined // no /proc: best effort
    }
  }
}

function componentBin(state: Pick<ClusterState, 'binDir' | 'nodeBin'>, c: Component): string {
  return c === 'pod-runner' ? (state.nodeBin ?? process.execPath) : path.join(state.binDir, c)
}

export interface StopReport {
  /** "component (pid N)" for each process stopped */
  stopped: string[]
  /** "component (pid N): why" for each recorded process NOT stopped although it may be running */
  leftRunning: string[]
  /** process groups of pods killed because the runner had not killed them */
  podGroups: number[]
}

async function stopPids(state: ClusterState, log: Logger): Promise<StopReport> {
  const report: StopReport = { stopped: [], leftRunning: [], podGroups: [] }
  const targets: Array<[Component, number]> = []
  for (const c of COMPONENTS) {
    const pid = state.pids[c]
    if (!pid) continue
    const why = whyNotOurs(pid, componentBin(state, c))
    if (why === undefined) targets.push([c, pid])
    else if (why !== 'not running') report.leftRunning.push(`${c} (pid ${pid}): ${why}`)
  }
  for (const [c, pid] of targets) {
    try {
      process.kill(pid, 'SIGTERM')
      log(`SIGTERM ${c} (pid ${pid})`)
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + 5000
  while (Date.now() < deadline && targets.some(([, pid]) => pidAlive(pid))) await sleep(100)
  for (const [c, pid] of targets) {
    if (pidAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL')
        log(`SIGKILL ${c} (pid ${pid})`)
      } catch {
        /* gone */
      }
    }
  }
  const hard = Date.now() + 3000
  while (Date.now() < hard && targets.some(([, pid]) => pidAlive(pid))) await sleep(50)
  for (const [c, pid] of targets) {
    if (pidAlive(pid)) report.leftRunning.push(`${c} (pid ${pid}): still alive after SIGKILL`)
    else report.stopped.push(`${c} (pid ${pid})`)
  }
  // Pod processes the runner did not get to kill (it crashed, or was killed itself)
  report.podGroups = killRecordedGroups(path.join(state.runDir, 'pod-runner', 'pgids'))
  if (report.podGroups.length > 0)
    log(`killed ${report.podGroups.length} pod process groups left behind: ${report.podGroups.join(' ')}`)
  return report
}

// ---------------------------------------------------------------- lock

async function withLock<T>(log: Logger, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(runDir(), { recursive: true })
  const lock = path.join(runDir(), 'lock')
  let announced = false
  for (;;) {
    try {
      const fd = fs.openSync(lock, 'wx')
      fs.writeSync(fd, String(process.pid))
      fs.closeSync(fd)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number(fs.readFileSync(lock, 'utf8') || '0')
      if (!holder || !pidAlive(holder)) {
        fs.rmSync(lock, { force: true })
        continue
      }
      if (!announced) log(`waiting for pid ${holder} (holds ${lock})`)
      announced = true
      await sleep(500)
    }
  }
  try {
    return await fn()
  } finally {
    fs.rmSync(lock, { force: true })
  }
}

// ---------------------------------------------------------------- binaries

function binariesPresent(): boolean {
  return BINARIES.every((b) => {
    try {
      fs.accessSync(path.join(binDir(), b), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** Runs build.sh (its progress goes to stderr) unless all binaries are cached. */
export async function ensureBinaries(log: Logger = defaultLog): Promise<string> {
  if (binariesPresent()) return binDir()
  log(`binaries missing in ${binDir()}; running test/cluster/build.sh (a cold build takes a long while)`)
  const started = Date.now()
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [path.join(HERE, 'build.sh')], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, K8S_VERSION, KWOK_VERSION, KUBE_RECYCLER_CACHE: cacheRoot() },
    })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`build.sh exited with ${code}`))))
  })
  const dir = out.trim().split('\n').pop() ?? ''
  if (path.resolve(dir) !== binDir() || !binariesPresent()) {
    throw new Error(`build.sh reported ${dir}, expected all binaries in ${binDir()}`)
  }
  log(`binaries built in ${Math.round((Date.now() - started) / 1000)}s`)
  return binDir()
}

// ---------------------------------------------------------------- pki

interface Pki {
  dir: string
  caCrt: string
  caKey: string
  saKey: string
  saPub: string
  serverCrt: string
  serverKey: string
  client: Record<'admin' | 'controller-manager' | 'scheduler' | 'kwok', { crt: string; key: string }>
}

const CLIENTS = {
  admin: '/O=system:masters/CN=kube-recycler-test-admin',
  'controller-manager': '/CN=system:kube-controller-manager',
  scheduler: '/CN=system:kube-scheduler',
  kwok: '/O=system:masters/CN=kwok-controller',
} as const

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** CA, serving cert, client certs and the ServiceAccount key pair; generated once and cached in run/pki. */
function pkiPaths(dir: string): Pki {
  const p = (f: string) => path.join(dir, f)
  const client = (n: string) => ({ crt: p(`${n}.crt`), key: p(`${n}.key`) })
  return {
    dir,
    caCrt: p('ca.crt'),
    caKey: p('ca.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
    serverCrt: p('apiserver.crt'),
    serverKey: p('apiserver.key'),
    client: {
      admin: client('admin'),
      'controller-manager': client('controller-manager'),
      scheduler: client('scheduler'),
      kwok: client('kwok'),
    },
  }
}

function ensurePki(log: Logger): Pki {
  const dir = path.join(runDir(), 'pki')
  const p = (f: string) => path.join(dir, f)
  const pki = pkiPaths(dir)
  const all = [
    pki.caCrt,
    pki.caKey,
    pki.saKey,
    pki.saPub,
    pki.serverCrt,
    pki.serverKey,
    ...Object.values(pki.client).flatMap((c) => [c.crt, c.key]),
  ]
  if (all.every((f) => fs.existsSync(f))) return pki

  log('generating CA and certificates with openssl')
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '3650',
      '-subj',
      '/CN=kube-recycler-test-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ],
    dir,
  )
  const sign = (name: string, subj: string, ext: string[]) => {
    openssl(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], dir)
    fs.writeFileSync(p(`${name}.ext`), ext.join('\n') + '\n')
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '3650',
        '-out',
        `${name}.crt`,
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    )
    fs.rmSync(p(`${name}.csr`))
    fs.rmSync(p(`${name}.ext`))
  }
  sign('apiserver', '/CN=kube-apiserver', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
  ])
  for (const [name, subj] of Object.entries(CLIENTS)) {
    sign(name, subj, [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
    ])
  }
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir)
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir)
  return pki
}

function writeKubeconfig(file: string, server: string, pki: Pki, who: keyof Pki['client']): void {
  const b64 = (f: string) => fs.readFileSync(f).toString('base64')
  const c = pki.client[who]
  const yaml = `apiVersion: v1
kind: Config
clusters:
- name: kube-recycler-test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(pki.caCrt)}
users:
- name: ${who}
  user:
    client-certificate-data: ${b64(c.crt)}
    client-key-data: ${b64(c.key)}
contexts:
- name: ${who}@kube-recycler-test
  context:
    cluster: kube-recycler-test
    user: ${who}
    namespace: default
current-context: ${who}@kube-recycler-test
`
  fs.writeFileSync(file, yaml, { mode: 0o600 })
}

// ---------------------------------------------------------------- network

async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = []
  const ports: number[] = []
  for (let i = 0; i < n; i++) {
    const srv = net.createServer()
    await new Promise<void>((res, rej) => {
      srv.once('error', rej)
      srv.listen(0, '127.0.0.1', () => res())
    })
    servers.push(srv)
    ports.push((srv.address() as net.AddressInfo).port)
  }
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))))
  return ports
}

interface ApiClient {
  request(
    method: string,
    urlPath: string,
    body?: unknown,
    timeoutMs?: number,
  ): Promise<{ status: number; body: string; json(): any }>
}

function apiClient(server: string, pki: Pki): ApiClient {
  const url = new URL(server)
  const ca = fs.readFileSync(pki.caCrt)
  const cert = fs.readFileSync(pki.client.admin.crt)
  const key = fs.readFileSync(pki.client.admin.key)
  return {
    request(method, urlPath, body, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
        const req = https.request(
          {
            host: url.hostname,
            port: url.port,
            method,
            path: urlPath,
            ca,
            cert,
            key,
            agent: false,
            timeout: timeoutMs,
            headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
          },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString()
              resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) })
            })
          },
        )
        req.on('timeout', () => req.destroy(new Error(`timeout ${method} ${urlPath}`)))
        req.on('error', reject)
        if (data) req.write(data)
        req.end()
      })
    },
  }
}

/** GET over https without verifying the (self-signed) serving cert: only for /healthz of KCM and scheduler. */
function httpGetOk(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(url, { timeout: timeoutMs, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
  })
}

/** etcd serves plain http on 127.0.0.1. */
function plainHttpOk(port: number, urlPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, timeout: 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(false))
    req.end()
  })
}

// ---------------------------------------------------------------- start

function tail(file: string, lines = 25): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

async function isAlive(state: ClusterState): Promise<boolean> {
  for (const c of COMPONENTS) {
    const pid = state.pids[c]
    if (!pid || !isOurProcess(pid, componentBin(state, c))) return false
  }
  try {
    const pki = pkiPaths(path.join(state.runDir, 'pki'))
    const res = await apiClient(state.apiserver, pki).request('GET', '/readyz', undefined, 3000)
    return res.status === 200
  } catch {
    return false
  }
}

export interface EnsureResult {
  kubeconfig: string
  startedNow: boolean
  state: ClusterState
}

/**
 * Returns the running cluster recorded in state.json, or starts a new one
 * (building the binaries first if needed). Safe to call concurrently.
 */
export async function ensureCluster(opts: { log?: Logger } = {}): Promise<EnsureResult> {
  const log = opts.log ?? defaultLog
  return withLock(log, async () => {
    const existing = readState()
    if (existing) {
      if (await isAlive(existing)) {
        log(`reusing running cluster at ${existing.apiserver} (started ${existing.startedAt})`)
        return { kubeconfig: existing.kubeconfig, startedNow: false, state: existing }
      }
      log('state.json describes a cluster that is not (fully) alive; stopping its leftovers')
      await stopPids(existing, log)
      fs.rmSync(statePath(), { force: true })
    }
    await ensureBinaries(log)
    const state = await startCluster(log)
    return { kubeconfig: state.kubeconfig, startedNow: true, state }
  })
}

async function startCluster(log: Logger): Promise<ClusterState> {
  const t0 = Date.now()
  const run = runDir()
  const bins = binDir()
  const logs = path.join(run, 'logs')
  const etcdData = path.join(run, 'etcd-data')
  fs.rmSync(logs, { recursive: true, force: true })
  fs.rmSync(etcdData, { recursive: true, force: true })
  fs.mkdirSync(logs, { recursive: true })
  const pki = ensurePki(log)

  const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ]
  const apiserver = `https://127.0.0.1:${apiPort}`
  const kubeconfig = path.join(run, 'kubeconfig')
  const kcfg = (who: keyof Pki['client']) => {
    const f = path.join(run, `${who}.kubeconfig`)
    writeKubeconfig(f, apiserver, pki, who)
    return f
  }
  writeKubeconfig(kubeconfig, apiserver, pki, 'admin')

  const state: ClusterState = {
    pids: {},
    kubeconfig,
    apiserver,
    caFile: pki.caCrt,
    startedAt: new Date().toISOString(),
    binDir: bins,
    runDir: run,
    ports: { etcd: etcdClient, etcdPeer, apiserver: apiPort, kubeControllerManager: kcmPort, kubeScheduler: schedPort },
  }
  const exited = new Map<Component, string>()

  const start = (c: Component, args: string[], env: NodeJS.ProcessEnv = process.env, program = path.join(bins, c)) => {
    const logFile = path.join(logs, `${c}.log`)
    const fd = fs.openSync(logFile, 'a')
    const child = spawn(program, args, { cwd: run, detached: true, stdio: ['ignore', fd, fd], env })
    fs.closeSync(fd)
    child.on('exit', (code, signal) => exited.set(c, `exited with ${signal ?? code}`))
    child.on('error', (err) => exited.set(c, `failed to start: ${err.message}`))
    child.unref()
    if (!child.pid) throw new Error(`could not start ${c}`)
    state.pids[c] = child.pid
    writeState(state) // record every pid at once, so a failed start can be cleaned up
    log(`started ${c} (pid ${child.pid}) log: ${logFile}`)
  }

  const waitUntil = async (what: string, fn: () => Promise<boolean>, timeoutMs: number, watch: Component[]) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      for (const c of watch) {
        const why = exited.get(c)
        if (why)
          throw new Error(
            `${c} ${why} while waiting for ${what}; last log lines:\n${tail(path.join(logs, `${c}.log`))}`,
          )
      }
      if (await fn().catch(() => false)) return
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs / 1000}s waiting for ${what}; logs in ${logs}\n` +
            watch.map((c) => `--- ${c}:\n${tail(path.join(logs, `${c}.log`), 10)}`).join('\n'),
        )
      }
      await sleep(200)
    }
  }

  try {
    start('etcd', [
      '--name=default',
      `--data-dir=${etcdData}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
      '--quota-backend-bytes=4294967296',
    ])
    await waitUntil('etcd health', () => plainHttpOk(etcdClient, '/health'), 20_000, ['etcd'])
    log(`etcd healthy on 127.0.0.1:${etcdClient}`)

    start('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${path.join(run, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.serverCrt}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCrt}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--endpoint-reconciler-type=none',
      // Namespaces opted in to running pods send them to the runner's nodes: see pod-runner/ and README.md
      '--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction',
      '--allow-privileged=true',
      '--profiling=false',
      '--event-ttl=1h',
    ])
    const api = apiClient(apiserver, pki)
    await waitUntil(
      'kube-apiserver /readyz',
      async () => (await api.request('GET', '/readyz', undefined, 2000)).status === 200,
      60_000,
      ['etcd', 'kube-apiserver'],
    )
    log(`kube-apiserver ready at ${apiserver}`)

    start('kube-controller-manager', [
      `--kubeconfig=${kcfg('controller-manager')}`,
      `--authentication-kubeconfig=${path.join(run, 'controller-manager.kubeconfig')}`,
      `--authorization-kubeconfig=${path.join(run, 'controller-manager.kubeconfig')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${path.join(run, 'kcm-certs')}`,
      '--leader-elect=false',
      '--controllers=*',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCrt}`,
      `--cluster-signing-cert-file=${pki.caCrt}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      '--cluster-name=kube-recycler-test',
      '--node-monitor-grace-period=40s',
      '--profiling=false',
    ])
    start('kube-scheduler', [
      `--kubeconfig=${kcfg('scheduler')}`,
      `--authentication-kubeconfig=${path.join(run, 'scheduler.kubeconfig')}`,
      `--authorization-kubeconfig=${path.join(run, 'scheduler.kubeconfig')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      `--cert-dir=${path.join(run, 'scheduler-certs')}`,
      '--leader-elect=false',
      '--profiling=false',
    ])
    const kwokHome = path.join(run, 'kwok-home') // so a stray ~/.kwok/kwok.yaml is never loaded
    fs.mkdirSync(kwokHome, { recursive: true })
    start(
      'kwok',
      [
        `--kubeconfig=${kcfg('kwok')}`,
        `--config=${path.join(HERE, 'kwok-stages.yaml')}`,
        `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
        `--cidr=${KWOK_POD_CIDR}`,
        '--node-ip=10.240.0.1',
        // Without node leases kwok posts node status only every ~45 s, past the
        // controller-manager's 40 s grace: nodes flap NotReady and pods with them.
        '--node-lease-duration-seconds=40',
      ],
      { ...process.env, HOME: kwokHome },
    )

    for (let i = 0; i < NODE_COUNT; i++) await createNode(api, `kwok-node-${i}`, `10.240.0.${10 + i}`)
    log(`created ${NODE_COUNT} fake nodes`)

    const runnerDir = path.join(run, 'pod-runner')
    fs.rmSync(runnerDir, { recursive: true, force: true })
    fs.mkdirSync(runnerDir, { recursive: true })
    const runnerConfig = path.join(runnerDir, 'config.json')
    fs.writeFileSync(
      runnerConfig,
      JSON.stringify(
        {
          apiserver,
          caFile: pki.caCrt,
          certFile: pki.client.admin.crt,
          keyFile: pki.client.admin.key,
          dir: runnerDir,
          nodes: RUNNER_NODES,
          hostIP: '127.0.0.1',
          podCidr: RUNNER_POD_CIDR,
          serviceCidr: RUNNER_SERVICE_CIDR,
          kwokCidr: KWOK_POD_CIDR,
          kubeletVersion: K8S_VERSION,
        },
        null,
        2,
      ),
    )
    state.nodeBin = realPath(process.execPath)
    start('pod-runner', [path.join(HERE, 'pod-runner', 'main.ts'), runnerConfig], process.env, process.execPath)

    const all: Component[] = [...COMPONENTS]
    await waitUntil(
      `${NODE_COUNT} Ready nodes without taints`,
      async () => {
        const res = await api.request('GET', '/api/v1/nodes')
        if (res.status !== 200) return false
        const nodes = (res.json().items as any[]).filter(
          (n) => n.metadata?.annotations?.[KWOK_NODE_ANNOTATION] === 'fake',
        )
        return (
          nodes.length >= NODE_COUNT &&
          nodes.every(
            (n) =>
              (n.spec?.taints ?? []).length === 0 &&
              (n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
          )
        )
      },
      60_000,
      all,
    )
    log('nodes Ready')
    await waitUntil(
      `pod runner nodes ${RUNNER_NODES.join(', ')} Ready`,
      async () => {
        if (!fs.existsSync(path.join(runnerDir, 'ready'))) return false
        const res = await api.request('GET', '/api/v1/nodes?labelSelector=type%3Dpod-runner')
        if (res.status !== 200) return false
        const nodes = res.json().items as any[]
        return (
          nodes.length === RUNNER_NODES.length &&
          nodes.every(
            (n) =>
              !(n.spec?.taints ?? []).some((t: any) => t.key.startsWith('node.kubernetes.io/')) &&
              (n.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
          )
        )
      },
      60_000,
      all,
    )
    await waitUntil(
      'ServiceAccount default/default',
      async () => (await api.request('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
      60_000,
      all,
    )
    await waitUntil('kube-scheduler /healthz', () => httpGetOk(`https://127.0.0.1:${schedPort}/healthz`), 30_000, all)
    await waitUntil(
      'kube-controller-manager /healthz',
      () => httpGetOk(`https://127.0.0.1:${kcmPort}/healthz`),
      30_000,
      all,
    )
  } catch (err) {
    log(`start failed; stopping what was started`)
    await stopPids(state, log)
    fs.rmSync(statePath(), { force: true })
    throw err
  }
  state.startSeconds = Math.round((Date.now() - t0) / 100) / 10
  writeState(state)
  log(`cluster ready in ${state.startSeconds}s`)
  return state
}

async function createNode(api: ApiClient, name: string, ip: string): Promise<void> {
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node-role.kubernetes.io/worker': '',
        type: 'kwok',
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '250' },
      capacity: { cpu: '32', memory: '256Gi', pods: '250' },
      // kwok's node-initialize stage keeps these instead of its own defaults
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
      nodeInfo: {
        kubeletVersion: K8S_VERSION,
        kubeProxyVersion: K8S_VERSION,
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  }
  const res = await api.request('POST', '/api/v1/nodes', node)
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating node ${name}: HTTP ${res.status} ${res.body}`)
}

// ---------------------------------------------------------------- stop

/**
 * Stops exactly the processes recorded in state.json (and what the pod runner
 * started) and removes it. Returns undefined if there was nothing to stop;
 * otherwise what was stopped and what was left running, and why.
 */
export async function stopCluster(opts: { log?: Logger } = {}): Promise<StopReport | undefined> {
  const log = opts.log ?? defaultLog
  return withLock(log, async () => {
    const state = readState()
    if (!state) {
      log('no state.json: nothing to stop')
      return undefined
    }
    const report = await stopPids(state, log)
    fs.rmSync(statePath(), { force: true })
    log(
      report.stopped.length > 0
        ? `stopped: ${report.stopped.join(', ')}`
        : 'stopped: nothing (no recorded process was running)',
    )
    if (report.leftRunning.length > 0)
      log(`LEFT RUNNING (not recognised as ours, so not signalled): ${report.leftRunning.join('; ')}`)
    return report
  })
}
