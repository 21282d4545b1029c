// Pod lifecycle: one PodWorker per pod bound to a runner node. Volumes, init
// containers in order, then the containers, each with its probes and restart
// policy; the status a kubelet would report; graceful deletion.
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { Api } from './api.ts'
import { ConfigError, expand, resolveEnv, type DataSource } from './env.ts'
import {
  lookupImage,
  mapPath,
  nginxConf,
  nginxDefaultPort,
  normalizeImage,
  resolveProgram,
  type Mount,
} from './images.ts'
import type { ProcessGroups } from './procs.ts'
import { ProbeCounter, probeOnce, type ProbeTarget } from './probes.ts'
import { prepareVolumes } from './volumes.ts'
import {
  backoffDelay,
  ConditionClock,
  podConditions,
  podPhase,
  type ContainerState,
  type ContainerView,
  type PodView,
} from './status.ts'

export interface RunnerContext {
  api: Api
  groups: ProcessGroups
  podsDir: string
  hostIP: string
  nodeExe: string
  backoffBaseMs: number
  log(msg: string): void
  /** Called whenever a pod's readiness may have changed (the Service proxies listen). */
  changed(): void
}

/** Per-pod override of the restart back-off base, for tests that cannot wait 10 s. */
export const BACKOFF_ANNOTATION = 'kube-recycler.test/backoff-ms'

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')

/** Sleeps unless the signal aborts first (then resolves early). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const t = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code
  const n: Record<string, number> = {
    SIGKILL: 9,
    SIGTERM: 15,
    SIGINT: 2,
    SIGHUP: 1,
    SIGABRT: 6,
    SIGSEGV: 11,
    SIGQUIT: 3,
  }
  return 128 + (n[signal ?? ''] ?? 0)
}

/** One container (init or regular) and its runs. */
class ContainerRun {
  readonly spec: any
  readonly isInit: boolean
  readonly view: ContainerView
  readonly #pod: PodWorker
  #pgid: number | undefined
  #exited: Promise<number> | undefined
  #runAbort: AbortController | undefined
  #killReason: string | undefined
  #failures = 0

  constructor(pod: PodWorker, spec: any, isInit: boolean) {
    this.#pod = pod
    this.spec = spec
    this.isInit = isInit
    this.view = {
      name: spec.name,
      image: spec.image,
      imageID: `docker.io/${normalizeImage(spec.image).replace(/[:@].*$/, '')}@sha256:${createHash('sha256').update(normalizeImage(spec.image)).digest('hex')}`,
      state: {
        waiting: { reason: isInit || pod.spec.initContainers?.length ? 'PodInitializing' : 'ContainerCreating' },
      },
      lastState: {},
      restartCount: 0,
      ready: false,
      started: false,
    }
  }

