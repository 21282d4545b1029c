// One connection to the API server per process. client-node 2.0 builds a
// new undici Agent for every request, so every call is a new TCP and TLS
// handshake (GET ~15 ms instead of ~7 ms on the test control plane), and
// every watch holds a connection of its own. Here one Agent, speaking HTTP/2
// where the API server offers it (it does, over TLS), carries every request
// and every watch of the process, as client-go's transport does; and it
// PINGs the connection, so one whose peer stopped answering is closed and
// the next request connects afresh (undici resets a session whose PING is
// still unacknowledged at the next one).
//
// The Agent is kept while its TLS options (CA, client certificate and key,
// server name, verification) stay the same. An exec credential plugin may
// hand out a new client certificate when the last expires: then a new Agent
// is made and the old one closed once its requests are done.
//
// KubeConfig's createDispatcher and createDispatcherOptions are private in
// its types: they are wrapped on the instance, nowhere else. A proxy, a
// SOCKS proxy, or no TLS option at all keeps client-node's own choice.

import { createHash } from 'node:crypto'
import { Agent } from 'undici'
import type { KubeConfig } from './api.ts'

interface DispatcherOptions {
  type: string
  connect?: Record<string, unknown>
}

interface Patchable {
  createDispatcher(cluster: unknown, options: unknown): unknown
  createDispatcherOptions(cluster: unknown, options: unknown): DispatcherOptions
}

/** A digest of the TLS options: equal digests, same certificates and settings. */
function keyOf(connect: Record<string, unknown> = {}): string {
  const h = createHash('sha256')
  for (const name of Object.keys(connect).sort()) {
    const v = connect[name]
    h.update(`${name}\0`)
    if (Buffer.isBuffer(v) || typeof v === 'string') h.update(v)
    else h.update(JSON.stringify(v) ?? 'undefined')
    h.update('\0')
  }
  return h.digest('hex')
}

export interface SharedPool {
  /** Agents made so far (a new one only when the TLS options changed). */
  readonly made: number
  /** Closes the current Agent once its requests are done. */
  close(): void
}

export function shareOneConnectionPool(kc: KubeConfig, opts: { pingIntervalMs: number }): SharedPool {
  const self = kc as unknown as Patchable
  const own = self.createDispatcher.bind(kc)
  let current: { key: string; agent: Agent } | undefined
  let made = 0
  self.createDispatcher = (cluster, options) => {
    const o = self.createDispatcherOptions(cluster, options)
    if (o.type !== 'agent') return own(cluster, options)
    const key = keyOf(o.connect)
    if (current?.key !== key) {
      const old = current
      current = {
        key,
        agent: new Agent({ connect: o.connect ?? {}, allowH2: true, h2Options: { pingInterval: opts.pingIntervalMs } }),
      }
      made++
      void old?.agent.close().catch(() => undefined)
    }
    return current.agent
  }
  return {
    get made() {
      return made
    },
    close() {
      void current?.agent.close().catch(() => undefined)
    },
  }
}
