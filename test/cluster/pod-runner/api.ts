// The pod runner's narrow face over the API server: plain https with the
// admin client certificate (test infrastructure does not import src/), and a
// list+watch "informer" that keeps a cache of one resource and calls back on
// every change. Only loopback is ever dialled (see net-guard.ts).
import fs from 'node:fs'
import https from 'node:https'
import { assertLoopback } from './net-guard.ts'

export interface ApiConfig {
  server: string
  caFile: string
  certFile: string
  keyFile: string
}

export interface ApiResponse {
  status: number
  body: string
  json(): any
}

export type Obj = {
  metadata: { name: string; namespace?: string; uid: string; resourceVersion?: string; [k: string]: any }
  [k: string]: any
}

export class Api {
  readonly #url: URL
  readonly #agent: https.Agent

  constructor(cfg: ApiConfig) {
    this.#url = new URL(cfg.server)
    assertLoopback(this.#url.hostname, 'API server')
    this.#agent = new https.Agent({
      keepAlive: true,
      maxSockets: 16,
      ca: fs.readFileSync(cfg.caFile),
      cert: fs.readFileSync(cfg.certFile),
      key: fs.readFileSync(cfg.keyFile),
    })
  }

  request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
    timeoutMs = 10_000,
  ): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
      const req = https.request(
        {
          host: this.#url.hostname,
          port: this.#url.port,
          method,
          path,
          agent: this.#agent,
          timeout: timeoutMs,
          headers: {
            accept: 'application/json',
            ...(data ? { 'content-type': contentType, 'content-length': data.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString()
            resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) })
          })
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error(`timeout ${method} ${path}`)))
      req.on('error', reject)
      if (data) req.write(data)
      req.end()
    })
  }

  /** Streams watch events until the server ends the stream, the signal aborts, or an error. */
  watch(path: string, onEvent: (type: string, obj: any) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.#url.hostname,
          port: this.#url.port,
          method: 'GET',
          path,
          agent: this.#agent,
          headers: { accept: 'application/json' },
          signal,
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume()
            reject(Object.assign(new Error(`watch ${path}: HTTP ${res.statusCode}`), { status: res.statusCode }))
            return
          }
          let buf = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => {
            buf += chunk
            let nl: number
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl)
              buf = buf.slice(nl + 1)
              if (!line.trim()) continue
              const ev = JSON.parse(line) as { type: string; object: any }
              onEvent(ev.type, ev.object)
            }
          })
          res.on('end', () => resolve())
          res.on('error', reject)
        },
      )
      req.on('error', (err) => (signal.aborted ? resolve() : reject(err)))
      req.end()
    })
  }

  close(): void {
    this.#agent.destroy()
  }
}

export interface InformerHandlers<T extends Obj> {
  onUpsert(obj: T): void
  onDelete(obj: T): void
}

/**
 * List, then watch from the list's resourceVersion; on a broken or expired
 * watch, list again and report what changed meanwhile. `collection` is e.g.
 * `/api/v1/pods`, `query` e.g. `fieldSelector=spec.nodeName%3Drun-node-0`.
 */
export class Informer<T extends Obj> {
  readonly items = new Map<string, T>()
  readonly #abort = new AbortController()
  #synced!: () => void
  readonly synced: Promise<void> = new Promise((r) => (this.#synced = r))
  readonly #api: Api
  readonly #collection: string
  readonly #query: string
  readonly #handlers: InformerHandlers<T>
  readonly #log: (msg: string) => void

  constructor(api: Api, collection: string, query: string, handlers: InformerHandlers<T>, log: (msg: string) => void) {
    this.#api = api
    this.#collection = collection
    this.#query = query
    this.#handlers = handlers
    this.#log = log
  }

  start(): void {
    void this.#loop()
  }

  stop(): void {
    this.#abort.abort()
  }

  async #loop(): Promise<void> {
    const sep = this.#query ? '&' : ''
    while (!this.#abort.signal.aborted) {
      try {
        const res = await this.#api.request('GET', `${this.#collection}?${this.#query}`)
        if (res.status !== 200)
          throw new Error(`list ${this.#collection}: HTTP ${res.status} ${res.body.slice(0, 200)}`)
        const list = res.json()
        const seen = new Set<string>()
        for (const item of list.items as T[]) {
          seen.add(item.metadata.uid)
          this.#upsert(item)
        }
        for (const [uid, old] of [...this.items]) {
          if (!seen.has(uid)) {
            this.items.delete(uid)
            this.#handlers.onDelete(old)
          }
        }
        this.#synced()
        let rv: string = list.metadata.resourceVersion
        while (!this.#abort.signal.aborted) {
          let expired = false
          await this.#api.watch(
            `${this.#collection}?${this.#query}${sep}watch=1&allowWatchBookmarks=true&timeoutSeconds=240&resourceVersion=${rv}`,
            (type, obj) => {
              if (type === 'ERROR') {
                expired = true
                return
              }
              if (obj?.metadata?.resourceVersion) rv = obj.metadata.resourceVersion
              if (type === 'BOOKMARK') return
              if (type === 'DELETED') {
                this.items.delete(obj.metadata.uid)
                this.#handlers.onDelete(obj)
              } else this.#upsert(obj)
            },
            this.#abort.signal,
          )
          if (expired) break
        }
      } catch (err) {
        if (this.#abort.signal.aborted) return
        this.#log(`informer ${this.#collection}: ${(err as Error).message}; relisting`)
        await new Promise((r) => setTimeout(r, 500))
      }
    }
  }

  #upsert(obj: T): void {
    this.items.set(obj.metadata.uid, obj)
    try {
      this.#handlers.onUpsert(obj)
    } catch (err) {
      this.#log(`handler for ${obj.metadata.namespace ?? ''}/${obj.metadata.name}: ${(err as Error).stack}`)
    }
  }
}
