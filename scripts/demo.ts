// npm run demo: the whole product on this machine, in one command, with
// nothing staged.
//
// Starts the test control plane (kwok nodes plus the pod runner's nodes, where
// pods run as real processes), a git server whose `production` branch holds
// the site's pages, the example site of k8s/examples/site AS SHIPPED (only
// the namespace and the repository URL set by a kustomize overlay: its init
// container clones the commit, Debian's nginx serves it), and kube-recycler
// itself (the real process). Then a bad release is deployed, the fix lands on
// production, and kube-recycler brings the site back: the failure seen
// through the Service, the Deployment rolled pinned to the head, the init
// containers checking out the fix, the probes seeing it served. The demo never
// touches the site's health itself. Ctrl-C stops everything it started.
// `--once` runs the story and exits (0 when the site was recovered on the
// head), which is how the test suite runs it.

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { ensureCluster, stopCluster } from '../test/cluster/lib.ts'
import { startGitServer } from '../test/fixtures/git-server.ts'
import { deployExampleSite, siteFiles, visitSite } from '../test/fixtures/example-site.ts'
import { startService } from '../test/fixtures/process.ts'
import { kubectl, kubectlJson, serviceUrl } from '../test/fixtures/kube-cluster.ts'
import { waitFor } from '../test/fixtures/wait.ts'

const once = process.argv.includes('--once')
const keepCluster = process.argv.includes('--keep-cluster')
const t0 = Date.now()
const say = (msg: string): void => {
  process.stdout.write(`[demo +${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`)
}
const short = (sha: unknown): string => String(sha ?? '').slice(0, 12)
const cleanups: (() => Promise<unknown>)[] = []
let stopping = false

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true
    say('stopping everything the demo started')
    for (const c of cleanups.reverse()) await c().catch(() => undefined)
  }
  process.exit(code)
}
process.on('SIGINT', () => {
  void shutdown(130)
})
process.on('SIGTERM', () => {
  void shutdown(143)
})

/** One visit of the site through its Service: the commit it came from, and whether it passed. */
async function visit(base: string): Promise<{ commit?: string; healthy: boolean }> {
  const v = await visitSite(base, 1)
  const commit = [...v.commits][0]
  return { ...(commit ? { commit } : {}), healthy: v.healthy === 1 }
}

