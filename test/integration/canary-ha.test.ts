// A leader killed mid-canary: two real `serve` processes on the test control
// plane, the example site on running pods, a broken production head. The
// leader patches the template with the hold, the canary pod comes up, and the
// leader is SIGKILLed while it probes it. The other replica adopts the
// recycle and, from the workload's canary annotation, judges the held pod
// itself and undoes it: the workload is never left held, exactly one pod ever
// ran the broken commit, the others kept their uids and their commit.

import t from 'tap'
import { request } from 'undici'
import { kubectlJson } from '../fixtures/kube-cluster.ts'
import { siteFiles, visitSite } from '../fixtures/example-site.ts'
import { waitFor } from '../fixtures/wait.ts'
import { haConfig, leaderOf, startReplica } from '../fixtures/replicas.ts'
import { deployCanarySite, getWorkload, livePods, podCommit, podHistory, settled } from '../fixtures/canary-site.ts'

t.setTimeout(400_000)

t.test(
  'the leader SIGKILLed mid-canary: the next leader judges the held pod, undoes it, never leaves it held',
  async (t) => {
    const site = await deployCanarySite('Deployment', 3, 'canary-ha')
    t.teardown(site.cleanup)
    const before = await getWorkload('Deployment', site.ns)
    const originals = new Set((await livePods(site.ns)).map((p) => p.metadata.uid))
    const config = haConfig(
      site.ns,
      // Many tries, a second apart: the kill lands while the canary is probed.
      '{ canary: true, commitEnv: SITE_COMMIT, cooldown: 0s, timeout: 150s, verify: { delay: 1s, attempts: 12, interval: 1s } }',
      `    checks:\n      - { name: home, url: "${site.url}/", bodyContains: site-ok-marker, timeout: 2s }\n    git: { repo: "${site.git.url('site')}", branch: production, cache: 0s }\n`,
    )
    const a = await startReplica(t, { name: 'replica-a', configPath: config, namespace: site.ns })
    const b = await startReplica(t, { name: 'replica-b', configPath: config, namespace: site.ns })
    const { leader, others } = await leaderOf([a, b])
    const follower = others[0]!
    const bad = await site.repo.push('release 2: broken', siteFiles('2', false))
    const history = podHistory(site.ns)
    t.teardown(history.stop)

    const res = await follower.post('/recycle', { site: 'shop', reason: 'canary-ha: roll onto the production head' })
    t.equal(res.status, 202, JSON.stringify(res.json))
    const id = res.json.id as string
    // Held, the canary pod Ready and being probed: its first failed try is in the leader's log.
    await waitFor(
      async () => {
        const w = await getWorkload('Deployment', site.ns)
        const mark = w.metadata.annotations?.['kube-recycler.io/canary']
        return (
          mark && JSON.parse(mark).phase === 'holding' && /canary web-\S+ 1\/12: home failed/.test(leader.proc.output())
        )
      },
      { timeoutMs: 120_000, intervalMs: 200, description: 'the leader probes the held canary' },
    )
    const held = await getWorkload('Deployment', site.ns)
    t.equal(held.spec.strategy.rollingUpdate.maxUnavailable, 0, 'held when killed')
    t.equal(held.spec.minReadySeconds, 86_400, 'held when killed')
    await leader.stop('SIGKILL')

    const end = await waitFor(
      async () => {
        const r = (await follower.get(`/recycles/${id}`)).json
        return r && !['pending', 'running'].includes(r.state) ? r : undefined
      },
      { timeoutMs: 120_000, intervalMs: 500, description: 'the adopted recycle ended' },
    )
    const steps = JSON.stringify(end.steps)
    t.equal(end.state, 'canary-failed', steps)
    t.match(end.holder, /^replica-/)
    t.not(end.holder, undefined)
    t.match(steps, /adopted by replica-/)
    t.match(steps, /adopted mid-canary: the workload is held on one new pod; judging it now/)
    t.match(end.canary, { passed: false, check: 'home', commit: bad })
    t.match(end.canary.message, /site-ok-marker/)

    await settled('Deployment', site.ns, 3)
    await history.stop()
    t.equal(history.ran(bad).length, 1, 'exactly one pod ever ran the broken head')
    const after = await livePods(site.ns)
    t.same(new Set(after.map((p) => p.metadata.uid)), originals, 'the held pods are the pods of before')
    for (const p of after) t.equal(podCommit(p), site.good, `${p.metadata.name} runs release 1`)
    const w = await getWorkload('Deployment', site.ns)
    t.equal(w.spec.minReadySeconds ?? 0, before.spec.minReadySeconds ?? 0, 'minReadySeconds released')
    t.same(w.spec.strategy, before.spec.strategy, 'strategy released')
    t.equal(w.spec.progressDeadlineSeconds, before.spec.progressDeadlineSeconds, 'progress deadline released')
    t.match(JSON.parse(w.metadata.annotations['kube-recycler.io/canary']), { recycle: id, phase: 'undone' })
    t.match(JSON.parse(w.metadata.annotations['kube-recycler.io/last-recycle']), { id, outcome: 'failed' })
    const events = (await kubectlJson(['get', 'events'], { namespace: site.ns })).items as any[]
    t.ok(
      events.some((e) => e.reason === 'RecycleCanaryFailed' && e.message.includes(id)),
      'a RecycleCanaryFailed Event on the workload',
    )
    const v = await visitSite(site.url, 6)
    t.same([...v.commits], [site.good])
    t.equal(v.healthy, 6)
    const status = (await follower.get('/status')).json
    t.match(
      status.recent.find((r: any) => r.id === id),
      { state: 'canary-failed', canary: { passed: false, check: 'home' } },
      '/status shows the canary',
    )
    const page = await request(`${follower.url()}/recycles/${id}`, { headers: { accept: 'text/html' } })
    t.match(await page.body.text(), /id="canary">pod <code>web-[^<]+<\/code>.*failed home/, 'the page shows the canary')
  },
)
