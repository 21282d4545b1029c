// The loop for real, on running pods: the example site of k8s/examples/site
// as shipped (its init container clones the test git server, Debian's nginx
// serves the checkout), kube-recycler as the real process, nothing staged.
// What a test reads of the site it reads through the site's Service, as a
// visitor would; what it reads of kube-recycler, through /status.
//
//   - the production head itself is broken: the rollout onto it does not
//     help, the template before it (pinned to the good release) is restored,
//     and the pods serve the good commit again;
//   - a pinned commit the branch does not have: the init container fails
//     (Init:Error, Init:CrashLoopBackOff), the rollout fails early and is
//     rolled back; the old pods never stopped serving.
// The demo's own story (a bad release, the fix lands, healed on the head) is
// test/e2e/demo.test.ts.

import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { clusterKubeconfig, kubectl, kubectlJson, serviceUrl } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployExampleSite, siteFiles, visitSite } from '../fixtures/example-site.ts'
import { startGitServer, type FixtureRepo } from '../fixtures/git-server.ts'
import { startService } from '../fixtures/process.ts'

const OPERATOR_TOKEN = 'operator-token-loop-3f9e'

async function setup(t: Test, opts: { name: string; git: boolean }) {
  const git = await startGitServer({ username: 'deploy', password: 'loop-git-token', publicRead: true })
  t.teardown(() => git.close())
  const repo: FixtureRepo = await git.createRepo('site')
  const good = await repo.push('release 1', siteFiles('1', true))
  const ns = `loop-${opts.name}-${Date.now().toString(36)}`
  await deployExampleSite({ namespace: ns, repoUrl: git.url('site'), replicas: 2 })
  t.teardown(() => kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).then(() => undefined))
  // The release deployed the way the pinned-commit pattern does (docs/deploy.md): by its sha.
  await kubectl(
    [
      'patch',
      'deployment',
      'web',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { template: { metadata: { annotations: { 'kube-recycler.io/commit': good } } } } }),
    ],
    { namespace: ns },
  )
  await waitFor(
    async () => {
      const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })
      return (
        d.status?.observedGeneration === d.metadata.generation &&
        d.status?.updatedReplicas === 2 &&
        d.status?.availableReplicas === 2 &&
        d.status?.replicas === 2
      )
    },
    { timeoutMs: 120_000, description: 'release 1 rolled out on running pods' },
  )
  const site = await serviceUrl(ns, 'web')
  const before = await visitSite(site, 6)
  t.same([...before.commits], [good], 'the pods serve release 1, checked out by their init containers')
  t.equal(before.healthy, 6)

  const dir = mkdtempSync(join(tmpdir(), 'kr-loop-'))
  const configPath = join(dir, 'config.yaml')
  writeFileSync(
    configPath,
    `
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${ns}, name: web }
    schedule: "*/2 * * * * *"
    failureThreshold: 2
    checks:
      - { name: home, url: "${site}/", bodyContains: site-ok-marker, timeout: 2s }
${opts.git ? `    git: { repo: "${git.url('site')}", branch: production, cache: 0s }\n` : ''}    recycle: { strategy: rollout, commitEnv: SITE_COMMIT, cooldown: 0s, timeout: 90s, rollback: auto, verify: { delay: 2s, attempts: 3, interval: 2s } }
`,
  )
  const svc = await startService({
    env: {
      KUBE_RECYCLER_CONFIG: configPath,
      KUBECONFIG: clusterKubeconfig(),
      POD_NAMESPACE: ns,
      KUBE_RECYCLER_RECYCLE_TOKEN: OPERATOR_TOKEN,
      LOG_LEVEL: 'info',
    },
    timeoutMs: 20_000,
  })
  t.teardown(() => svc.stop('SIGKILL'))
  const status = async () => (await (await request(`${svc.url}/status`)).body.json()) as any
  await waitFor(async () => (await status()).sites[0].health === 'healthy', {
    timeoutMs: 30_000,
    description: 'shop healthy',
  })
  const recycle = async (body: Record<string, unknown>) => {
    const res = await request(`${svc.url}/recycle`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ site: 'shop', ...body }),
    })
    const json = (await res.body.json()) as any
    t.equal(res.statusCode, 202, JSON.stringify(json))
    return json.id as string
  }
  const record = async (id: string) => (await (await request(`${svc.url}/recycles/${id}`)).body.json()) as any
  return { git, repo, good, ns, site, svc, status, recycle, record }
}

