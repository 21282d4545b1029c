// The whole product end to end, as an operator runs it: the real service
// process, the real control plane, a real git server with a `production`
// branch, a real HTTP site. The site breaks; after failureThreshold scheduled
// ticks the Deployment rolls onto the production head; then either the site
// heals (recovered) or it does not (recycle-did-not-help, no second restart).
// Also: a Jenkins FAILURE delivered to the service restarts the Deployment
// onto the commit it names.

import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { clusterKubeconfig, freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployment } from '../fixtures/engine.ts'
import { startGitServer } from '../fixtures/git-server.ts'
import { startSite } from '../fixtures/sites.ts'
import { startService } from '../fixtures/process.ts'

const GIT_USER = 'deploy'
const GIT_TOKEN = 'git-token-e2e-5d1c'
const WEBHOOK_TOKEN = 'webhook-token-e2e-77aa'

async function setup(t: Test, opts: { name: string }) {
  const git = await startGitServer({ username: GIT_USER, password: GIT_TOKEN })
  t.teardown(() => git.close())
  const repo = await git.createRepo('site')
  const head = await repo.head()
  const site = await startSite()
  t.teardown(() => site.close())
  const ns = await freshNamespace(opts.name)
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 2) })
  await waitFor(
    async () => (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).status?.readyReplicas === 2,
    { timeoutMs: 60_000 },
  )
  const dir = mkdtempSync(join(tmpdir(), 'kr-e2e-'))
  const configPath = join(dir, 'config.yaml')
  writeFileSync(
    configPath,
    `
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${ns.name}, name: web }
    jenkins: { jobs: [shop-integrity] }
    schedule: "* * * * * *"
    failureThreshold: 2
    checks:
      - { name: home, url: "${site.url('/')}", bodyContains: site-ok-marker, timeout: 1s }
    git: { repo: "${git.url('site')}", branch: production, username: ${GIT_USER}, cache: 0s }
    recycle: { cooldown: 0s, timeout: 60s, verify: { delay: 1s, attempts: 2, interval: 1s } }
`,
  )
  const svc = await startService({
    env: {
      KUBE_RECYCLER_CONFIG: configPath,
      KUBECONFIG: clusterKubeconfig(),
      POD_NAMESPACE: ns.name,
      KUBE_RECYCLER_GIT_TOKEN: GIT_TOKEN,
      KUBE_RECYCLER_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      LOG_LEVEL: 'info',
    },
    timeoutMs: 15_000,
  })
  t.teardown(() => svc.stop('SIGKILL'))
  await waitFor(async () => (await request(`${svc.url}/readyz`)).statusCode === 200, {
    timeoutMs: 20_000,
    description: 'ready',
  })
  const status = async () => (await (await request(`${svc.url}/status`)).body.json()) as any
  const template = async () =>
    (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).spec.template.metadata.annotations ?? {}
  return { git, repo, head, site, ns, svc, status, template }
}

t.test('site breaks → rolled onto the production head → recovered', async (t) => {
  const e = await setup(t, { name: 'heal' })
  t.ok(
    await waitFor(() => /connected to the cluster: the service state is loaded/.test(e.svc.output()), {
      timeoutMs: 5000,
    }),
    'says it is connected',
  )
  // Move the production branch: the recycle must pin the newest commit.
  const newest = await e.repo.push('release 2')
  t.not(newest, e.head)
  await waitFor(async () => (await e.status()).sites[0].health === 'healthy', {
    timeoutMs: 10_000,
    description: 'healthy first',
  })
  e.site.set('broken')
  const pinned = await waitFor(async () => (await e.template())['kube-recycler.io/commit'], {
    timeoutMs: 20_000,
    description: 'the template is patched',
  })
  t.equal(pinned, newest, 'pinned to the production head found by ls-remote')
  e.site.set('healthy')
  const rec = await waitFor(
    async () => {
      const s = await e.status()
      const r = s.sites[0].lastRecycle
      return r?.verification === 'recovered' ? r : undefined
    },
    { timeoutMs: 60_000, description: 'recovered' },
  )
  t.equal(rec.state, 'succeeded')
  t.equal(rec.commit, newest)
  t.equal(rec.trigger.source, 'probe')
  const s = await e.status()
  t.equal(s.sites[0].health, 'healthy')
  await waitFor(async () => (await e.status()).sites[0].git?.running === newest, {
    timeoutMs: 10_000,
    description: '/status shows the running commit',
  })
  t.equal((await e.status()).sites[0].git.head, newest)
  t.equal((await e.status()).sites[0].git.drift, false)
  const events = await kubectl(
    ['get', 'events', '--field-selector', 'involvedObject.name=web', '-o', 'jsonpath={.items[*].reason}'],
    { namespace: e.ns.name },
  )
  t.match(events, /Recycled/)
  t.match(events, /RecycleVerified/)
  const pods = (await kubectlJson(['get', 'pods', '-l', 'app=web'], { namespace: e.ns.name })).items as any[]
  t.ok(
    pods.filter((p) => !p.metadata.deletionTimestamp).every((p) => p.spec.containers[0].env?.[0]?.value === newest),
    'pods carry SITE_COMMIT',
  )
  t.notOk(e.svc.output().includes(GIT_TOKEN), 'the git token is in no log line')
})

