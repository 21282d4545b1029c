// The example site (k8s/examples/site) as shipped, running for real on the
// test cluster's pod runner: only the repository URL (the test git server)
// and the namespace are patched by a kustomize overlay. Its init container
// checks out the production branch with git, nginx serves it, and the
// Service balances over the Ready replicas.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { startGitServer } from '../fixtures/git-server.ts'
import { freshNamespace, kubectl, kubectlJson, podLog, serviceUrl, waitFor } from '../fixtures/kube-cluster.ts'
import { httpGet } from '../fixtures/run-pods.ts'

t.setTimeout(240_000)

const SITE = path.resolve(import.meta.dirname, '../../k8s/examples/site')

t.test('the shipped example site checks out the production branch and serves it through the Service', async (t) => {
  const git = await startGitServer({ username: 'deploy', password: 's3cret' })
  t.teardown(() => git.close())
  const repo = await git.createRepo('shop-site')
  const head = await repo.push('the good site', { 'index.html': '<h1>shop: good</h1>\n' })

  const ns = await freshNamespace('example-site', { runPods: true })
  t.teardown(ns.cleanup)
  const overlay = fs.mkdtempSync(path.join(os.tmpdir(), 'example-site-'))
  t.teardown(() => fs.rmSync(overlay, { recursive: true, force: true }))
  const repoUrl = git.url('shop-site').replace('http://', 'http://deploy:s3cret@')
  fs.writeFileSync(path.join(overlay, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${ns.name}
resources:
  - ${path.relative(overlay, SITE)}
patches:
  - target: { kind: Namespace, name: shop }
    patch: |
      - op: replace
        path: /metadata/name
        value: ${ns.name}
  - target: { kind: Deployment, name: web }
    patch: |
      - op: test
        path: /spec/template/spec/initContainers/0/env/0/name
        value: SITE_REPO
      - op: replace
        path: /spec/template/spec/initContainers/0/env/0/value
        value: ${repoUrl}
`)
  const started = Date.now()
  await kubectl(['apply', '-k', overlay])
  await waitFor(async () => (await kubectlJson<any>(['get', 'deployment', 'web'], { namespace: ns.name })).status.availableReplicas === 3,
    { timeoutMs: 120_000, intervalMs: 500, description: 'deployment web 3/3 available' })
  t.comment(`example site: 3 replicas available ${((Date.now() - started) / 1000).toFixed(1)} s after apply`)

  const pods = (await kubectlJson<{ items: any[] }>(['get', 'pods', '-l', 'app.kubernetes.io/name=web'], { namespace: ns.name })).items
  t.equal(pods.length, 3)
  for (const p of pods) {
    t.match(p.spec.nodeName, /^run-node-/)
    t.match(p.status.initContainerStatuses[0], { name: 'checkout', state: { terminated: { exitCode: 0 } } })
    t.match(podLog(ns.name, p.metadata.name, 'checkout'), `checkout: no pinned commit, using the head of production`)
  }

  const url = await serviceUrl(ns.name, 'web', 'http')
  const page = await httpGet(`${url}/`)
  t.equal(page.status, 200)
  t.equal(page.body, '<h1>shop: good</h1>\n', 'nginx serves the checked-out production branch through the Service')
  const version = JSON.parse((await httpGet(`${url}/version.json`)).body)
  t.same(version, { commit: head, branch: 'production' }, 'the commit the pods run')
  t.ok(git.requests.some((r) => r.user === 'deploy' && r.path === '/shop-site.git/info/refs'), 'the init container cloned over HTTP from the test git server')
})