  /**
   * Runs the container until the restart policy says it is done: resolves
   * 'succeeded' / 'failed', or 'stopped' when the pod is being torn down.
   */
  async loop(stop: AbortSignal): Promise<'succeeded' | 'failed' | 'stopped'> {
    const policy: string = this.#pod.spec.restartPolicy ?? 'Always'
    while (!stop.aborted) {
      const entry = lookupImage(this.spec.image)
      if (!entry) {
        this.#failures++
        const msg = `pod runner: no local program for image "${this.spec.image}" (see test/cluster/README.md)`
        this.view.state = { waiting: { reason: 'ErrImagePull', message: msg } }
        await this.#pod.flush()
        await sleep(1000, stop)
        const delay = Math.max(backoffDelay(this.#failures + 1, this.#pod.backoffBaseMs, this.#pod.backoffMaxMs), 1000)
        this.view.state = {
          waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${this.spec.image}": ${msg}` },
        }
        await this.#pod.flush()
        await sleep(delay, stop)
        continue
      }
      let code: number
      const startedAt = now()
      try {
        code = await this.#runOnce(stop)
      } catch (err) {
        if (err instanceof ConfigError) {
          this.view.state = { waiting: { reason: 'CreateContainerConfigError', message: err.message } }
          await this.#pod.flush()
          await sleep(2000, stop)
          continue
        }
        // No such program: the runtime's StartError, a terminated container that restarts like a crash.
        code = 128
        this.view.state = {
          terminated: {
            exitCode: 128,
            reason: 'StartError',
            message: (err as Error).message,
            startedAt,
            finishedAt: now(),
          },
        }
      }
      const ranMs = Date.now() - Date.parse(startedAt)
      // an init container that succeeded counts as ready, as the kubelet reports it
      if (this.isInit && code === 0) this.view.ready = true
      await this.#pod.flush()
      if (stop.aborted) return 'stopped'
      if (code === 0 && (this.isInit || policy !== 'Always')) return 'succeeded'
      if (policy === 'Never' || (policy === 'OnFailure' && code === 0)) return code === 0 ? 'succeeded' : 'failed'
      if (ranMs > 2 * this.#pod.backoffMaxMs) this.#failures = 0
      this.#failures++
      const delay = backoffDelay(this.#failures, this.#pod.backoffBaseMs, this.#pod.backoffMaxMs)
      // Terminated stays visible a moment (kubectl shows Error / Init:Error), as between two kubelet syncs.
      await sleep(1000, stop)
      this.view.lastState = this.view.state
      if (delay > 0 && !stop.aborted) {
        this.view.state = {
          waiting: {
            reason: 'CrashLoopBackOff',
            message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${this.spec.name} pod=${this.#pod.name}_${this.#pod.namespace}(${this.#pod.uid})`,
          },
        }
        await this.#pod.flush()
        await sleep(delay, stop)
      }
      if (!stop.aborted) this.view.restartCount++
    }
    return 'stopped'
  }

  /** One start of the process; resolves to its exit code. */
  async #runOnce(stop: AbortSignal): Promise<number> {
    const pod = this.#pod
    const entry = lookupImage(this.spec.image)!
    const dir = path.join(pod.dir, 'containers', this.spec.name)
    fs.mkdirSync(dir, { recursive: true })
    const mounts = pod.mountsFor(this.spec)
    const base: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOSTNAME: pod.name,
      HOME: dir,
    }
    const resolved = await resolveEnv(pod.object, this.spec, base, pod.data, pod.ip, pod.ctx.hostIP)
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(resolved)) env[k] = mapPath(v, mounts)
    if (mounts.some((m) => m.mountPath.replace(/\/+$/, '') === '/tmp') && !('TMPDIR' in resolved))
      env.TMPDIR = mapPath('/tmp', mounts)
    env.KUBE_RECYCLER_POD_RUNNER = '1'

    const mapArg = (a: string) => (a.startsWith('/') ? mapPath(a, mounts) : a)
    const command: string[] = (this.spec.command ?? []).map((a: string) => expand(a, resolved))
    const args: string[] = (this.spec.args ?? []).map((a: string) => expand(a, resolved))
    let argv: string[]
    if (entry.kind === 'nginx' && command.length === 0) {
      argv = this.#nginx(dir, mounts)
    } else {
      argv = command.length > 0 ? [...command, ...args] : [...entry.defaultCommand, ...args]
      if (argv.length === 0) throw new Error('no command')
      argv = [argv[0]!, ...argv.slice(1).map(mapArg)]
    }
    const program = resolveProgram(argv[0]!, entry.kind, pod.ctx.nodeExe, env.PATH ?? '')
    if (!program)
      throw new Error(`failed to create containerd task: exec: "${argv[0]}": executable file not found in $PATH`)
    const cwd = this.spec.workingDir ? mapPath(this.spec.workingDir, mounts) : dir
    fs.mkdirSync(cwd, { recursive: true })

    fs.mkdirSync(path.join(pod.dir, 'logs'), { recursive: true })
    const logFd = fs.openSync(path.join(pod.dir, 'logs', `${this.spec.name}.log`), 'a')
    let child: ChildProcess
    try {
      child = pod.ctx.groups.spawn(program, argv.slice(1), {
        cwd,
        env,
        stdio: ['ignore', logFd, logFd],
        argv0: argv[0],
      })
    } finally {
      fs.closeSync(logFd)
    }
    const exited = new Promise<{ code: number; spawnError?: Error }>((resolve) => {
      child.once('error', (err) => resolve({ code: 128, spawnError: err }))
      child.once('exit', (code, signal) => resolve({ code: exitCodeOf(code, signal) }))
    })
    if (!child.pid) {
      const r = await exited
      throw r.spawnError ?? new Error('could not start')
    }
    this.#pgid = child.pid
    this.#killReason = undefined
    const startedAt = now()
    const containerID = `pod-runner://${pod.uid.slice(0, 8)}-${this.spec.name}-${child.pid}`
    this.view.containerID = containerID
    this.view.state = { running: { startedAt } }
    this.view.started = !this.spec.startupProbe
    this.view.ready = false
    this.#exited = exited.then((r) => r.code)
    this.#runAbort = new AbortController()
    if (!this.isInit) this.#startProbes(this.#runAbort.signal, env, cwd, mounts)
    await pod.flush()

    const onStop = () => void this.kill(pod.graceSeconds, 'pod deleted')
    stop.addEventListener('abort', onStop, { once: true })
    if (stop.aborted) onStop()
    const { code } = await exited
    stop.removeEventListener('abort', onStop)
    this.#runAbort.abort()
    pod.ctx.groups.release(child.pid)
    this.#pgid = undefined
    this.view.ready = false
    this.view.started = false
    const term = {
      exitCode: code,
      reason: code === 0 ? 'Completed' : 'Error',
      ...(this.#killReason ? { message: this.#killReason } : {}),
      startedAt,
      finishedAt: now(),
      containerID,
    }
    this.view.state = { terminated: term }
    pod.ctx.changed()
    return code
  }

  #nginx(dir: string, mounts: Mount[]): string[] {
    const html = mapPath('/usr/share/nginx/html', mounts)
    let root = html
    if (html === '/usr/share/nginx/html') {
      // No volume there: the image's own welcome page.
      root = path.join(dir, 'html')
      fs.mkdirSync(root, { recursive: true })
      fs.writeFileSync(
        path.join(root, 'index.html'),
        '<!DOCTYPE html><title>Welcome to nginx!</title><h1>Welcome to nginx!</h1>\n',
      )
    }
    const tcp = (this.spec.ports ?? []).filter((p: any) => (p.protocol ?? 'TCP') === 'TCP')
    const ports: number[] = tcp.length > 0 ? tcp.map((p: any) => p.containerPort) : [nginxDefaultPort(this.spec.image)]
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
      fs.mkdirSync(path.join(dir, 'temp', t), { recursive: true })
    const conf = path.join(dir, 'nginx.conf')
    fs.writeFileSync(
      conf,
      nginxConf({
        listen: ports.map((port) => ({ ip: this.#pod.ip, port })),
        root,
        dir,
        runAsRoot: process.getuid?.() === 0,
      }),
    )
    return ['/usr/sbin/nginx', '-c', conf, '-p', dir, '-e', 'stderr', '-g', 'daemon off;']
  }

  /** SIGTERM to the container's process group, SIGKILL after the grace period. */
  async kill(graceSeconds: number, reason: string): Promise<void> {
    const pgid = this.#pgid
    const exited = this.#exited
    if (!pgid || !exited) return
    this.#killReason ??= reason
    const groups = this.#pod.ctx.groups
    groups.signal(pgid, 'SIGTERM')
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceSeconds * 1000))
    if ((await Promise.race([exited, timer])) === 'timeout') groups.signal(pgid, 'SIGKILL')
    await exited
  }

  #startProbes(signal: AbortSignal, env: Record<string, string>, cwd: string, mounts: Mount[]): void {
    const pod = this.#pod
    const target: ProbeTarget = {
      podIP: pod.ip,
      ports: this.spec.ports ?? [],
      exec: (command, timeoutMs) => this.#exec(command, env, cwd, mounts, timeoutMs),
    }
    const loop = async (
      probe: any,
      initial: boolean,
      onFlip: (result: boolean, message: string) => void | Promise<void>,
    ) => {
      const counter = new ProbeCounter(probe, initial)
      await sleep((probe.initialDelaySeconds ?? 0) * 1000, signal)
      while (!signal.aborted) {
        const r = await probeOnce(probe, target)
        if (signal.aborted) return counter
        if (counter.feed(r.ok)) await onFlip(counter.result, r.message)
        await sleep((probe.periodSeconds ?? 10) * 1000, signal)
      }
      return counter
    }
    const afterStart = () => {
      if (this.spec.readinessProbe) {
        void loop(this.spec.readinessProbe, false, (ok) => {
          this.view.ready = ok
          void pod.flush()
          pod.ctx.changed()
        })
      } else {
        this.view.ready = true
        void pod.flush()
        pod.ctx.changed()
      }
      if (this.spec.livenessProbe) {
        void loop(this.spec.livenessProbe, true, (ok, message) => {
          if (!ok) {
            pod.ctx.log(
              `${pod.namespace}/${pod.name} ${this.spec.name}: liveness probe failed (${message}); restarting`,
            )
            void this.kill(
              this.spec.livenessProbe.terminationGracePeriodSeconds ?? pod.graceSeconds,
              `Container ${this.spec.name} failed liveness probe, will be restarted`,
            )
          }
        })
      }
    }
    if (this.spec.startupProbe) {
      // successThreshold is 1 for a startup probe; failureThreshold failures in a row restart the container
      const sp = this.spec.startupProbe
      void (async () => {
        let fails = 0
        await sleep((sp.initialDelaySeconds ?? 0) * 1000, signal)
        while (!signal.aborted) {
          const r = await probeOnce(sp, target)
          if (signal.aborted) return
          if (r.ok) {
            this.view.started = true
            afterStart()
            return
          }
          if (++fails >= (sp.failureThreshold ?? 3)) {
            pod.ctx.log(
              `${pod.namespace}/${pod.name} ${this.spec.name}: startup probe failed (${r.message}); restarting`,
            )
            void this.kill(
              sp.terminationGracePeriodSeconds ?? pod.graceSeconds,
              `Container ${this.spec.name} failed startup probe, will be restarted`,
            )
            return
          }
          await sleep((sp.periodSeconds ?? 10) * 1000, signal)
        }
      })()
    } else {
      afterStart()
    }
  }

  /** An exec probe: the command in the container's environment, its own process group, killed at the timeout. */
  #exec(
    command: string[],
    env: Record<string, string>,
    cwd: string,
    mounts: Mount[],
    timeoutMs: number,
  ): Promise<number> {
    const entry = lookupImage(this.spec.image)!
    const argv = command.map((a) => (a.startsWith('/') ? mapPath(a, mounts) : a))
    const program = resolveProgram(argv[0] ?? '', entry.kind, this.#pod.ctx.nodeExe, env.PATH ?? '')
    if (!program) return Promise.reject(new Error(`exec: "${argv[0]}": executable file not found in $PATH`))
    const groups = this.#pod.ctx.groups
    const child = groups.spawn(program, argv.slice(1), { cwd, env, stdio: 'ignore', argv0: argv[0] })
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        if (child.pid) groups.signal(child.pid, 'SIGKILL')
        reject(new Error(`command timed out after ${timeoutMs / 1000}s`))
      }, timeoutMs)
      child.once('error', (err) => {
        clearTimeout(t)
        reject(err)
      })
      child.once('exit', (code, sig) => {
        clearTimeout(t)
        if (child.pid) groups.release(child.pid)
        resolve(exitCodeOf(code, sig))
      })
    })
  }
}

