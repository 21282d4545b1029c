// A healthy site at rest, on the real control plane with two real `serve`
// processes: its probes keep saying the same, and its state ConfigMap is not
// written again; the leader's one heartbeat ConfigMap carries what they
// said. /status tells the same story on both replicas, and after a restart
// of both. (The same in simulated minutes: test/unit/heartbeat.test.ts.)

import t from 'tap'
import { createServer } from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployment } from '../fixtures/engine.ts'
import { startReplica, type Replica } from '../fixtures/replicas.ts'

const SITES = 20
const HEARTBEAT_S = 10
/** Longer than the one-minute refresh each site's state had before. */
const REST_MS = 65_000

const okWrites = async (r: Replica) =>
  Number(/kube_recycler_state_writes_total\{result="ok"\} (\d+)/.exec((await r.get('/metrics')).text)?.[1] ?? 0)
/** What must be the same on every replica (the git facts are each process's own cache). */
const story = (s: any) =>
  JSON.stringify({ heartbeat: s.service.heartbeat, sites: s.sites.map(({ git: _g, ...rest }: any) => rest) })
const siteVersions = async (ns: string) => {
  const l = await kubectlJson(['get', 'configmaps', '-l', 'kube-recycler.io/state=site'], { namespace: ns })
  return Object.fromEntries((l.items as any[]).map((cm) => [cm.metadata.name, cm.metadata.resourceVersion]))
}

t.test(
  'healthy sites at rest write no state of their own; one heartbeat; the same /status on two replicas and after a restart of both',
  async (t) => {
    const ns = await freshNamespace('heartbeat')
    t.teardown(ns.cleanup)
    await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 1) })
    const target = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('ok')
    })
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()))
    t.teardown(() => new Promise<void>((r) => target.close(() => r())))
    const port = (target.address() as { port: number }).port
    const dir = mkdtempSync(join(tmpdir(), 'kr-heartbeat-'))
    const configPath = join(dir, 'config.yaml')
    writeFileSync(
      configPath,
      `service:
  namespace: ${ns.name}
  leaseDuration: 4s
  heartbeat: ${HEARTBEAT_S}s
  rateLimit: { max: 10000, window: 1m }
  readRateLimit: { max: 10000, window: 1m }
sites:
${Array.from(
  { length: SITES },
  (_, i) => `  - name: s${i}
    target: { kind: Deployment, namespace: ${ns.name}, name: web }
    schedule: "*/2 * * * * *"
    checks: [{ name: home, url: "http://127.0.0.1:${port}/s${i}", timeout: 2s }]
`,
).join('')}`,
    )
    const a = await startReplica(t, { name: 'hb-a', configPath, namespace: ns.name, startTimeoutMs: 90_000 })
    const b = await startReplica(t, { name: 'hb-b', configPath, namespace: ns.name, startTimeoutMs: 90_000 })
    await waitFor(
      async () => {
        const s = (await b.get('/status')).json
        return s?.sites?.every((x: any) => x.health === 'healthy' && x.lastVerdict?.ok === true)
      },
      { timeoutMs: 120_000, description: 'every site probed healthy, as both replicas see it' },
    )

    // At rest: the probes run every 2 s on the leader; nothing changes.
    const v0 = await siteVersions(ns.name)
    t.equal(Object.keys(v0).length, SITES, 'one state ConfigMap per site')
    const w0 = (await okWrites(a)) + (await okWrites(b))
    await new Promise((r) => setTimeout(r, REST_MS))
    const writes = (await okWrites(a)) + (await okWrites(b)) - w0
    t.comment(
      `${writes} state writes in ${REST_MS / 1000} s for ${SITES} healthy sites probed every 2 s (before: one per site per minute)`,
    )
    t.same(await siteVersions(ns.name), v0, "no site's state ConfigMap was written at rest")
    t.ok(
      writes <= Math.ceil(REST_MS / (HEARTBEAT_S * 1000)) + 1,
      `at most one heartbeat per ${HEARTBEAT_S} s (${writes})`,
    )
    const hb = await kubectlJson(['get', 'configmap', 'kube-recycler-heartbeat'], {
      namespace: ns.name,
      timeoutMs: 90_000,
    })
    t.equal(
      hb.metadata.labels['kube-recycler.io/state'],
      'heartbeat',
      'the heartbeat ConfigMap, labelled apart from the sites',
    )
    t.ok(hb.data['heartbeat.json'].length < 60 * SITES, `small: ${hb.data['heartbeat.json'].length} bytes`)

    // The same story on both replicas, as fresh as the last heartbeat.
    const both = await waitFor(
      async () => {
        const [sa, sb] = [(await a.get('/status')).json, (await b.get('/status')).json]
        return story(sa) === story(sb) ? sb : undefined
      },
      { timeoutMs: 30_000, description: 'the same /status on both replicas' },
    )
    const last = Date.parse(both.sites[0].lastVerdict.at)
    t.ok(
      Date.now() - last < (HEARTBEAT_S + 5) * 1000,
      `an unchanged site's last verdict is as fresh as the heartbeat (${Date.now() - last} ms old)`,
    )
    t.ok(
      both.sites[0].timeline.at(-1).count > REST_MS / 2000 - 5,
      `its timeline run counts the probes (${both.sites[0].timeline.at(-1).count})`,
    )

    // A restart of both: the leader writes its last notes on SIGTERM.
    await a.stop('SIGTERM')
    await b.stop('SIGTERM')
    const final = JSON.parse(
      (await kubectlJson(['get', 'configmap', 'kube-recycler-heartbeat'], { namespace: ns.name, timeoutMs: 90_000 }))
        .data['heartbeat.json'],
    )
    const a2 = await startReplica(t, { name: 'hb-a2', configPath, namespace: ns.name, startTimeoutMs: 90_000 })
    const b2 = await startReplica(t, { name: 'hb-b2', configPath, namespace: ns.name, startTimeoutMs: 90_000 })
    await waitFor(async () => (await a2.get('/readyz')).status === 200 && (await b2.get('/readyz')).status === 200, {
      timeoutMs: 60_000,
      description: 'both ready',
    })
    const after = await waitFor(
      async () => {
        const [sa, sb] = [(await a2.get('/status')).json, (await b2.get('/status')).json]
        return story(sa) === story(sb) ? sb : undefined
      },
      { timeoutMs: 30_000, description: 'the same /status on both restarted replicas' },
    )
    const s0 = after.sites.find((x: any) => x.name === 's0')
    const [of, delta, n] = final.sites.s0
    t.ok(
      Date.parse(s0.lastVerdict.at) >= of + delta,
      'after the restart: the last verdict time written on the way out, or newer',
    )
    t.ok(s0.timeline.at(-1).count >= 1 + n, 'and the timeline counts every probe before the restart')
    t.ok(s0.timeline.at(-1).count >= both.sites[0].timeline.at(-1).count, 'nothing counted before the restart is lost')
  },
)
