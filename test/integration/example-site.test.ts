// k8s/examples/site as shipped, on running pods (the pod runner of
// test/cluster): its checkout script run by the init container against the
// real git server, nginx serving what it checked out, the readiness probe
// judging it. Only the namespace, SITE_REPO and (for a private repository)
// the two Secret-backed variables its comments describe are changed.
//
//   - no pinned commit: the head of production
//   - pinned by the annotation (the downward API's PINNED_COMMIT), and by
//     SITE_COMMIT (what kube-recycler's rollout sets), which wins
//   - a commit the branch does not have: the init container fails, the pod
//     never serves (Init:Error, then Init:CrashLoopBackOff)
//   - a private repository: refused without the Secret, served with it
//   - the readiness probe: a commit without an index page is never Ready

import t, { type Test } from 'tap'
import { request } from 'undici'
import { kubectl, kubectlJson, podLog, serviceUrl } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployExampleSite, siteFiles } from '../fixtures/example-site.ts'
import { startGitServer, type GitServer } from '../fixtures/git-server.ts'

const USER = 'deploy'
const PASSWORD = 'example-site-git-4b1d'

async function namespace(t: Test, name: string): Promise<string> {
  const ns = `site-${name}-${Date.now().toString(36)}`
  t.teardown(() => kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).then(() => undefined))
  return ns
}

async function gitServer(t: Test, publicRead: boolean): Promise<GitServer> {
  const git = await startGitServer({ username: USER, password: PASSWORD, publicRead })
  t.teardown(() => git.close())
  return git
}

const pods = async (ns: string) =>
  ((await kubectlJson(['get', 'pods', '-l', 'app.kubernetes.io/name=web'], { namespace: ns })).items as any[]).filter(
    (p) => !p.metadata.deletionTimestamp,
  )
const ready = (p: any) => (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')

async function available(ns: string, replicas: number): Promise<void> {
  await waitFor(
    async () => {
      const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })
      return (
        d.status?.observedGeneration === d.metadata.generation &&
        d.status?.updatedReplicas === replicas &&
        d.status?.availableReplicas === replicas &&
        d.status?.replicas === replicas
      )
    },
    { timeoutMs: 120_000, intervalMs: 500, description: `${ns}/web: ${replicas} updated and available` },
  )
}

async function version(base: string): Promise<string> {
  const res = await request(`${base}/version.json`, { headersTimeout: 3000, bodyTimeout: 3000 })
  if (res.statusCode !== 200)
    throw new Error(`GET ${base}/version.json: HTTP ${res.statusCode} ${await res.body.text()}`)
  return ((await res.body.json()) as { commit: string; branch: string }).commit
}

const pin = (ns: string, annotations: Record<string, string | null>, env?: { name: string; value: string }) =>
  kubectl(
    [
      'patch',
      'deployment',
      'web',
      '--type=strategic',
      '-p',
      JSON.stringify({
        spec: {
          template: {
            metadata: { annotations },
            ...(env
              ? {
                  spec: {
                    initContainers: [{ name: 'checkout', env: [env] }],
                    containers: [{ name: 'web', env: [env] }],
                  },
                }
              : {}),
          },
        },
      }),
    ],
    { namespace: ns },
  )

t.test('no pin: the pods serve the head of production; pinned by annotation, then by SITE_COMMIT', async (t) => {
  const git = await gitServer(t, true)
  const repo = await git.createRepo('site')
  const first = await repo.push('release 1', siteFiles('1', true))
  const second = await repo.push('release 2', siteFiles('2', true))
  const ns = await namespace(t, 'pins')
  await deployExampleSite({ namespace: ns, repoUrl: git.url('site'), replicas: 2 })
  await available(ns, 2)
  for (const p of await pods(ns)) {
    t.match(p.spec.nodeName, /^run-node-/, "on the pod runner's nodes")
    t.match(p.status.initContainerStatuses[0], { name: 'checkout', state: { terminated: { exitCode: 0 } } })
    t.match(podLog(ns, p.metadata.name, 'checkout'), 'checkout: no pinned commit, using the head of production')
  }
  const site = await serviceUrl(ns, 'web')
  t.equal(await version(site), second, 'unpinned: the head of production')
  const page = await request(`${site}/`)
  t.match(await page.body.text(), /release 2/, 'nginx serves the checked-out index page')

  await pin(ns, { 'kube-recycler.io/commit': first })
  await available(ns, 2)
  await waitFor(async () => (await version(site)) === first, {
    timeoutMs: 30_000,
    description: 'release 1 through the annotation',
  })
  for (let i = 0; i < 4; i++) t.equal(await version(site), first, 'every pod serves the pinned commit')
  for (const p of await pods(ns))
    t.match(podLog(ns, p.metadata.name, 'checkout'), `checkout: pinned commit ${first} of production`)

  await pin(ns, {}, { name: 'SITE_COMMIT', value: second })
  await available(ns, 2)
  await waitFor(async () => (await version(site)) === second, {
    timeoutMs: 30_000,
    description: 'SITE_COMMIT wins over the annotation',
  })
})

