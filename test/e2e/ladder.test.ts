// The ladder of repairs on running pods: a Deployment of three node servers
// (test/fixtures/run-pods.ts) behind a Service, kube-recycler as the real
// process probing it every two seconds with a per-pod check, a real git
// server for the production head a rollout pins. Pods are made sick by
// flipping one server (GET /set?live=0 on its own IP); what new pods do at
// start is set by a file they read then (LIVE_FILE), so a replacement, a
// rollout's pods or a rollback's pods can be made sick too. Every address
// the per-pod probes reach is a loopback pod IP of the pod runner.
//
//   one of three sick            → replace-pods: only it, the others' uids unchanged; recovered
//   all three sick               → replace-pods skipped → rollout pinned to the head; recovered
//   the replacement sick too     → replace-pods failed → rollout; recovered
//   replaced, the site still sick → replace-pods failed (at its verification) → rollout; recovered
//   the rollout's pods sick      → rollout → rollback; recovered
//   the rollback's pods sick too → rollout → rollback → stop (did-not-help)

import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { clusterKubeconfig, freshNamespace, kubectl, kubectlJson, serviceUrl } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { httpGet, nodeServerContainer } from '../fixtures/run-pods.ts'
import { startGitServer } from '../fixtures/git-server.ts'
import { startService } from '../fixtures/process.ts'

t.setTimeout(900_000)

const git = await startGitServer({ username: 'deploy', password: 'ladder-git-token', publicRead: true })
t.teardown(() => git.close())
const repo = await git.createRepo('site')
const head = await repo.push('release 1')

const readinessProbe = { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 1 }

async function setup(t: Test, name: string, mode = 'good', extraChecks = '', kind = 'Deployment') {
  const ns = await freshNamespace(`ladder-${name}`, { runPods: true })
  t.teardown(ns.cleanup)
  const dir = mkdtempSync(join(tmpdir(), 'kr-ladder-'))
  const liveFile = join(dir, 'live-mode')
  writeFileSync(liveFile, 'good')
  const manifests = [
    {
      apiVersion: 'apps/v1',
      kind,
      metadata: { name: 'web' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        ...(kind === 'Deployment'
          ? { strategy: { rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } }
          : { serviceName: 'web', podManagementPolicy: 'Parallel' }),
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [
              nodeServerContainer({
                env: [
                  { name: 'START_READY', value: '1' },
                  { name: 'LIVE_FILE', value: liveFile },
                ],
                readinessProbe,
              }),
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] },
    },
  ]
  for (const m of manifests) await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: JSON.stringify(m) })
  const pods = async (): Promise<any[]> =>
    (await kubectlJson<{ items: any[] }>(['get', 'pods', '-l', 'app=web'], { namespace: ns.name })).items.filter(
      (p) => !p.metadata.deletionTimestamp,
    )
  const ready = (p: any): boolean =>
    (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')
  await waitFor(async () => (await pods()).filter(ready).length === 3, {
    timeoutMs: 90_000,
    description: '3 pods Ready',
  })
  const site = await serviceUrl(ns.name, 'web')
  writeFileSync(liveFile, mode)

  const configPath = join(dir, 'config.yaml')
  writeFileSync(
    configPath,
    `
sites:
  - name: shop
    target: { kind: ${kind}, namespace: ${ns.name}, name: web }
    schedule: "*/2 * * * * *"
    failureThreshold: 1
    checks:
      - { name: live, url: "${site}/live", timeout: 2s, perPod: { port: http } }
${extraChecks.replaceAll('$SITE', site)}    git: { repo: "${git.url('site')}", branch: production, cache: 0s }
    recycle: { commitEnv: SITE_COMMIT, cooldown: 0s, maxPerWindow: 10, timeout: 90s, rollback: auto, verify: { delay: 1s, attempts: 3, interval: 2s } }
`,
  )
  const svc = await startService({
    env: {
      KUBE_RECYCLER_CONFIG: configPath,
      KUBECONFIG: clusterKubeconfig(),
      POD_NAMESPACE: ns.name,
      LOG_LEVEL: 'info',
    },
    timeoutMs: 20_000,
  })
  t.teardown(() => svc.stop('SIGKILL'))
  const status = async (): Promise<any> => (await (await request(`${svc.url}/status`)).body.json()) as any
  await waitFor(async () => (await status()).sites[0].health === 'healthy', {
    timeoutMs: 30_000,
    description: 'shop healthy, every pod passing its per-pod check',
  })
  const flip = async (pod: any, live: boolean): Promise<void> => {
    const r = await httpGet(`http://${pod.status.podIP}:8080/set?live=${live ? 1 : 0}`)
    t.equal(r.status, 200, `flipped ${pod.metadata.name} live=${live}`)
  }
  /** The first recycle that finished its verification. */
  const ended = async (): Promise<any> =>
    waitFor(
      async () => {
        const r = ((await status()).recent as any[]).find(
          (x) => x.state !== 'skipped' && (x.verification === 'recovered' || x.verification === 'recycle-did-not-help'),
        )
        return r ? ((await (await request(`${svc.url}${r.url}`)).body.json()) as any) : undefined
      },
      { timeoutMs: 300_000, intervalMs: 1000, description: 'a recycle verified' },
    )
  return { ns: ns.name, pods, ready, flip, status, ended, svc, liveFile }
}

