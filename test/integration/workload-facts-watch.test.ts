// What /status says a site runs (`running`, `drift`) comes from a watch of
// each named workload, kept on every replica: at rest the service reads no
// workload at all, and a changed commit shows on /status within seconds.
// A real `serve` process as the shipped ServiceAccount (its own Role and the
// site Roles `kube-recycler rbac` generates: get/patch/watch on the named
// workloads only), a real git server for the production head. The API
// server itself counts the service's GETs of Deployments: a FlowSchema of
// this test's own matches exactly those (apiserver_flowcontrol_dispatched_requests_total);
// a second one, after it, every other request of the service, so the
// service's own count of what it sent (kube_recycler_kube_requests_total)
// is checked against what the API server received.

import t from 'tap'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { parseAllDocuments } from 'yaml'
import { clusterState, countingFlow, flowRequests, freshNamespace, kubectl } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployment } from '../fixtures/engine.ts'
import { startGitServer } from '../fixtures/git-server.ts'
import { startSite } from '../fixtures/sites.ts'
import { ROOT, startService } from '../fixtures/process.ts'
import { parseConfig } from '../../src/config/load.ts'
import { ownRbac, siteRbac } from '../../src/cli/rbac.ts'

const SITES = 5
const COMMIT = 'kube-recycler.io/commit'

function manifest(file: string): any {
  return parseAllDocuments(readFileSync(join(ROOT, 'k8s', 'rbac', file), 'utf8')).map((d) => d.toJSON())[0]
}
const apply = (namespace: string | undefined, obj: unknown) =>
  kubectl(['apply', '-f', '-'], { ...(namespace ? { namespace } : {}), input: JSON.stringify(obj) })