t.test('a commit the branch does not have: the init container fails and the pod never serves', async (t) => {
  const git = await gitServer(t, true)
  const repo = await git.createRepo('site')
  const good = await repo.push('release 1', siteFiles('1', true))
  const stray = await repo.pushTo('experiment', 'not on production', siteFiles('x', true))
  const ns = await namespace(t, 'stray')
  await deployExampleSite({ namespace: ns, repoUrl: git.url('site'), replicas: 1 })
  await available(ns, 1)
  await pin(ns, { 'kube-recycler.io/commit': stray })
  const stuck = await waitFor(
    async () => {
      const p = (await pods(ns)).find((p) => p.metadata.annotations?.['kube-recycler.io/commit'] === stray)
      const init = p?.status?.initContainerStatuses?.[0]
      return init && init.restartCount >= 1 && init.state?.waiting?.reason === 'CrashLoopBackOff' ? p : undefined
    },
    { timeoutMs: 90_000, intervalMs: 500, description: 'Init:CrashLoopBackOff' },
  )
  const init = stuck.status.initContainerStatuses[0]
  t.equal(init.lastState?.terminated?.reason, 'Error')
  t.equal(init.lastState?.terminated?.exitCode, 1, 'the checkout script exits 1: not on the branch')
  t.match(podLog(ns, stuck.metadata.name, 'checkout'), `checkout: commit ${stray} is not on branch production`)
  t.equal(stuck.status.phase, 'Pending')
  t.notOk(ready(stuck))
  t.equal(stuck.status.containerStatuses?.[0]?.state?.waiting?.reason, 'PodInitializing', 'nginx never started')
  t.equal(await version(await serviceUrl(ns, 'web')), good, 'the old pod still serves release 1')
})

t.test('a private repository: refused without the Secret, served with it, the password never in a URL', async (t) => {
  const git = await gitServer(t, false)
  const repo = await git.createRepo('site')
  const head = await repo.push('release 1', siteFiles('1', true))

  const open = await namespace(t, 'nocreds')
  await deployExampleSite({ namespace: open, repoUrl: git.url('site'), replicas: 1 })
  await waitFor(
    async () => (await pods(open)).some((p) => (p.status?.initContainerStatuses?.[0]?.restartCount ?? 0) >= 1),
    { timeoutMs: 90_000, intervalMs: 500, description: 'the checkout without credentials fails' },
  )
  t.ok(
    git.requests.some((r) => r.status === 401 && !r.sentCredentials),
    'the git server refused the anonymous clone',
  )

  const ns = await namespace(t, 'creds')
  await deployExampleSite({
    namespace: ns,
    repoUrl: git.url('site'),
    replicas: 1,
    credentials: { username: USER, password: PASSWORD },
  })
  await available(ns, 1)
  t.equal(await version(await serviceUrl(ns, 'web')), head)
  t.ok(
    git.requests.some((r) => r.user === USER && r.path.endsWith('/git-upload-pack')),
    "cloned with the Secret's credentials",
  )
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })
  t.notMatch(JSON.stringify(d.spec), PASSWORD, 'the password is only in the Secret')
})

t.test('the readiness probe: a commit without an index page is never Ready', async (t) => {
  const git = await gitServer(t, true)
  const repo = await git.createRepo('site')
  await repo.push('release 1', siteFiles('1', true))
  const ns = await namespace(t, 'probe')
  await deployExampleSite({ namespace: ns, repoUrl: git.url('site'), replicas: 1 })
  await available(ns, 1)
  const empty = await repo.push('release 2: the index page went missing', { 'index.html': null })
  await pin(ns, { 'kube-recycler.io/commit': empty })
  const p = await waitFor(
    async () =>
      (await pods(ns)).find(
        (p) =>
          p.metadata.annotations?.['kube-recycler.io/commit'] === empty &&
          p.status?.containerStatuses?.[0]?.state?.running,
      ),
    { timeoutMs: 90_000, description: 'the new pod runs nginx' },
  )
  // Two failed probes 5 s apart (failureThreshold 2) and it would have been Ready long before: watch it stay NotReady.
  await new Promise((r) => setTimeout(r, 12_000))
  const now = (await pods(ns)).find((x) => x.metadata.uid === p.metadata.uid)
  t.ok(now, 'the pod is still there')
  t.notOk(ready(now), 'nginx answers 403 for a directory without an index page: not Ready')
  t.equal(now.status.containerStatuses[0].ready, false)
  t.equal(now.status.containerStatuses[0].restartCount, 0, 'the TCP liveness probe passes: no restart')
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })
  t.equal(d.status.availableReplicas, 1, 'the old pod serves on: maxUnavailable 0')
})
