// One probe attempt (httpGet, tcpSocket, exec) against a container's process,
// and the kubelet's bookkeeping of consecutive results against thresholds.
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { isLoopback } from './net-guard.ts'

export interface ProbeResult {
  ok: boolean
  message: string
}

export interface ProbeTarget {
  podIP: string
  /** The container's ports, for a port given by name. */
  ports: Array<{ name?: string; containerPort: number }>
  /** Runs an exec probe's command in the container's environment; resolves to its exit code. */
  exec(command: string[], timeoutMs: number): Promise<number>
}

export function resolvePort(port: number | string, ports: ProbeTarget['ports']): number | undefined {
  if (typeof port === 'number') return port
  if (/^\d+$/.test(port)) return Number(port)
  return ports.find((p) => p.name === port)?.containerPort
}

export async function probeOnce(probe: any, target: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000
  if (probe.httpGet) {
    const g = probe.httpGet
    const host = g.host || target.podIP
    const port = resolvePort(g.port, target.ports)
    if (port === undefined) return { ok: false, message: `port ${g.port} not found` }
    if (!isLoopback(host)) return { ok: false, message: `probe host ${host} is outside 127.0.0.0/8: not dialled` }
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.34', accept: '*/*' }
    for (const h of g.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value
    const mod = (g.scheme ?? 'HTTP') === 'HTTPS' ? https : http
    return new Promise((resolve) => {
      const req = mod.request(
        {
          host,
          port,
          path: g.path ?? '/',
          method: 'GET',
          headers,
          timeout: timeoutMs,
          agent: false,
          rejectUnauthorized: false,
        },
        (res) => {
          res.resume()
          const code = res.statusCode ?? 0
          resolve(
            code >= 200 && code < 400
              ? { ok: true, message: `HTTP ${code}` }
              : { ok: false, message: `HTTP probe failed with statuscode: ${code}` },
          )
        },
      )
      req.on('timeout', () =>
        req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)),
      )
      req.on('error', (err) =>
        resolve({ ok: false, message: `Get "http://${host}:${port}${g.path ?? '/'}": ${err.message}` }),
      )
      req.end()
    })
  }
  if (probe.tcpSocket) {
    const host = probe.tcpSocket.host || target.podIP
    const port = resolvePort(probe.tcpSocket.port, target.ports)
    if (port === undefined) return { ok: false, message: `port ${probe.tcpSocket.port} not found` }
    if (!isLoopback(host)) return { ok: false, message: `probe host ${host} is outside 127.0.0.0/8: not dialled` }
    return new Promise((resolve) => {
      const sock = net.connect({ host, port, timeout: timeoutMs })
      sock.once('connect', () => {
        sock.destroy()
        resolve({ ok: true, message: 'connected' })
      })
      sock.once('timeout', () => {
        sock.destroy()
        resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` })
      })
      sock.once('error', (err) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }))
    })
  }
  if (probe.exec) {
    try {
      const code = await target.exec(probe.exec.command ?? [], timeoutMs)
      return code === 0 ? { ok: true, message: 'exit 0' } : { ok: false, message: `command exited with ${code}` }
    } catch (err) {
      return { ok: false, message: (err as Error).message }
    }
  }
  return { ok: false, message: 'unsupported probe handler (grpc is not run by the pod runner)' }
}

/** Consecutive results against successThreshold / failureThreshold, as the kubelet's prober worker counts them. */
export class ProbeCounter {
  result: boolean
  #streak = 0
  #lastOk: boolean | undefined
  readonly #success: number
  readonly #failure: number

  constructor(probe: any, initial: boolean) {
    this.result = initial
    this.#success = probe.successThreshold ?? 1
    this.#failure = probe.failureThreshold ?? 3
  }

  /** Feeds one attempt; returns true if the result flipped. */
  feed(ok: boolean): boolean {
    this.#streak = this.#lastOk === ok ? this.#streak + 1 : 1
    this.#lastOk = ok
    const before = this.result
    if (ok && this.#streak >= this.#success) this.result = true
    if (!ok && this.#streak >= this.#failure) this.result = false
    return before !== this.result
  }
}