export class PodWorker {
  object: any
  readonly ctx: RunnerContext
  readonly ip: string
  readonly dir: string
  readonly data: DataSource
  readonly #init: ContainerRun[]
  readonly #containers: ContainerRun[]
  readonly #stop = new AbortController()
  readonly #clock = new ConditionClock()
  #volumes = new Map<string, string>()
  #initialized = false
  #initFailed = false
  #terminated = false
  #deleting = false
  #gone = false
  #startTime = now()
  #version = 0
  #lastConditions = ''
  #written = 0
  #writing: Promise<void> | undefined
  readonly done: Promise<void>

  constructor(ctx: RunnerContext, pod: any, ip: string) {
    this.ctx = ctx
    this.object = pod
    this.ip = ip
    this.dir = path.join(ctx.podsDir, pod.metadata.namespace, `${pod.metadata.name}.${pod.metadata.uid.slice(0, 8)}`)
    const ns = pod.metadata.namespace
    const get = async (kind: 'configmaps' | 'secrets', name: string) => {
      const res = await ctx.api.request('GET', `/api/v1/namespaces/${ns}/${kind}/${encodeURIComponent(name)}`)
      if (res.status === 404) return undefined
      if (res.status !== 200) throw new ConfigError(`get ${kind}/${name}: HTTP ${res.status}`)
      const o = res.json()
      const out: Record<string, string> = { ...(o.data ?? {}) }
      if (kind === 'secrets') for (const [k, v] of Object.entries(out)) out[k] = Buffer.from(v, 'base64').toString()
      else
        for (const [k, v] of Object.entries(o.binaryData ?? {}))
          out[k] = Buffer.from(v as string, 'base64').toString('latin1')
      return out
    }
    this.data = { configMap: (n) => get('configmaps', n), secret: (n) => get('secrets', n) }
    this.#init = (pod.spec.initContainers ?? []).map((c: any) => new ContainerRun(this, c, true))
    this.#containers = (pod.spec.containers ?? []).map((c: any) => new ContainerRun(this, c, false))
    this.done = this.#run()
  }