t.test('site stays broken → recycle-did-not-help, no second restart', async (t) => {
  const e = await setup(t, { name: 'noheal' })
  await waitFor(async () => (await e.status()).sites[0].health === 'healthy', { timeoutMs: 10_000 })
  e.site.set('wrong-body')
  const rec = await waitFor(
    async () => {
      const r = (await e.status()).sites[0].lastRecycle
      return r?.verification === 'recycle-did-not-help' ? r : undefined
    },
    { timeoutMs: 60_000, description: 'did not help' },
  )
  // The rollout pinned a new commit (the production head) and the site still
  // fails: the revision before is restored once and verified again; still
  // failing there too, so: did not help, and automatic recycles stop.
  t.equal(rec.state, 'rolled-back')
  const full = (await (await request(`${e.svc.url}${rec.url}`)).body.json()) as any
  t.match(
    full.steps.map((x: any) => x.message).join('\n'),
    /rolling back: still failing on [0-9a-f]{12} after the rollout[\s\S]*rolled-back: rolled back to revision 1/,
  )
  // Several more failing ticks: no further rollout.
  await new Promise((r) => setTimeout(r, 4000))
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: e.ns.name })
  t.equal(
    d.metadata.annotations['deployment.kubernetes.io/revision'],
    '3',
    'one rollout and its one rollback, nothing more',
  )
  t.equal(
    d.spec.template.metadata.annotations?.['kube-recycler.io/commit'],
    undefined,
    'back on the template before the recycle',
  )
  const s = await e.status()
  t.equal(s.sites[0].health, 'failing')
  t.match(s.sites[0].note, /recycle-did-not-help/)
  t.equal(s.recent.filter((r: any) => r.state !== 'skipped').length, 1)
  t.match(e.svc.output(), /"level":"error".*recycle-did-not-help/)
  const events = await kubectl(
    ['get', 'events', '--field-selector', 'involvedObject.name=web', '-o', 'jsonpath={.items[*].reason}'],
    { namespace: e.ns.name },
  )
  t.match(events, /RecycleDidNotHelp/)
  t.match(events, /RecycleRolledBack/)
})

t.test('a Jenkins FAILURE restarts the Deployment onto the commit it names', async (t) => {
  const git = await startGitServer({ username: GIT_USER, password: GIT_TOKEN })
  t.teardown(() => git.close())
  const ns = await freshNamespace('jenkins')
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 2) })
  await waitFor(
    async () => (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).status?.readyReplicas === 2,
    { timeoutMs: 60_000 },
  )
  const dir = mkdtempSync(join(tmpdir(), 'kr-e2e-'))
  const configPath = join(dir, 'config.yaml')
  writeFileSync(
    configPath,
    `sites:\n  - name: shop\n    target: { kind: Deployment, namespace: ${ns.name}, name: web }\n    jenkins: { jobs: [shop-integrity], commitIsSite: true }\n    recycle: { timeout: 60s }\n`,
  )
  const svc = await startService({
    env: {
      KUBE_RECYCLER_CONFIG: configPath,
      KUBECONFIG: clusterKubeconfig(),
      POD_NAMESPACE: ns.name,
      KUBE_RECYCLER_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    },
    timeoutMs: 20_000,
  })
  t.teardown(() => svc.stop('SIGKILL'))
  // As a Service would: no request before the pod is ready (its state loaded).
  await waitFor(async () => (await request(`${svc.url}/readyz`)).statusCode === 200, {
    timeoutMs: 20_000,
    description: 'ready',
  })
  const commit = 'c0ffee0123456789c0ffee0123456789c0ffee01'
  const res = await request(`${svc.url}/webhooks/jenkins`, {
    method: 'POST',
    headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      job: 'shop-integrity',
      build: 812,
      status: 'FAILURE',
      commit,
      url: 'http://jenkins.local/job/shop-integrity/812/',
    }),
  })
  t.equal(res.statusCode, 202)
  const body = (await res.body.json()) as any
  t.equal(body.action, 'recycle-requested')
  const final = await waitFor(
    async () => {
      const r = (await (await request(`${svc.url}${body.recycle.url}`)).body.json()) as any
      return r.state === 'succeeded' || r.state === 'failed' ? r : undefined
    },
    { timeoutMs: 60_000 },
  )
  t.equal(final.state, 'succeeded', JSON.stringify(final.steps))
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
  t.equal(d.spec.template.metadata.annotations['kube-recycler.io/commit'], commit)
  t.equal(d.status.updatedReplicas, 2)
  // The same build delivered again: acts once.
  const again = await request(`${svc.url}/webhooks/jenkins`, {
    method: 'POST',
    headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ job: 'shop-integrity', build: 812, status: 'FAILURE', commit }),
  })
  t.equal(((await again.body.json()) as any).action, 'duplicate')
})
