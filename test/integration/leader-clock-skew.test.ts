// Leader election between real `serve` processes on the test control plane,
// one of them with a wall clock 20 s off (libfaketime: Date and the
// kernel's realtime clock are shifted, the monotonic clock that Node's
// timers and performance.now() use is not). No replica may trust another's
// clock: a replica 20 s ahead never takes a live leader's Lease; one 20 s
// behind takes over a killed leader within the lease duration and a retry
// period; a leader that cannot renew (SIGSTOPped) is replaced only after the
// lease duration, and, resumed, has stepped down and does not act.

import t, { type Test } from 'tap'
import { createServer } from 'node:http'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { freshNamespace, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { startReplica, type Replica } from '../fixtures/replicas.ts'
import { leaderTimes } from '../../src/triggers/leader.ts'

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'
const skewed = (offset: string): Record<string, string> => ({
  LD_PRELOAD: FAKETIME_LIB,
  FAKETIME: offset,
  DONT_FAKE_MONOTONIC: '1',
})

/** A config whose one site is probed every second by the leader, at `probeUrl` (each replica its own, to tell who acted). */
function config(namespace: string, leaseSeconds: number, probeUrl: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kr-skew-'))
  const path = join(dir, 'config.yaml')
  writeFileSync(
    path,
    `
service:
  namespace: ${namespace}
  leaseDuration: ${leaseSeconds}s
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${namespace}, name: web }
    schedule: "* * * * * *"
    checks:
      - { name: home, url: "${probeUrl}", timeout: 2s }
`,
  )
  return path
}

/** A site that counts the probes it gets, per path. */
async function probedSite(t: Test) {
  const hits = new Map<string, number[]>()
  const server = createServer((req, res) => {
    const list = hits.get(req.url ?? '') ?? []
    list.push(performance.now())
    hits.set(req.url ?? '', list)
    res.end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return {
    url: (path: string) => `${base}${path}`,
    hitsAfter: (path: string, at: number) => (hits.get(path) ?? []).filter((x) => x > at).length,
  }
}

const leading = async (r: Replica): Promise<boolean> =>
  (await r.get('/status').catch(() => undefined))?.json?.service?.leader === true
const holder = async (ns: string): Promise<string | undefined> =>
  (await kubectlJson(['get', 'lease', 'kube-recycler'], { namespace: ns })).spec?.holderIdentity

async function replicaPair(t: Test, name: string, leaseSeconds: number, skewOfB: string) {
  const ns = await freshNamespace(name)
  t.teardown(ns.cleanup)
  const site = await probedSite(t)
  const a = await startReplica(t, {
    name: 'replica-a',
    configPath: config(ns.name, leaseSeconds, site.url('/a')),
    namespace: ns.name,
    startTimeoutMs: 90_000,
  })
  await waitFor(() => leading(a), { timeoutMs: 60_000, intervalMs: 100, description: 'replica-a leads' })
  const b = await startReplica(t, {
    name: 'replica-b',
    configPath: config(ns.name, leaseSeconds, site.url('/b')),
    namespace: ns.name,
    env: skewed(skewOfB),
    startTimeoutMs: 90_000,
  })
  await waitFor(async () => (await b.get('/readyz')).status === 200, {
    timeoutMs: 60_000,
    description: 'replica-b ready',
  })
  const times = leaderTimes(leaseSeconds * 1000)
  // Let b observe the Lease for a few rounds.
  await new Promise((r) => setTimeout(r, 2 * times.retryMs))
  return {
    ns: ns.name,
    site,
    a,
    b,
    times,
    aIdentity: (await a.get('/status')).json.service.replica as string,
    bIdentity: (await b.get('/status')).json.service.replica as string,
  }
}

t.test(
  "libfaketime shifts a Node process's wall clock by 20 s and leaves its timers on the real monotonic clock",
  async (t) => {
    t.ok(existsSync(FAKETIME_LIB), `${FAKETIME_LIB} (Debian package faketime)`)
    const script =
      'const w = Date.now(), m = performance.now(); setTimeout(() => console.log(JSON.stringify({ w, wall: Date.now() - w, mono: performance.now() - m })), 1000)'
    const before = Date.now()
    const out = spawnSync(process.execPath, ['-e', script], {
      env: { PATH: process.env.PATH ?? '', ...skewed('+20s') },
      encoding: 'utf8',
    })
    const r = JSON.parse(out.stdout) as { w: number; wall: number; mono: number }
    t.ok(r.w - before > 19_000 && r.w - before < 21_500, `Date.now() ${r.w - before} ms ahead`)
    t.ok(r.mono >= 990 && r.mono < 1500, `a 1 s timer took ${Math.round(r.mono)} ms of monotonic time`)
    t.ok(Math.abs(r.wall - r.mono) < 100, `and ${r.wall} ms of its (shifted) wall clock: the shift is constant`)
  },
)

t.test("a replica whose clock runs 20 s ahead never takes a live leader's Lease", async (t) => {
  const { ns, a, b, times, aIdentity } = await replicaPair(t, 'skew-ahead', 4, '+20s')
  const until = performance.now() + 3 * times.leaseMs
  const seen = { samples: 0, aLed: 0, bLed: 0 }
  while (performance.now() < until) {
    const [la, lb] = await Promise.all([leading(a), leading(b)])
    seen.samples++
    if (la) seen.aLed++
    if (lb) seen.bLed++
    await new Promise((r) => setTimeout(r, 100))
  }
  t.comment(`over ${3 * times.leaseMs} ms (3 lease durations): ${JSON.stringify(seen)}`)
  t.ok(seen.samples > 10, 'observed throughout')
  t.equal(seen.bLed, 0, 'b never led')
  t.equal(seen.aLed, seen.samples, 'a led at every sample')
  t.equal(await holder(ns), aIdentity, "the Lease is still a's")
  await a.stop('SIGTERM')
  await b.stop('SIGTERM')
})

t.test(
  'a replica whose clock runs 20 s behind takes over a killed leader within the lease duration and a retry period',
  async (t) => {
    const { ns, a, b, times, bIdentity } = await replicaPair(t, 'skew-behind', 4, '-20s')
    t.notOk(await leading(b), 'b waits while a leads')
    const killed = performance.now()
    await a.stop('SIGKILL')
    let took: number | undefined
    while (performance.now() - killed < times.leaseMs + 30_000) {
      if (await leading(b)) {
        took = Math.round(performance.now() - killed)
        break
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    t.comment(
      `b (clock -20 s) led ${took} ms after a was SIGKILLed (lease ${times.leaseMs} ms, retry ${times.retryMs} ms)`,
    )
    t.ok(took !== undefined, 'b takes over')
    t.ok(took! >= times.leaseMs - times.retryMs - 100, `not before the Lease ran out by b's clock: ${took} ms`)
    t.ok(
      took! <= times.leaseMs + times.retryMs + 500,
      `within lease + retry (+0.5 s for the processes and the polls): ${took} ms`,
    )
    t.equal(await holder(ns), bIdentity)
    await b.stop('SIGTERM')
  },
)

t.test(
  'a leader that cannot renew is replaced only after the lease duration and, resumed, has stepped down and does not act',
  async (t) => {
    // A short lease, so the stop stays shorter than the store's readiness
    // bound: the resumed replica is held back by the election alone. b's clock
    // runs 20 s ahead, so b would take over at once if it trusted the Lease's
    // renewTime.
    const { ns, site, a, b, times, bIdentity } = await replicaPair(t, 'skew-stopped', 2, '+20s')
    await waitFor(() => site.hitsAfter('/a', performance.now() - 2000) > 0, {
      timeoutMs: 10_000,
      description: 'the leader a probes',
    })
    t.equal(site.hitsAfter('/b', 0), 0, 'b has not probed')
    const stopped = performance.now()
    process.kill(a.proc.child.pid!, 'SIGSTOP')
    let resumed = false
    t.teardown(() => {
      if (!resumed) process.kill(a.proc.child.pid!, 'SIGCONT')
    })
    let took: number | undefined
    while (performance.now() - stopped < times.leaseMs + 10_000) {
      if (await leading(b)) {
        took = Math.round(performance.now() - stopped)
        break
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    t.comment(
      `b led ${took} ms after a was SIGSTOPped (lease ${times.leaseMs} ms, renew deadline ${times.renewDeadlineMs} ms, retry ${times.retryMs} ms)`,
    )
    t.ok(
      took !== undefined && took >= times.leaseMs - times.retryMs - 100,
      `b waited out the lease by its own clock: ${took} ms`,
    )
    t.ok(took! <= times.leaseMs + times.retryMs + 500, `and took over within lease + retry: ${took} ms`)
    await waitFor(() => site.hitsAfter('/b', stopped) > 0, { timeoutMs: 5000, description: 'b probes' })
    const cont = performance.now()
    process.kill(a.proc.child.pid!, 'SIGCONT')
    resumed = true
    t.equal(await leading(a), false, 'resumed, a says at once that it does not lead')
    const watchFor = 3000
    let ledAgain = 0
    while (performance.now() - cont < watchFor) {
      if (await leading(a)) ledAgain++
      await new Promise((r) => setTimeout(r, 100))
    }
    t.equal(ledAgain, 0, `a did not lead again in the ${watchFor} ms after it resumed`)
    t.equal(site.hitsAfter('/a', cont), 0, `a probed nothing in the ${watchFor} ms after it resumed`)
    t.ok(site.hitsAfter('/b', cont) >= 2, `b probed on (${site.hitsAfter('/b', cont)})`)
    t.equal(await holder(ns), bIdentity, "the Lease is b's")
    t.match(a.proc.output(), /stopped leading/, 'a said it stopped leading')
    await a.stop('SIGTERM')
    await b.stop('SIGTERM')
  },
)