  get spec(): any {
    return this.object.spec
  }
  get name(): string {
    return this.object.metadata.name
  }
  get namespace(): string {
    return this.object.metadata.namespace
  }
  get uid(): string {
    return this.object.metadata.uid
  }
  get graceSeconds(): number {
    return this.object.metadata.deletionGracePeriodSeconds ?? this.spec.terminationGracePeriodSeconds ?? 30
  }
  get backoffBaseMs(): number {
    const a = Number(this.object.metadata.annotations?.[BACKOFF_ANNOTATION])
    return Number.isFinite(a) && a > 0 ? a : this.ctx.backoffBaseMs
  }
  get backoffMaxMs(): number {
    return this.backoffBaseMs * 30 // the kubelet's 10 s .. 300 s
  }

  /** Ready as this runner reports it (containers ready and readiness gates true), not being deleted. */
  get ready(): boolean {
    if (this.#deleting || this.#gone) return false
    return podConditions(this.#view()).find((c) => c.type === 'Ready')?.status === 'True'
  }

  /** A port of one of the pod's containers, by name or number. */
  port(target: number | string): number | undefined {
    if (typeof target === 'number') return target
    if (/^\d+$/.test(target)) return Number(target)
    for (const c of this.spec.containers ?? [])
      for (const p of c.ports ?? []) if (p.name === target) return p.containerPort
    return undefined
  }

  mountsFor(spec: any): Mount[] {
    return (spec.volumeMounts ?? []).flatMap((m: any) => {
      const dir = this.#volumes.get(m.name)
      return dir ? [{ mountPath: m.mountPath, hostPath: m.subPath ? path.join(dir, m.subPath) : dir }] : []
    })
  }

  /** A newer version of the object from the watch. */
  update(pod: any): void {
    this.object = pod
    if (pod.metadata.deletionTimestamp && !this.#deleting) {
      this.#deleting = true
      this.ctx.log(`${this.namespace}/${this.name}: deleting (grace ${this.graceSeconds}s)`)
      this.ctx.changed()
      this.#stop.abort()
    } else if (JSON.stringify(podConditions(this.#view())) !== this.#lastConditions) {
      // a readiness gate set by someone else changes Ready (our own writes change nothing here)
      void this.flush()
      this.ctx.changed()
    }
  }

  /** The object is gone (force-deleted, or our own delete): kill everything now. */
  vanish(): void {
    this.#gone = true
    this.#deleting = true
    this.object = { ...this.object, metadata: { ...this.object.metadata, deletionGracePeriodSeconds: 0 } }
    this.#stop.abort()
    this.ctx.changed()
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal
    fs.mkdirSync(this.dir, { recursive: true })
    await this.flush()
    // volumes first; a missing ConfigMap/Secret keeps the pod in ContainerCreating, as a kubelet's FailedMount does
    while (!stop.aborted) {
      try {
        this.#volumes = await prepareVolumes(
          path.join(this.dir, 'volumes'),
          this.object,
          this.data,
          this.ip,
          this.ctx.hostIP,
        )
        break
      } catch (err) {
        this.ctx.log(`${this.namespace}/${this.name}: volumes: ${(err as Error).message}`)
        await sleep(2000, stop)
      }
    }
    let ok = true
    for (const c of this.#init) {
      if (stop.aborted) break
      const r = await c.loop(stop)
      if (r !== 'succeeded') {
        ok = false
        if (r === 'failed') this.#initFailed = true
        break
      }
    }
    if (ok && !stop.aborted) {
      this.#initialized = true
      await this.flush()
      await Promise.all(this.#containers.map((c) => c.loop(stop)))
    }
    if (this.#initFailed) await this.flush()
    await this.#terminate()
  }

  /** After the containers stopped: a terminated pod being deleted is removed, as the kubelet does. */
  async #terminate(): Promise<void> {
    if (!this.#deleting) {
      // Containers finished by their restart policy; the pod object stays (Succeeded/Failed).
      await this.flush()
      await sleep(2 ** 31 - 1, this.#stop.signal)
      if (!this.#deleting) return
    }
    // a container still running (a pod deleted while in back-off is not)
    await Promise.all([...this.#init, ...this.#containers].map((c) => c.kill(this.graceSeconds, 'pod deleted')))
    this.#terminated = true
    if (this.#gone) return
    await this.flush()
    const res = await this.ctx.api
      .request('DELETE', `/api/v1/namespaces/${this.namespace}/pods/${encodeURIComponent(this.name)}`, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        gracePeriodSeconds: 0,
        preconditions: { uid: this.uid },
      })
      .catch((err: Error) => ({ status: 0, body: err.message }))
    if (res.status !== 200 && res.status !== 404 && res.status !== 409)
      this.ctx.log(`${this.namespace}/${this.name}: delete: HTTP ${res.status} ${res.body.slice(0, 200)}`)
  }

  /** Stops everything (the runner is shutting down). */
  shutdown(): void {
    this.#gone = true
    this.#stop.abort()
  }

  #view(): PodView {
    return {
      restartPolicy: this.spec.restartPolicy ?? 'Always',
      initContainers: this.#init.map((c) => c.view),
      containers: this.#containers.map((c) => c.view),
      initialized: this.#initialized,
      initFailed: this.#initFailed,
      terminated: this.#terminated,
      readinessGates: (this.spec.readinessGates ?? []).map((g: any) => g.conditionType),
      objectConditions: this.object.status?.conditions ?? [],
    }
  }

  #status(): any {
    const view = this.#view()
    const bare = podConditions(view)
    this.#lastConditions = JSON.stringify(bare)
    const conditions = this.#clock.stamp(bare, now())
    const cs = (c: ContainerView) => c
    return {
      phase: podPhase(view),
      conditions,
      hostIP: this.ctx.hostIP,
      hostIPs: [{ ip: this.ctx.hostIP }],
      podIP: this.ip,
      podIPs: [{ ip: this.ip }],
      startTime: this.#startTime,
      ...(this.#init.length > 0 ? { initContainerStatuses: view.initContainers.map(cs) } : {}),
      containerStatuses: view.containers.map(cs),
    }
  }

  /** Writes the current status; resolves once a write that includes it has landed (or the pod is gone). */
  async flush(): Promise<void> {
    const want = ++this.#version
    while (this.#written < want && !this.#gone) {
      this.#writing ??= this.#write().finally(() => (this.#writing = undefined))
      await this.#writing
    }
  }

  async #write(): Promise<void> {
    const v = this.#version
    const body = { metadata: { uid: this.uid }, status: this.#status() }
    try {
      const res = await this.ctx.api.request(
        'PATCH',
        `/api/v1/namespaces/${this.namespace}/pods/${encodeURIComponent(this.name)}/status`,
        body,
        'application/strategic-merge-patch+json',
      )
      if (res.status === 200) {
        this.#written = v
        this.object = { ...this.object, status: res.json().status, metadata: this.object.metadata }
        return
      }
      if (res.status === 404 || res.status === 409) {
        this.vanish()
        return
      }
      this.ctx.log(`${this.namespace}/${this.name}: status: HTTP ${res.status} ${res.body.slice(0, 300)}`)
    } catch (err) {
      this.ctx.log(`${this.namespace}/${this.name}: status: ${(err as Error).message}`)
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}

export type { ContainerState }