const rungs = (r: any): string[] => (r.rungs ?? []).map((g: any) => `${g.rung}:${g.outcome}`)

t.test('one pod of three fails its per-pod check: only it is replaced, the site verifies healthy', async (t) => {
  const s = await setup(t, 'one')
  const before = await s.pods()
  const sick = before.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))[1]
  await s.flip(sick, false)
  const failing = await waitFor(
    async () => {
      const v = (await s.status()).sites[0].lastVerdict
      return v && !v.ok && v.pods?.failing === 1 ? v : undefined
    },
    { timeoutMs: 30_000, description: 'the verdict names the sick pod' },
  )
  t.match(failing.summary, new RegExp(`1 of 3 pods fail live: ${sick.metadata.name} \\(expected status`))
  const bad = failing.pods.pods.find((p: any) => !p.ok)
  t.equal(bad.name, sick.metadata.name)
  t.equal(bad.ip, sick.status.podIP)
  t.ok(/^127\./.test(bad.ip), 'the per-pod probe reached a loopback pod IP')
  t.equal(bad.check, 'live')
  t.equal(bad.cause, 'status')

  const r = await s.ended()
  t.same(rungs(r), ['replace-pods:succeeded'], JSON.stringify(r.steps.map((x: any) => x.message)))
  t.same(r.rungs[0].pods, [sick.metadata.name])
  t.equal(r.state, 'succeeded')
  t.equal(r.verification, 'recovered')
  const after = await s.pods()
  const kept = before.filter((p) => p.metadata.uid !== sick.metadata.uid).map((p) => p.metadata.uid)
  for (const uid of kept)
    t.ok(
      after.some((p) => p.metadata.uid === uid),
      `a healthy pod was left alone (${uid})`,
    )
  t.notOk(
    after.some((p) => p.metadata.uid === sick.metadata.uid),
    'the sick pod is gone',
  )
  const tpl = await kubectlJson<any>(['get', 'deployment', 'web'], { namespace: s.ns })
  t.equal(
    tpl.spec.template.metadata.annotations?.['kube-recycler.io/commit'],
    undefined,
    'no rollout: the template is unchanged',
  )
  const page = await (
    await request(`${(s.svc as any).url}${'/status'}`, { headers: { accept: 'text/html' } })
  ).body.text()
  t.match(page, /per-pod checks: 0 of 3 pods failing/, 'the status page shows the pods')
  t.match(page, /replace-pods succeeded/, 'and the ladder')
  const events = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=web'], { namespace: s.ns })
  t.match(events, /replace-pods/, 'an Event says what was done')
})

