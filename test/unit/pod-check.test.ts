// A per-pod check is the site's check aimed at one pod's IP and port, with
// the site's Host header (and so its TLS server name).

import t from 'tap'
import { podCheck, podPort } from '../../src/triggers/pod-check.ts'
import type { CheckConfig } from '../../src/config/types.ts'
import type { PodState } from '../../src/kube/types.ts'
import { podState } from '../fixtures/states.ts'

const check: CheckConfig = {
  name: 'home',
  url: 'https://www.example.test/health?deep=1',
  method: 'GET',
  headers: { accept: 'text/html' },
  timeoutMs: 1000,
  expectStatus: [{ min: 200, max: 299 }],
  bodyContains: 'ok',
  tls: { verify: true },
  perPod: {},
}

const pod = (over: Partial<PodState> = {}): PodState =>
  podState('web-1', {
    ip: '127.77.0.9',
    ports: [
      { container: 'metrics', name: 'metrics', containerPort: 9100, protocol: 'TCP' },
      { container: 'nginx', name: 'http', containerPort: 8080, protocol: 'TCP' },
    ],
    ...over,
  })

t.test('the pod IP, the first TCP port, the path and query, the Host header; every assertion kept', async (t) => {
  const r = podCheck(check, pod())
  t.ok('check' in r)
  if (!('check' in r)) return
  t.equal(r.check.url, 'https://127.77.0.9:9100/health?deep=1')
  t.same(r.check.headers, { accept: 'text/html', host: 'www.example.test' })
  t.equal(r.check.bodyContains, 'ok')
  t.same(r.check.expectStatus, check.expectStatus)
  t.same(check.headers, { accept: 'text/html' }, 'the site check is not changed')
})

t.test('a port by name or number; an IPv6 pod IP in brackets; a Host header the check sets is kept', async (t) => {
  const named = podCheck({ ...check, perPod: { port: 'http' } }, pod())
  t.equal('check' in named && named.check.url, 'https://127.77.0.9:8080/health?deep=1')
  const numbered = podCheck({ ...check, perPod: { port: 81 } }, pod({ ip: 'fd00::5' }))
  t.equal('check' in numbered && numbered.check.url, 'https://[fd00::5]:81/health?deep=1')
  const own = podCheck({ ...check, headers: { Host: 'other.test' } }, pod())
  t.same('check' in own && own.check.headers, { Host: 'other.test' })
})

t.test('no IP, no such port, no port at all: an error that says which', async (t) => {
  const { ip: _ip, ...noIp } = pod()
  t.same(podCheck(check, noIp), { error: 'pod web-1 has no IP yet' })
  t.same(podCheck({ ...check, perPod: { port: 'admin' } }, pod()), {
    error: 'pod web-1 declares no TCP port named "admin"',
  })
  t.same(podPort(pod({ ports: [{ container: 'dns', containerPort: 53, protocol: 'UDP' }] }), undefined), {
    error: 'pod web-1 declares no container port (set perPod.port)',
  })
})
