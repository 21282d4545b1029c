// The pod runner: a kubelet stand-in beside kwok. Started detached by
// test/cluster/lib.ts with a config file; runs the pods bound to its own
// nodes as local processes on loopback pod IPs, and proxies Services of
// opted-in namespaces. See test/cluster/README.md ("Pods that run").
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Api, Informer, type Obj } from './api.ts'
import { assertLoopback, assertLoopbackCidr, intToIp, IpPool, parseCidr, type Cidr } from './net-guard.ts'
import { Nodes } from './nodes.ts'
import { NAMESPACE_ANNOTATIONS, RUN_PODS_LABEL } from './opt-in.ts'
import { PodWorker, type RunnerContext } from './pods.ts'
import { killRecordedGroups, ProcessGroups } from './procs.ts'
import { Services } from './services.ts'

export interface RunnerConfig {
  apiserver: string
  caFile: string
  certFile: string
  keyFile: string
  /** run/pod-runner: pgids, services.json, pods/ */
  dir: string
  nodes: string[]
  hostIP: string
  podCidr: string
  serviceCidr: string
  /** kwok's --cidr: checked too, so that no pod IP of the cluster leaves loopback. */
  kwokCidr: string
  kubeletVersion: string
}

const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`)

const cfg = JSON.parse(fs.readFileSync(process.argv[2] ?? '', 'utf8')) as RunnerConfig
// Refuse to start unless every pod and service address is loopback.
const podCidr = assertLoopbackCidr(cfg.podCidr, 'pod CIDR')
const serviceCidr = assertLoopbackCidr(cfg.serviceCidr, 'service CIDR')
assertLoopbackCidr(cfg.kwokCidr, "kwok's --cidr")
assertLoopback(cfg.hostIP, 'host IP')

/**
 * Several test clusters may run on one machine (one per checkout or cache):
 * each runner claims one /24 of the pod and service ranges, machine-wide, by
 * a lock file holding its pid (a dead holder's claim is taken over).
 */
function claimBlock(): { index: number; release(): void } {
  const dir = path.join(os.tmpdir(), 'kube-recycler-pod-runner')
  fs.mkdirSync(dir, { recursive: true })
  for (let i = 0; i < 256; i++) {
    const file = path.join(dir, `block-${i}`)
    for (let tries = 0; tries < 2; tries++) {
      try {
        fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' })
        return { index: i, release: () => fs.rmSync(file, { force: true }) }
      } catch {
        const holder = Number(fs.readFileSync(file, 'utf8').trim())
        let alive = false
        try {
          process.kill(holder, 0)
          alive = true
        } catch (err) {
          alive = (err as NodeJS.ErrnoException).code === 'EPERM'
        }
        if (alive) break
        fs.rmSync(file, { force: true })
      }
    }
  }
  throw new Error(`pod runner: all 256 address blocks in ${dir} are taken`)
}
const block = claimBlock()
const sub = (c: Cidr): Cidr => {
  if (c.bits > 16) return c
  const base = (c.base + block.index * 256) >>> 0
  return parseCidr(`${intToIp(base)}/24`)
}
const podBlock = sub(podCidr)
const serviceBlock = sub(serviceCidr)

const pgidFile = path.join(cfg.dir, 'pgids')
const stale = killRecordedGroups(pgidFile)
if (stale.length > 0) log(`killed ${stale.length} process groups left by a previous runner: ${stale.join(' ')}`)
const podsDir = path.join(cfg.dir, 'pods')
fs.mkdirSync(podsDir, { recursive: true })

const api = new Api({ server: cfg.apiserver, caFile: cfg.caFile, certFile: cfg.certFile, keyFile: cfg.keyFile })
const groups = new ProcessGroups(pgidFile)
const podIPs = new IpPool(podBlock)
const workers = new Map<string, PodWorker>()
const optedIn = new Set<string>()

const services = new Services(
  api,
  new IpPool(serviceBlock),
  path.join(cfg.dir, 'services.json'),
  () => workers.values(),
  log,
)
const backoff = Number(process.env.KUBE_RECYCLER_POD_RUNNER_BACKOFF_MS)
const ctx: RunnerContext = {
  api,
  groups,
  podsDir,
  hostIP: cfg.hostIP,
  nodeExe: process.execPath,
  backoffBaseMs: Number.isFinite(backoff) && backoff > 0 ? backoff : 10_000,
  log,
  changed: () => {},
}

const terminal = (pod: any) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed'

const podInformers = cfg.nodes.map(
  (node) =>
    new Informer<Obj>(
      api,
      '/api/v1/pods',
      `fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`,
      {
        onUpsert(pod) {
          const w = workers.get(pod.metadata.uid)
          if (w) return w.update(pod)
          if (terminal(pod)) return
          const ip = podIPs.allocate()
          log(`${pod.metadata.namespace}/${pod.metadata.name}: starting on ${pod.spec.nodeName} at ${ip}`)
          const worker = new PodWorker(ctx, pod, ip)
          workers.set(pod.metadata.uid, worker)
          if (pod.metadata.deletionTimestamp) worker.update(pod)
          void worker.done.finally(() => {
            workers.delete(pod.metadata.uid)
            podIPs.release(ip)
            // the pod's data volumes go; its logs stay (run/pod-runner/pods/<ns>/<pod>.<uid>/logs)
            fs.rmSync(path.join(worker.dir, 'volumes'), { recursive: true, force: true })
            log(`${pod.metadata.namespace}/${pod.metadata.name}: done`)
          })
        },
        onDelete(pod) {
          workers.get(pod.metadata.uid)?.vanish()
        },
      },
      log,
    ),
)

const serviceInformer = new Informer<Obj>(
  api,
  '/api/v1/services',
  '',
  {
    onUpsert: (svc) =>
      void services.upsert(svc, optedIn.has(svc.metadata.namespace!)).catch((err) => log(`service: ${err.message}`)),
    onDelete: (svc) => services.remove(svc.metadata.uid),
  },
  log,
)

const namespaceInformer = new Informer<Obj>(
  api,
  '/api/v1/namespaces',
  '',
  {
    onUpsert(ns) {
      const on = ns.metadata.labels?.[RUN_PODS_LABEL] === 'true' && !ns.metadata.deletionTimestamp
      const was = optedIn.has(ns.metadata.name)
      if (on) optedIn.add(ns.metadata.name)
      else optedIn.delete(ns.metadata.name)
      if (on && Object.entries(NAMESPACE_ANNOTATIONS).some(([k, v]) => ns.metadata.annotations?.[k] !== v)) {
        // A labelled namespace without the admission annotations: add them (pods created before land on kwok's nodes).
        void api.request(
          'PATCH',
          `/api/v1/namespaces/${ns.metadata.name}`,
          { metadata: { annotations: NAMESPACE_ANNOTATIONS } },
          'application/merge-patch+json',
        )
      }
      if (on !== was)
        for (const svc of serviceInformer.items.values())
          if (svc.metadata.namespace === ns.metadata.name) void services.upsert(svc, on)
    },
    onDelete(ns) {
      optedIn.delete(ns.metadata.name)
    },
  },
  log,
)

const nodes = new Nodes(api, cfg.nodes, cfg.hostIP, cfg.kubeletVersion, log)

let stopping = false
async function shutdown(why: string, code: number): Promise<void> {
  if (stopping) return
  stopping = true
  log(`stopping (${why}): ${workers.size} pods`)
  nodes.stop()
  for (const i of [...podInformers, serviceInformer, namespaceInformer]) i.stop()
  services.close()
  for (const w of workers.values()) w.shutdown()
  // the containers got SIGTERM from their workers; whatever is left after 2 s is killed
  const deadline = Date.now() + 2000
  while (Date.now() < deadline && workers.size > 0) await new Promise((r) => setTimeout(r, 100))
  groups.killAll()
  api.close()
  block.release()
  process.exit(code)
}
process.on('SIGTERM', () => void shutdown('SIGTERM', 0))
process.on('SIGINT', () => void shutdown('SIGINT', 0))
process.on('uncaughtException', (err) => {
  log(`uncaught: ${err.stack}`)
  groups.killAll()
  block.release()
  process.exit(1)
})
process.on('unhandledRejection', (err) => log(`unhandled rejection: ${(err as Error)?.stack ?? err}`))

await nodes.register()
namespaceInformer.start()
await namespaceInformer.synced
serviceInformer.start()
for (const i of podInformers) i.start()
await Promise.all(podInformers.map((i) => i.synced))
fs.writeFileSync(path.join(cfg.dir, 'ready'), `${process.pid}\n`)
log(
  `pod runner ready: nodes ${cfg.nodes.join(', ')}; pod IPs ${podBlock.text} (of ${cfg.podCidr}); services ${serviceBlock.text} (of ${cfg.serviceCidr})`,
)