async function main(): Promise<void> {
  say('starting the Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok, pod runner)…')
  const cluster = await ensureCluster({ log: (m) => say(`  cluster: ${m}`) })
  if (cluster.startedNow && !keepCluster) cleanups.push(() => stopCluster({ log: () => undefined }))
  say(`cluster ready: ${cluster.state.apiserver}`)

  const git = await startGitServer({ username: 'deploy', password: 'demo-git-token', publicRead: true })
  cleanups.push(() => git.close())
  const repo = await git.createRepo('site')
  const good = await repo.push('release 1', siteFiles('1', true))
  say(`git server ${git.url('site')}: production is at release 1 (${short(good)})`)

  const ns = `demo-${Date.now().toString(36)}`
  await deployExampleSite({ namespace: ns, repoUrl: git.url('site') })
  cleanups.push(() => kubectl(['delete', 'namespace', ns, '--wait=false']))
  say(`k8s/examples/site applied in namespace ${ns} (overlay: namespace and SITE_REPO only)`)
  await waitFor(
    async () => (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })).status?.availableReplicas === 3,
    { timeoutMs: 120_000, description: 'the example site available' },
  )
  const site = await serviceUrl(ns, 'web')
  const first = await visit(site)
  say(
    `3 pods ran their init container (git clone of production) and nginx serves ${short(first.commit)}: Service web at ${site}`,
  )

  const dir = mkdtempSync(join(tmpdir(), 'kr-demo-'))
  const configPath = join(dir, 'config.yaml')
  writeFileSync(
    configPath,
    `
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${ns}, name: web }
    schedule: "*/2 * * * * *"
    failureThreshold: 3
    checks:
      - { name: home, url: "${site}/", bodyContains: site-ok-marker, timeout: 2s }
      - { name: health, url: "${site}/health.json", json: { path: $.status, equals: ok }, timeout: 2s }
    git: { repo: "${git.url('site')}", branch: production, cache: 0s }
    recycle: { strategy: rollout, commitEnv: SITE_COMMIT, cooldown: 1m, timeout: 120s, verify: { delay: 2s, attempts: 5, interval: 2s } }
`,
  )
  const svc = await startService({
    env: {
      KUBE_RECYCLER_CONFIG: configPath,
      KUBECONFIG: cluster.kubeconfig,
      POD_NAMESPACE: ns,
      KUBE_RECYCLER_RECYCLE_TOKEN: 'demo-operator-token',
    },
    timeoutMs: 20_000,
  })
  cleanups.push(() => svc.stop())
  say(`kube-recycler running: ${svc.url}/status (open it in a browser)`)

  const status = async (): Promise<any> => await (await request(`${svc.url}/status`)).body.json()
  await waitFor(async () => (await status()).sites[0].health === 'healthy', { timeoutMs: 30_000 })
  say('probes say: shop is healthy')

  // A bad release reaches the pods the way a CD job deploys one: pinned. The
  // fix lands on production while that deploy still rolls; nobody deploys it.
  const bad = await repo.push('release 2: a broken template', siteFiles('2', false))
  await kubectl(
    [
      'patch',
      'deployment',
      'web',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { template: { metadata: { annotations: { 'kube-recycler.io/commit': bad } } } } }),
    ],
    { namespace: ns },
  )
  say(`release 2 (${short(bad)}) lands on production and a deploy rolls it out, pinned`)
  const fix = await repo.push('release 3: the fix', siteFiles('3', true))
  say(`the fix lands on production: release 3 (${short(fix)}); nobody redeploys it, the deploy of release 2 rolls on`)
  // Seen by a visit that reaches a pod of release 2, or by kube-recycler's
  // own probes first: it may notice and start the repair before a visit
  // happens to reach a broken pod.
  await waitFor(async () => (await visit(site)).commit === bad || (await status()).sites[0].health === 'failing', {
    timeoutMs: 120_000,
    intervalMs: 200,
    description: 'release 2 served',
  })
  say('the site fails: the new pods serve release 2, a broken template')

  let lastLine = ''
  let lastStep = ''
  let rolledOnto = ''
  let healed = false
  const deadline = Date.now() + 180_000
  while (Date.now() < deadline) {
    const s = (await status()).sites[0]
    const r = s.lastRecycle
    const line = `health=${s.health} failures=${s.consecutiveFailures}${r ? ` recycle=${r.state}${r.verification ? `/${r.verification}` : ''}` : ''}`
    if (line !== lastLine) {
      say(line)
      lastLine = line
    }
    const stepMsg = r?.steps?.at(-1)?.message
    if (stepMsg && stepMsg !== lastStep) {
      lastStep = stepMsg
      say(`  recycle: ${stepMsg}`)
    }
    const tpl = (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })).spec.template
    const pinned = tpl.spec.containers[0].env?.find((e: { name: string }) => e.name === 'SITE_COMMIT')?.value as
      string | undefined
    if (pinned && pinned !== rolledOnto) {
      rolledOnto = pinned
      say(
        `the Deployment rolls pinned to ${short(pinned)}${pinned === fix ? ' (the production head)' : ''}; new pods check it out in their init container`,
      )
    }
    if (r?.verification === 'recovered') {
      healed = true
      break
    }
    if (r?.verification === 'recycle-did-not-help' || r?.state === 'failed' || r?.state === 'rolled-back') break
    await new Promise((res) => setTimeout(res, 500))
  }
  const served = new Set([...(await visitSite(site, 9)).commits].map(short))
  const final = (await status()).sites[0]
  say(`the Service answers from commit(s) ${[...served].join(', ')}`)
  const onHead =
    healed && served.size === 1 && served.has(short(fix)) && final.git?.running === fix && final.git?.head === fix
  say(
    onHead
      ? `recovered: shop is ${final.health}, running ${short(final.git?.running)} (production head ${short(final.git?.head)})`
      : `did not recover on the head: ${JSON.stringify({ health: final.health, git: final.git, steps: final.lastRecycle?.steps?.slice(-3) })}`,
  )
  const events = await kubectl(
    [
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=web',
      '-o',
      'jsonpath={range .items[*]}{.reason}{": "}{.message}{"\\n"}{end}',
    ],
    { namespace: ns },
  )
  for (const e of events.split('\n').filter((l) => /^Recycle/.test(l))) say(`event ${e.slice(0, 160)}`)
  if (once) await shutdown(onHead ? 0 : 1)
  say(
    `still running: ${svc.url}/status; the site at ${site}/. Recycle again with: curl -XPOST ${svc.url}/recycle -H 'Authorization: Bearer demo-operator-token' -H 'content-type: application/json' -d '{"site":"shop","reason":"demo"}'; Ctrl-C stops everything`,
  )
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`)
  void shutdown(1)
})
