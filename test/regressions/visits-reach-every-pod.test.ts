// The demo failed in CI: it waited 120 s to see the broken release served
// while kube-recycler had already noticed and repaired it. Its visits kept
// one connection alive, and a Service (kube-proxy, and the test cluster's
// stand-in) picks a pod per connection: every visit asked the same old pod.
// Visits must sample the pods as visitors do: a new connection each time.

import t from 'tap'
import { createServer, type Server } from 'node:http'
import { createServer as createTcpServer, connect, type AddressInfo, type Socket } from 'node:net'
import { visitSite } from '../fixtures/example-site.ts'

function site(commit: string, healthy: boolean): Promise<Server> {
  const s = createServer((req, res) => {
    if (req.url === '/version.json') return res.end(JSON.stringify({ commit }))
    res.end(healthy ? 'site-ok-marker' : 'template failed')
  })
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)))
}

t.test('visits through a per-connection round-robin reach every pod behind it', async (t) => {
  const pods = [await site('aaaa', true), await site('bbbb', false)]
  const sockets = new Set<Socket>()
  let next = 0
  // A Service as the stand-in and kube-proxy are: each new connection goes to the next pod.
  const service = createTcpServer((client) => {
    const pod = pods[next++ % pods.length]!
    const upstream = connect((pod.address() as AddressInfo).port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s)).on('error', () => undefined)
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((r) => service.close(r))
    for (const p of pods) {
      p.closeAllConnections()
      await new Promise((r) => p.close(r))
    }
  })
  const v = await visitSite(`http://127.0.0.1:${(service.address() as AddressInfo).port}`, 4)
  t.same([...v.commits].sort(), ['aaaa', 'bbbb'], 'both pods answered')
  t.ok(v.healthy > 0 && v.healthy < 4, `the broken pod's pages were seen as failing (${v.healthy} of 4 healthy)`)
})
