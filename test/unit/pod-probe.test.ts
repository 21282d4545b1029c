// Per-pod probing: each Ready pod probed on its own IP (real HTTP servers on
// loopback addresses stand for the pods), the site's verdict failing when a
// pod fails, a pod list that cannot be read being no evidence, and the
// stored shape bounded for a site of many pods.

import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createProber } from '../../src/triggers/probe.ts'
import { podsSummary, probePods, type PodLister } from '../../src/triggers/pod-probe.ts'
import { verdictFromChecks } from '../../src/triggers/schedule.ts'
import { boundPods, boundVerdict, LIMITS } from '../../src/state/bounds.ts'
import { Errors } from '../../src/errors.ts'
import type { CheckConfig, SiteConfig } from '../../src/config/types.ts'
import type { PodState } from '../../src/kube/types.ts'
import type { PodsResult } from '../../src/state/schema.ts'
import { podState } from '../fixtures/states.ts'

/** A "pod": a server on its own loopback address answering 200 or 500, and what Host it was asked for. */
async function podServer(ip: string, healthy: boolean) {
  const hosts: string[] = []
  const server = http.createServer((req, res) => {
    hosts.push(String(req.headers.host))
    res.statusCode = healthy ? 200 : 500
    res.end(healthy ? 'site-ok' : 'broken')
  })
  await new Promise<void>((r) => server.listen(0, ip, r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return { port: (server.address() as AddressInfo).port, hosts }
}

const check = (over: Partial<CheckConfig> = {}): CheckConfig => ({
  name: 'home',
  url: 'http://shop.example.test/',
  method: 'GET',
  headers: {},
  timeoutMs: 2000,
  expectStatus: [{ min: 200, max: 299 }],
  tls: { verify: true },
  perPod: {},
  ...over,
})

const site = (checks: CheckConfig[]): SiteConfig =>
  ({ name: 'shop', checks, target: { kind: 'Deployment', namespace: 'ns', name: 'web' } }) as unknown as SiteConfig

const pod = (name: string, ip: string, port: number, over: Partial<PodState> = {}): PodState =>
  podState(name, {
    uid: `uid-${name}`,
    ip,
    templateCommit: 'c0ffee1',
    ports: [{ container: 'web', name: 'http', containerPort: port, protocol: 'TCP' }],
    ...over,
  })

const prober = createProber({ concurrency: 8, keepAlive: false })
t.teardown(() => prober.close())

t.test('one sick pod of three is named, with the commit it runs and how it failed; the site fails', async (t) => {
  const a = await podServer('127.77.200.1', true)
  const b = await podServer('127.77.200.2', false)
  const c = await podServer('127.77.200.3', true)
  const lister: PodLister = {
    pods: async () => [
      pod('web-a', '127.77.200.1', a.port),
      pod('web-b', '127.77.200.2', b.port, { templateCommit: 'baadbaad' }),
      pod('web-c', '127.77.200.3', c.port),
      // Not Ready, or on its way out: the Service sends it nothing, so it is not probed.
      pod('web-d', '127.77.200.4', c.port, { ready: false }),
      pod('web-e', '127.77.200.5', c.port, { terminating: true }),
    ],
  }
  const s = site([check()])
  const r = await probePods(prober, s, lister)
  t.ok(r)
  t.equal(r!.total, 3)
  t.equal(r!.failing, 1)
  t.same(
    r!.pods.map((p) => [p.name, p.ok, p.commit]),
    [
      ['web-a', true, 'c0ffee1'],
      ['web-b', false, 'baadbaad'],
      ['web-c', true, 'c0ffee1'],
    ],
  )
  const bad = r!.pods.find((p) => !p.ok)!
  t.equal(bad.check, 'home')
  t.equal(bad.cause, 'status')
  t.match(bad.message, /expected status 200-299, got 500/)
  t.equal(bad.ip, '127.77.200.2')
  t.same(b.hosts, ['shop.example.test'], "the pod was asked for the site's Host")

  const v = verdictFromChecks(s, [{ name: 'home', ok: true }], '2026-12-06T00:00:00.000Z', 'probe', r)
  t.equal(v.ok, false, 'the site check passed through the Service, but a pod fails: the site fails')
  t.match(v.summary, /^1 of 3 pods fail home: web-b \(expected status 200-299, got 500\)/)
})

t.test('the pods cannot be listed: no evidence, the site verdict is the site checks alone', async (t) => {
  const lister: PodLister = {
    pods: async () => {
      throw Errors.kube('the API server did not answer')
    },
  }
  const s = site([check()])
  const r = await probePods(prober, s, lister)
  t.same(r, { total: 0, failing: 0, pods: [], error: 'the pods could not be listed: the API server did not answer' })
  const v = verdictFromChecks(s, [{ name: 'home', ok: true }], '2026-12-06T00:00:00.000Z', 'probe', r)
  t.equal(v.ok, true, 'a kube error is not a failing pod')
  t.equal(podsSummary(r!), undefined)
})

t.test('a pod a check cannot be aimed at (no such port) is said, not failed', async (t) => {
  const a = await podServer('127.77.200.6', true)
  const lister: PodLister = {
    pods: async () => [pod('web-a', '127.77.200.6', a.port), pod('web-x', '127.77.200.7', 1, { ports: [] })],
  }
  const r = await probePods(prober, site([check({ perPod: { port: 'http' } })]), lister)
  t.equal(r!.total, 1)
  t.equal(r!.failing, 0)
  t.match(r!.error, /not probed: pod web-x declares no TCP port named "http"/)
})

t.test('a site without per-pod checks: nothing per pod, the lister is not asked', async (t) => {
  let asked = 0
  const r = await probePods(prober, site([check({ perPod: undefined })]), {
    pods: async () => {
      asked++
      return []
    },
  })
  t.equal(r, undefined)
  t.equal(asked, 0)
})

t.test('200 pods: every failing pod kept first, passing ones while room is left, the rest counted', async (t) => {
  const pods = Array.from({ length: 200 }, (_, i) => ({
    name: `web-${String(i).padStart(3, '0')}`,
    ok: i % 20 !== 7,
    ...(i % 20 !== 7 ? {} : { check: 'home', message: 'x'.repeat(1000) }),
  }))
  const p: PodsResult = { total: 200, failing: 10, pods }
  const b = boundPods(p)
  t.equal(b.pods.length, LIMITS.pods)
  t.same(
    b.pods.slice(0, 10).map((x) => x.ok),
    Array(10).fill(false),
    'the failing pods come first',
  )
  t.equal(b.leftOut, 200 - LIMITS.pods)
  t.ok(b.pods.every((x) => (x.message ?? '').length <= LIMITS.text))
  t.equal(boundPods(b).leftOut, b.leftOut, 'bounding again loses no count')
  const v = boundVerdict({ site: 's', ok: false, source: 'probe', at: 'x', checks: [], summary: 's', pods: p })
  t.equal(v.pods!.pods.length, LIMITS.pods, 'a stored verdict is bounded')
  t.ok(JSON.stringify(v).length < 20_000, `a 200-pod verdict stays small (${JSON.stringify(v).length} bytes)`)
})

t.test('the failing-pods gauge: one series per site, left alone when the pods could not be listed', async (t) => {
  const { createMetrics } = await import('../../src/status/metrics.ts')
  const { probeOnce } = await import('../../src/triggers/schedule.ts')
  const metrics = createMetrics({ defaultMetrics: false, version: 'test' })
  const a = await podServer('127.77.200.8', false)
  const b = await podServer('127.77.200.9', true)
  const s = { ...site([check({ url: `http://127.77.200.9:${b.port}/` })]), recycle: {} } as unknown as SiteConfig
  const clock = { now: () => Date.now(), sleep: async () => undefined }
  const lister: PodLister = {
    pods: async () => [pod('web-a', '127.77.200.8', a.port), pod('web-b', '127.77.200.9', b.port)],
  }
  const v = await probeOnce(prober, s, clock as any, metrics, lister)
  t.equal(v.ok, false)
  t.equal(v.pods?.failing, 1)
  const gauge = async () => (await metrics.failingPods.get()).values.find((x) => x.labels.site === 'shop')?.value
  t.equal(await gauge(), 1)
  const broken: PodLister = {
    pods: async () => {
      throw Errors.kube('the API server did not answer')
    },
  }
  const w = await probeOnce(prober, s, clock as any, metrics, broken)
  t.equal(w.ok, true, 'the site check passes; the unlisted pods are no evidence')
  t.equal(await gauge(), 1, 'unknown is not zero: the gauge keeps its last known value')
  t.equal((await metrics.failingPods.get()).values.length, 1, 'no series per pod')
})

t.test('a probe whose pods changed is a new story (written), not a repeat for the heartbeat', async (t) => {
  const { sameStory } = await import('../../src/state/freshness.ts')
  const s = site([check()])
  const pods = (names: string[]): PodsResult => ({
    total: names.length,
    failing: 0,
    pods: names.map((name) => ({ name, ok: true, commit: 'c0ffee1' })),
  })
  const at = '2026-12-06T00:00:00.000Z'
  const v = (p: PodsResult) => verdictFromChecks(s, [{ name: 'home', ok: true }], at, 'probe', p)
  t.ok(sameStory(v(pods(['web-a', 'web-b'])), v(pods(['web-a', 'web-b']))), 'the same pods: a repeat')
  t.notOk(
    sameStory(v(pods(['web-a', 'web-b'])), v(pods(['web-a', 'web-c']))),
    'a pod replaced: /status must show the pods as they are now',
  )
  const moved = pods(['web-a', 'web-b'])
  moved.pods[1] = { ...moved.pods[1]!, commit: 'baadbaad' }
  t.notOk(sameStory(v(pods(['web-a', 'web-b'])), v(moved)), 'a pod on another commit')
})