t.test('at rest the service reads no workload; /status follows a changed commit within seconds', async (t) => {
  const sys = await freshNamespace('krfacts-sys')
  const site = await freshNamespace('krfacts-site')
  const flow = `${sys.name}-gets`
  const allFlow = `${sys.name}-all`
  t.teardown(async () => {
    await kubectl(['delete', 'flowschema', flow, allFlow, '--ignore-not-found']).catch(() => undefined)
    await sys.cleanup()
    await site.cleanup()
  })
  const git = await startGitServer({ username: 'deploy', password: 'git-token-facts' })
  t.teardown(() => git.close())
  const repo = await git.createRepo('site')
  const head = await repo.head()
  const page = await startSite()
  t.teardown(() => page.close())

  // Sites probed every second: the leader's probe ticks ask for fresh facts (after 30 s) all the time.
  const yaml = `
sites:
${Array.from(
  { length: SITES },
  (_, i) => `  - name: site-${i}
    target: { kind: Deployment, namespace: ${site.name}, name: web-${i} }
    schedule: "* * * * * *"
    checks:
      - { name: home, url: "${page.url('/')}", bodyContains: site-ok-marker, timeout: 1s }
    git: { repo: "${git.url('site')}", branch: production, username: deploy, cache: 0s }
    recycle: { mode: notify }
`,
).join('')}`
  const config = parseConfig(yaml)
  await apply(sys.name, manifest('serviceaccount.yaml'))
  // The Roles `kube-recycler rbac` prints for this config (the shipped role.yaml names the demo site's state only).
  for (const obj of [...ownRbac(config, sys.name), ...siteRbac(config, sys.name)])
    await apply(obj.metadata.namespace, obj)
  // Replicas 0: the facts are the template's, no pod is needed.
  for (let i = 0; i < SITES; i++)
    await kubectl(['apply', '-f', '-'], {
      namespace: site.name,
      input: deployment(`web-${i}`, 0, { podAnnotations: { [COMMIT]: head } }),
    })
  const sa = { name: 'kube-recycler', namespace: sys.name }
  await countingFlow(flow, sa, {
    precedence: 40,
    rules: {
      resourceRules: [{ verbs: ['get'], apiGroups: ['apps'], resources: ['deployments'], namespaces: [site.name] }],
    },
  })
  // Everything else the ServiceAccount sends (a higher precedence number: matched after the GETs' flow).
  await countingFlow(allFlow, sa, { precedence: 45 })

  const token = (await kubectl(['create', 'token', 'kube-recycler', '--duration=10m'], { namespace: sys.name })).trim()
  const state = clusterState()
  const dir = mkdtempSync(join(tmpdir(), 'kr-facts-'))
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: test, cluster: { server: "${state.apiserver}", certificate-authority: "${state.caFile}" } }]
users: [{ name: sa, user: { token: "${token}" } }]
contexts: [{ name: sa, context: { cluster: test, user: sa, namespace: ${sys.name} } }]
current-context: sa
`,
    { mode: 0o600 },
  )
  const configPath = join(dir, 'config.yaml')
  writeFileSync(configPath, yaml)
  const svc = await startService({
    env: {
      KUBE_RECYCLER_CONFIG: configPath,
      KUBECONFIG: kubeconfig,
      POD_NAMESPACE: sys.name,
      KUBE_RECYCLER_GIT_TOKEN: 'git-token-facts',
      KUBE_RECYCLER_WEBHOOK_TOKEN: 'webhook-token-facts',
      LOG_LEVEL: 'info',
    },
    timeoutMs: 15_000,
  })
  t.teardown(() => svc.stop('SIGKILL'))
  const status = async () => (await (await request(`${svc.url}/status`)).body.json()) as any
  await waitFor(
    async () => {
      const s = await status()
      return s.sites.length === SITES && s.sites.every((x: any) => x.git?.running === head && x.git?.head === head)
    },
    { timeoutMs: 30_000, description: '/status shows every running commit' },
  )
  t.equal((await status()).sites[0].git.drift, false, 'runs the production head: no drift')
  // /status was asked from the moment the service listened: its facts waited for the watches' first answers.
  t.equal(await flowRequests(flow), 0, 'no GET of a Deployment since the start either')

  // At rest: 40 s of probe ticks every second (the leader's facts go stale after 30 s) and /status every 5 s.
  const refused: string[] = []
  const sent = async () => {
    const text = await (await request(`${svc.url}/metrics`)).body.text()
    let n = 0
    refused.length = 0
    for (const line of text.split('\n'))
      if (line.startsWith('kube_recycler_kube_requests_total{')) {
        n += Number(line.slice(line.lastIndexOf(' ') + 1))
        if (!/code="(2\d\d|404)"/.test(line)) refused.push(line)
      }
    return n
  }
  const before = await flowRequests(flow)
  const [sentBefore, receivedBefore] = [await sent(), (await flowRequests(flow)) + (await flowRequests(allFlow))]
  const end = Date.now() + 40_000
  while (Date.now() < end) {
    await status()
    await request(`${svc.url}/metrics`).then((r) => r.body.text())
    await new Promise((r) => setTimeout(r, 5_000))
  }
  const [sentAfter, receivedAfter] = [await sent(), (await flowRequests(flow)) + (await flowRequests(allFlow))]
  const gets = (await flowRequests(flow)) - before
  t.equal(gets, 0, `no GET of a Deployment at rest (${gets} in 40 s for ${SITES} sites)`)
  // The two windows differ by the few ms between reading the service and the API server: a request or two.
  const [mine, theirs] = [sentAfter - sentBefore, receivedAfter - receivedBefore]
  // The Lease's first GET is a 404 (none yet); any other answer outside 2xx is a Role that does not fit.
  t.same(refused, [], 'no request was refused or failed')
  t.ok(
    theirs >= 10,
    `the API server received ${theirs} requests from the service in 40 s (the Lease, /version, the heartbeat)`,
  )
  t.ok(
    Math.abs(mine - theirs) <= 2,
    `kube_recycler_kube_requests_total counted ${mine} requests sent; the API server received ${theirs}`,
  )

  // A deploy outside the service: /status says so within seconds, with no probe or page needed to notice.
  const other = 'f'.repeat(40)
  await kubectl(
    [
      'patch',
      'deployment',
      'web-0',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { template: { metadata: { annotations: { [COMMIT]: other } } } } }),
    ],
    { namespace: site.name },
  )
  const t0 = Date.now()
  const seen = await waitFor(
    async () => {
      const g = (await status()).sites.find((x: any) => x.name === 'site-0')?.git
      return g?.running === other ? g : undefined
    },
    { timeoutMs: 5_000, intervalMs: 100, description: '/status shows the new running commit' },
  )
  t.equal(seen.drift, true, `drift on /status ${Date.now() - t0} ms after the deploy`)
  t.notMatch(svc.output(), /cannot watch the workload/, 'every named workload is watched under the shipped Roles')
})