t.test(
  'the production head is broken: the rollout does not help, the template before it is restored, the pods serve the good commit again (rolled-back, recovered)',
  async (t) => {
    const s = await setup(t, { name: 'head', git: true })
    const bad = await s.repo.push('release 2: broken', siteFiles('2', false))
    const id = await s.recycle({ reason: 'e2e: roll onto the production head' })

    const sawBad = waitFor(async () => (await visitSite(s.site, 4)).commits.has(bad), {
      timeoutMs: 120_000,
      intervalMs: 300,
      description: 'a pod serves the broken head',
    })
    const end = await waitFor(
      async () => {
        const r = await s.record(id)
        return r.verification === 'recycle-did-not-help' || r.verification === 'recovered' ? r : undefined
      },
      { timeoutMs: 240_000, intervalMs: 1000, description: 'the recycle verified' },
    )
    await sawBad
    t.equal(end.commit, bad, 'the rollout pinned the production head')
    t.equal(end.state, 'rolled-back', 'still failing on the head: the template before it was restored')
    t.equal(end.verification, 'recovered', 'verified again after the rollback: the good release serves')
    t.match(JSON.stringify(end.steps), /verification 1\/3: still failing/, 'the head itself was verified failing first')

    const tpl = await waitFor(
      async () => {
        const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: s.ns })
        const pinned = d.spec.template.metadata.annotations?.['kube-recycler.io/commit']
        const env = d.spec.template.spec.containers[0].env?.find((e: { name: string }) => e.name === 'SITE_COMMIT')
        return pinned === s.good &&
          env === undefined &&
          d.status.updatedReplicas === 2 &&
          d.status.availableReplicas === 2 &&
          d.status.replicas === 2
          ? d
          : undefined
      },
      { timeoutMs: 180_000, intervalMs: 1000, description: 'the template before the rollout restored and rolled out' },
    )
    t.ok(tpl, 'rolled back to the template pinned to release 1')
    const after = await waitFor(
      async () => {
        const v = await visitSite(s.site, 6)
        return v.commits.size === 1 && v.commits.has(s.good) && v.healthy === 6 ? v : undefined
      },
      { timeoutMs: 60_000, description: 'the pods serve release 1 again' },
    )
    t.ok(after)
    // The probes saw the head fail meanwhile and asked again: never acted on while this one ran.
    const others = ((await s.status()).recent as any[]).filter((r) => r.id !== id)
    for (const r of others) t.equal(r.state, 'skipped', `another request during the repair was skipped: ${r.reason}`)
  },
)

t.test(
  'a pinned commit the branch does not have: the init container fails, the rollout fails early and is rolled back',
  async (t) => {
    const s = await setup(t, { name: 'offbranch', git: false })
    const stray = await s.repo.pushTo('experiment', 'not on production', siteFiles('x', true))
    const started = Date.now()
    const id = await s.recycle({ reason: 'e2e: pin a commit the branch lacks', commit: stray })

    const initFailed = waitFor(
      async () => {
        const pods = (await kubectlJson(['get', 'pods'], { namespace: s.ns })).items as any[]
        return pods.some((p) =>
          (p.status?.initContainerStatuses ?? []).some(
            (c: any) =>
              c.state?.terminated?.reason === 'Error' ||
              c.lastState?.terminated?.reason === 'Error' ||
              c.state?.waiting?.reason === 'CrashLoopBackOff',
          ),
        )
      },
      { timeoutMs: 120_000, intervalMs: 300, description: 'the init container of a new pod fails' },
    )
    const end = await waitFor(
      async () => {
        const r = await s.record(id)
        return ['failed', 'rolled-back', 'succeeded'].includes(r.state) ? r : undefined
      },
      { timeoutMs: 200_000, intervalMs: 1000, description: 'the recycle ended' },
    )
    await initFailed
    const seconds = (Date.now() - started) / 1000
    t.not(end.state, 'succeeded', JSON.stringify(end.steps?.slice(-5)))
    t.match(JSON.stringify(end.steps), /crash|CrashLoopBackOff|cannot start|rolled back/i, 'the record says why')
    t.ok(seconds < 150, `failed early (${seconds.toFixed(0)} s), not at the Deployment's 300 s progress deadline`)

    await waitFor(
      async () => {
        const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: s.ns })
        return (
          d.spec.template.metadata.annotations?.['kube-recycler.io/commit'] === s.good &&
          d.spec.template.spec.containers[0].env?.some((e: { name: string }) => e.name === 'SITE_COMMIT') !== true &&
          d.status.updatedReplicas === 2 &&
          d.status.availableReplicas === 2 &&
          d.status.replicas === 2
        )
      },
      { timeoutMs: 120_000, intervalMs: 1000, description: 'rolled back onto the template pinned to release 1' },
    )
    const after = await visitSite(s.site, 6)
    t.same([...after.commits], [s.good], 'the Service answered from release 1 throughout and after')
    t.equal(after.healthy, 6)
  },
)
