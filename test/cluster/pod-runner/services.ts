// kube-proxy's part: each Service of an opted-in namespace gets a loopback
// address (from the service range) whose ports TCP-proxy round-robin to the
// Ready pods the Service's selector picks. EndpointSlices are not used: the
// API refuses loopback endpoint addresses, so the selector is applied here.
import fs from 'node:fs'
import net from 'node:net'
import type { Api } from './api.ts'
import { assertLoopback, type IpPool } from './net-guard.ts'
import type { PodWorker } from './pods.ts'

export const ADDRESS_ANNOTATION = 'kube-recycler.test/address'

export interface PublishedService {
  address: string
  ports: Array<{ name?: string; port: number; local: number; targetPort: number | string }>
}

interface Proxy {
  uid: string
  namespace: string
  name: string
  key: string
  address: string
  selector: Record<string, string>
  servers: net.Server[]
  published: PublishedService
  next: number
}

export class Services {
  readonly #api: Api
  readonly #pool: IpPool
  readonly #file: string
  readonly #pods: () => Iterable<PodWorker>
  readonly #log: (m: string) => void
  readonly #proxies = new Map<string, Proxy>()
  readonly #sockets = new Set<net.Socket>()

  constructor(api: Api, pool: IpPool, file: string, pods: () => Iterable<PodWorker>, log: (m: string) => void) {
    this.#api = api
    this.#pool = pool
    this.#file = file
    this.#pods = pods
    this.#log = log
    this.#save()
  }

  /** A Service was added or changed; `optedIn` says whether its namespace runs pods. */
  async upsert(svc: any, optedIn: boolean): Promise<void> {
    const uid = svc.metadata.uid
    const selector = svc.spec?.selector
    const ports = (svc.spec?.ports ?? []).filter((p: any) => (p.protocol ?? 'TCP') === 'TCP')
    const wanted =
      optedIn && selector && Object.keys(selector).length > 0 && svc.spec?.type !== 'ExternalName' && ports.length > 0
    const key = JSON.stringify([selector, ports])
    const existing = this.#proxies.get(uid)
    if (existing && (!wanted || existing.key !== key)) this.remove(uid)
    if (!wanted || this.#proxies.has(uid)) return
    const address = existing?.address ?? this.#pool.allocate()
    const proxy: Proxy = {
      uid,
      namespace: svc.metadata.namespace,
      name: svc.metadata.name,
      key,
      address,
      selector,
      servers: [],
      published: { address, ports: [] },
      next: 0,
    }
    this.#proxies.set(uid, proxy)
    for (const p of ports) {
      const server = net.createServer((sock) => this.#connect(proxy, p.targetPort ?? p.port, sock))
      const local = await listen(server, address, p.port).catch(() => listen(server, address, 0))
      proxy.servers.push(server)
      proxy.published.ports.push({
        ...(p.name ? { name: p.name } : {}),
        port: p.port,
        local,
        targetPort: p.targetPort ?? p.port,
      })
    }
    this.#log(
      `service ${proxy.namespace}/${proxy.name} at ${address} ports ${proxy.published.ports.map((p) => `${p.port}->${p.local}`).join(',')}`,
    )
    this.#save()
    const res = await this.#api
      .request(
        'PATCH',
        `/api/v1/namespaces/${proxy.namespace}/services/${proxy.name}`,
        { metadata: { annotations: { [ADDRESS_ANNOTATION]: `${address}:${proxy.published.ports[0]!.local}` } } },
        'application/merge-patch+json',
      )
      .catch(() => undefined)
    if (res && res.status !== 200) this.#log(`annotate service ${proxy.namespace}/${proxy.name}: HTTP ${res.status}`)
  }

  remove(uid: string): void {
    const p = this.#proxies.get(uid)
    if (!p) return
    for (const s of p.servers) s.close()
    this.#proxies.delete(uid)
    this.#pool.release(p.address)
    this.#save()
  }

  /** Ready pods of the Service now. */
  endpoints(p: Proxy): PodWorker[] {
    const out: PodWorker[] = []
    for (const w of this.#pods()) {
      if (w.namespace !== p.namespace || !w.ready) continue
      const labels = w.object.metadata.labels ?? {}
      if (Object.entries(p.selector).every(([k, v]) => labels[k] === v)) out.push(w)
    }
    return out.sort((a, b) => a.ip.localeCompare(b.ip))
  }

  #connect(p: Proxy, targetPort: number | string, client: net.Socket): void {
    const eps = this.endpoints(p)
      .map((w) => ({ ip: w.ip, port: w.port(targetPort) }))
      .filter((e) => e.port !== undefined)
    if (eps.length === 0) {
      // kube-proxy rejects a connection to a Service without endpoints
      client.resetAndDestroy()
      return
    }
    const ep = eps[p.next++ % eps.length]!
    assertLoopback(ep.ip, 'endpoint')
    const upstream = net.connect({ host: ep.ip, port: ep.port! })
    this.#sockets.add(client).add(upstream)
    const done = () => {
      this.#sockets.delete(client)
      this.#sockets.delete(upstream)
    }
    client.on('close', done)
    upstream.on('close', done)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.resetAndDestroy())
    client.pipe(upstream)
    upstream.pipe(client)
  }

  #save(): void {
    const all: Record<string, PublishedService> = {}
    for (const p of this.#proxies.values()) all[`${p.namespace}/${p.name}`] = p.published
    const tmp = `${this.#file}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(all, null, 2) + '\n')
    fs.renameSync(tmp, this.#file)
  }

  close(): void {
    for (const uid of [...this.#proxies.keys()]) this.remove(uid)
    for (const s of this.#sockets) s.destroy()
  }
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject)
      resolve((server.address() as net.AddressInfo).port)
    })
  })
}
