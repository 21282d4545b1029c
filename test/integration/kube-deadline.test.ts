// Every Kubernetes request has a real deadline: against an API server that
// accepts the connection and never answers (as one that was SIGSTOPped),
// a request is aborted at its deadline and its socket closed, whether the
// connection speaks HTTP/2 (as kube-apiserver does over TLS) or HTTP/1.1.
// Before, nothing aborted it: undici's own timers would have ended it after
// 300 s, and a racing wrapper only stopped waiting for it.

import t, { type Test } from 'tap'
import { createServer, type TLSSocket } from 'node:tls'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createKube } from '../../src/kube/client.ts'
import { makePki } from '../fixtures/tls.ts'
import { quietLogger } from '../fixtures/engine.ts'

const DEADLINE_MS = 2000

async function stalledApiServer(t: Test, cert: { cert: string; key: string }, alpn: string[]) {
  const sockets = new Set<TLSSocket>()
  let accepted = 0
  let protocol: string | false | null = null
  const server = createServer({ cert: cert.cert, key: cert.key, ALPNProtocols: alpn }, (s) => {
    accepted++
    protocol = s.alpnProtocol
    sockets.add(s)
    s.on('data', () => undefined) // read the request, never answer
    s.on('error', () => undefined)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return {
    port: (server.address() as { port: number }).port,
    open: () => sockets.size,
    accepted: () => accepted,
    protocol: () => protocol,
  }
}

function kubeconfigFor(dir: string, port: number, caFile: string): string {
  const path = join(dir, `config-${port}`)
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: x',
      `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", certificate-authority: ${JSON.stringify(caFile)}}}]`,
      'users: [{name: u, user: {token: not-a-secret}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      '',
    ].join('\n'),
  )
  return path
}

async function until(what: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms
  while (performance.now() < end) {
    if (what()) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return what()
}

t.test('a request to an API server that never answers is aborted at its deadline and its socket closed', async (t) => {
  const pki = await makePki()
  t.teardown(() => pki.cleanup())
  const dir = mkdtempSync(join(tmpdir(), 'kr-deadline-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const alpn of [['h2'], ['http/1.1']]) {
    await t.test(`over ${alpn[0]}`, async (t) => {
      const api = await stalledApiServer(t, pki.server, alpn)
      const kube = createKube({
        kubeconfig: kubeconfigFor(dir, api.port, pki.caFile),
        logger: quietLogger(),
        env: {},
        requestTimeoutMs: DEADLINE_MS,
      })
      t.teardown(() => kube.close())
      const started = performance.now()
      let guard: NodeJS.Timeout | undefined
      const outcome = await Promise.race([
        kube.ping().then(
          () => 'answered',
          (e: Error) => e.message,
        ),
        new Promise<string>((resolve) => {
          guard = setTimeout(() => resolve('still waiting after 15 s'), 15_000)
        }),
      ])
      clearTimeout(guard)
      const took = Math.round(performance.now() - started)
      t.comment(`${alpn[0]}: ${outcome} after ${took} ms (deadline ${DEADLINE_MS} ms)`)
      t.equal(api.protocol(), alpn[0], `the connection speaks ${alpn[0]}`)
      t.match(outcome, /^GET \/version: no answer in time \(aborted\)$/, 'the request failed as one without an answer')
      t.ok(took >= DEADLINE_MS - 50 && took < DEADLINE_MS + 1000, `at its deadline: ${took} ms`)
      t.ok(
        await until(() => api.open() === 0, 2 * DEADLINE_MS),
        `and its socket is closed (${api.open()} open of ${api.accepted()} accepted)`,
      )
      t.comment(
        `${alpn[0]}: the socket closed ${Math.round(performance.now() - started)} ms after the request was sent`,
      )
    })
  }
})
