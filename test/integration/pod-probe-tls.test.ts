// A per-pod check of an https site: the pod is reached on its own IP, but the
// TLS server name (SNI) and the certificate's name check are the site's, from
// the URL's host (pod-check.ts puts it in the Host header, undici derives the
// server name from it). Real TLS servers on loopback stand for the pods; a
// throwaway PKI from the machine's openssl.

import t from 'tap'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { makePki } from '../fixtures/tls.ts'
import { createProber } from '../../src/triggers/probe.ts'
import { probePods } from '../../src/triggers/pod-probe.ts'
import type { SiteConfig } from '../../src/config/types.ts'
import type { PodState } from '../../src/kube/types.ts'
import { podState } from '../fixtures/states.ts'

const pki = await makePki({ hosts: ['shop.example.test'] })
t.teardown(() => pki.cleanup())

async function tlsPod(ip: string, pair: { cert: string; key: string }) {
  const names: Array<string | false | null> = []
  const server = https.createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
    names.push((req.socket as TLSSocket).servername)
    res.end('ok')
  })
  await new Promise<void>((r) => server.listen(0, ip, r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return { port: (server.address() as AddressInfo).port, names }
}

const pod = (name: string, ip: string, port: number): PodState =>
  podState(name, {
    namespace: 'shop',
    ip,
    ports: [{ container: 'web', name: 'https', containerPort: port, protocol: 'TCP' }],
  })

t.test(
  "the pod's IP, the site's server name: a good certificate passes, a wrong name fails as tls-hostname",
  async (t) => {
    const good = await tlsPod('127.77.201.1', pki.server)
    const wrong = await tlsPod('127.77.201.2', pki.wrongHost)
    const site = {
      name: 'shop',
      target: { kind: 'Deployment', namespace: 'shop', name: 'web' },
      checks: [
        {
          name: 'home',
          url: 'https://shop.example.test/',
          method: 'GET',
          headers: {},
          timeoutMs: 3000,
          expectStatus: [{ min: 200, max: 299 }],
          tls: { verify: true, caFile: pki.caFile },
          perPod: { port: 'https' },
        },
      ],
    } as unknown as SiteConfig
    const prober = createProber({ concurrency: 4, keepAlive: false })
    t.teardown(() => prober.close())
    const r = await probePods(prober, site, {
      pods: async () => [pod('web-a', '127.77.201.1', good.port), pod('web-b', '127.77.201.2', wrong.port)],
    })
    t.equal(r!.total, 2)
    const a = r!.pods.find((p) => p.name === 'web-a')!
    const b = r!.pods.find((p) => p.name === 'web-b')!
    t.equal(a.ok, true, JSON.stringify(a))
    t.same(good.names, ['shop.example.test'], 'the pod was asked for the site by name (SNI), not by its IP')
    t.equal(b.ok, false)
    t.equal(b.cause, 'tls-hostname', `the certificate's name is checked against the site's: ${b.message}`)
  },
)