t.test('a StatefulSet: the sick pod is replaced alone (the same name, a new pod), the others untouched', async (t) => {
  const s = await setup(t, 'sts', 'good', '', 'StatefulSet')
  const before = await s.pods()
  const sick = before.find((p) => p.metadata.name === 'web-1')
  await s.flip(sick, false)
  const r = await s.ended()
  t.same(rungs(r), ['replace-pods:succeeded'], JSON.stringify(r.steps.map((x: any) => x.message)))
  t.same(r.rungs[0].pods, ['web-1'])
  t.equal(r.verification, 'recovered')
  const after = await s.pods()
  t.same(after.map((p) => p.metadata.name).sort(), ['web-0', 'web-1', 'web-2'])
  t.not(after.find((p) => p.metadata.name === 'web-1').metadata.uid, sick.metadata.uid, 'web-1 is a new pod')
  for (const p of before.filter((x) => x.metadata.name !== 'web-1'))
    t.ok(
      after.some((x) => x.metadata.uid === p.metadata.uid),
      `${p.metadata.name} was left alone`,
    )
})

t.test('every pod fails: replace-pods has nothing to tell apart, a rollout pinned to the head heals', async (t) => {
  const s = await setup(t, 'all')
  await Promise.all((await s.pods()).map((p) => s.flip(p, false)))
  const r = await s.ended()
  t.same(rungs(r), ['replace-pods:skipped', 'rollout:succeeded'], JSON.stringify(r.steps.map((x: any) => x.message)))
  t.match(r.rungs[0].reason, /every pod of 3 fails/)
  t.equal(r.commit, head, 'the rollout pinned the production head')
  t.equal(r.verification, 'recovered')
})

t.test('the replacement fails too: the ladder escalates to a rollout, which heals', async (t) => {
  // New pods without the pinned commit start sick: the replacement is, the rollout's pods are not.
  const s = await setup(t, 'replacement', 'unpinned-bad')
  const sick = (await s.pods())[0]
  await s.flip(sick, false)
  const r = await s.ended()
  t.same(rungs(r), ['replace-pods:failed', 'rollout:succeeded'], JSON.stringify(r.steps.map((x: any) => x.message)))
  t.match(r.rungs[0].reason, /replacement .* fails live too/)
  t.equal(r.verification, 'recovered')
  const events = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=web'], { namespace: s.ns })
  t.match(events, /RecycleEscalated/, 'the escalation is an Event')
})

t.test(
  'the replacement passes on its own IP but the site still fails: the ladder goes on to the rollout',
  async (t) => {
    // A site-level check no pod answers right until a rollout pins the commit (GET /site).
    const s = await setup(t, 'sitewide', 'good', '      - { name: site, url: "$SITE/site", timeout: 2s }\n')
    writeFileSync(s.liveFile, 'site-bad')
    await s.flip((await s.pods())[0], false)
    const r = await s.ended()
    t.same(rungs(r), ['replace-pods:failed', 'rollout:succeeded'], JSON.stringify(r.steps.map((x: any) => x.message)))
    t.match(r.rungs[0].reason, /the site still fails after the replacements/)
    t.equal(r.rungs[0].pods.length, 1, 'replace-pods replaced the one sick pod first')
    t.equal(r.verification, 'recovered')
  },
)

t.test("the rollout's pods fail: rolled back to the template before, which heals", async (t) => {
  const s = await setup(t, 'rollback', 'pinned-bad')
  await Promise.all((await s.pods()).map((p) => s.flip(p, false)))
  const r = await s.ended()
  t.same(
    rungs(r),
    ['replace-pods:skipped', 'rollout:succeeded', 'rollback:succeeded'],
    JSON.stringify(r.steps.map((x: any) => x.message)),
  )
  t.equal(r.state, 'rolled-back')
  t.equal(r.verification, 'recovered')
})

t.test('still failing after the rollback: the ladder stops and says so', async (t) => {
  const s = await setup(t, 'stop', 'all-bad')
  await Promise.all((await s.pods()).map((p) => s.flip(p, false)))
  const r = await s.ended()
  t.same(
    rungs(r),
    ['replace-pods:skipped', 'rollout:succeeded', 'rollback:succeeded', 'stop:failed'],
    JSON.stringify(r.steps.map((x: any) => x.message)),
  )
  t.equal(r.verification, 'recycle-did-not-help')
  t.match((await s.status()).sites[0].note, /automatic recycles stopped/)
})
