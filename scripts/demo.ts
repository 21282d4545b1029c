// npm run demo: the whole product on this machine, in one command.
//
// Starts the test control plane (kwok nodes), a git server with a
// `production` branch, a local HTTP "site" and its Deployment, and
// kube-recycler itself (the real process). Then it breaks the site and prints
// what happens: the failure detected by the cron probes, the Deployment
// rolled onto the production head, the site verified healthy again.
// Ctrl-C stops everything it started. `--once` runs the story and exits
// (0 when the site was recovered), which is how the test suite runs it.

import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { ensureCluster, stopCluster } from '../test/cluster/lib.ts'
import { startGitServer } from '../test/fixtures/git-server.ts'
import { startSite } from '../test/fixtures/sites.ts'
import { startService } from '../test/fixtures/process.ts'
import { kubectl, kubectlJson, waitFor } from '../test/fixtures/kube-cluster.ts'

const once = process.argv.includes('--once')
const keepCluster = process.argv.includes('--keep-cluster')
const t0 = Date.now()
const say = (msg: string): void => { process.stdout.write(`[demo +${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`) }
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
process.on('SIGINT', () => { void shutdown(130) })
process.on('SIGTERM', () => { void shutdown(143) })

async function main(): Promise<void> {
  say('starting the Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)…')
  const cluster = await ensureCluster({ log: (m) => say(`  cluster: ${m}`) })
  if (cluster.startedNow && !keepCluster) cleanups.push(() => stopCluster({ log: () => undefined }))
  say(`cluster ready: ${cluster.state.apiserver}`)

  const git = await startGitServer({ username: 'deploy', password: 'demo-git-token' })
  cleanups.push(() => git.close())
  const repo = await git.createRepo('site')
  say(`git server ${git.url('site')}: production is at ${(await repo.head()).slice(0, 12)}`)

  const site = await startSite()
  cleanups.push(() => site.close())
  say(`site serving at ${site.origin} (healthy)`)

  const ns = `demo-${Date.now().toString(36)}`
  await kubectl(['create', 'namespace', ns])
  cleanups.push(() => kubectl(['delete', 'namespace', ns, '--wait=false']))
  await kubectl(['apply', '-f', '-'], {
    namespace: ns,
    input: JSON.stringify({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'example.com/site:1' }] } } },
    }),
  })
  await waitFor(async () => (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })).status?.readyReplicas === 3, { timeoutMs: 60_000 })
  say(`Deployment ${ns}/web: 3 pods Ready on kwok nodes`)

  const dir = mkdtempSync(join(tmpdir(), 'kr-demo-'))
  const configPath = join(dir, 'config.yaml')
  writeFileSync(configPath, `
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${ns}, name: web }
    jenkins: { jobs: [shop-integrity] }
    schedule: "*/2 * * * * *"
    failureThreshold: 2
    checks:
      - { name: home, url: "${site.url('/')}", bodyContains: site-ok-marker, timeout: 1s }
      - { name: health, url: "${site.url('/health.json')}", json: { path: $.status, equals: ok }, timeout: 1s }
    git: { repo: "${git.url('site')}", branch: production, username: deploy, cache: 0s }
    recycle: { cooldown: 1m, timeout: 60s, verify: { delay: 2s, attempts: 3, interval: 2s } }
`)
  const svc = await startService({ env: { KUBE_RECYCLER_CONFIG: configPath, KUBECONFIG: cluster.kubeconfig, POD_NAMESPACE: ns, KUBE_RECYCLER_GIT_TOKEN: 'demo-git-token', KUBE_RECYCLER_RECYCLE_TOKEN: 'demo-operator-token' }, timeoutMs: 20_000 })
  cleanups.push(() => svc.stop())
  say(`kube-recycler running: ${svc.url}/status (open it in a browser)`)

  const status = async (): Promise<any> => (await (await request(`${svc.url}/status`)).body.json())
  await waitFor(async () => (await status()).sites[0].health === 'healthy', { timeoutMs: 20_000 })
  say('probes say: shop is healthy')

  const release = await repo.push('release 2: the fix')
  say(`a new commit lands on production: ${release.slice(0, 12)}`)
  site.set('broken')
  say('the site breaks (every request answers 500) …')

  let lastStep = ''
  let healed = false
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    const s = (await status()).sites[0]
    const r = s.lastRecycle
    const line = `health=${s.health} failures=${s.consecutiveFailures}${r ? ` recycle=${r.state}${r.verification ? `/${r.verification}` : ''}` : ''}`
    if (line !== lastStep) { say(line); lastStep = line }
    if (r?.steps) for (const st of r.steps.slice(-1)) if (st.message !== (main as any).lastMsg) { (main as any).lastMsg = st.message; say(`  recycle: ${st.message}`) }
    const tpl = (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })).spec.template.metadata.annotations ?? {}
    if (tpl['kube-recycler.io/commit'] && site.mode === 'broken') {
      say(`the Deployment rolled onto ${String(tpl['kube-recycler.io/commit']).slice(0, 12)} (the production head); the new pods serve the fix`)
      site.set('healthy')
    }
    if (r?.verification === 'recovered') { healed = true; break }
    if (r?.verification === 'recycle-did-not-help') break
    await new Promise((res) => setTimeout(res, 500))
  }
  const final = (await status()).sites[0]
  say(healed
    ? `recovered: shop is ${final.health}, running ${String(final.git?.running ?? '').slice(0, 12)} (production head ${String(final.git?.head ?? '').slice(0, 12)})`
    : `did not recover: ${JSON.stringify(final.lastRecycle?.steps?.slice(-3))}`)
  const events = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=web', '-o', 'jsonpath={range .items[*]}{.reason}{": "}{.message}{"\\n"}{end}'], { namespace: ns })
  for (const e of events.split('\n').filter((l) => /^Recycle/.test(l))) say(`event ${e.slice(0, 160)}`)
  if (once) await shutdown(healed ? 0 : 1)
  say(`still running: ${svc.url}/status — break it again with: curl -XPOST ${svc.url}/recycle -H 'Authorization: Bearer demo-operator-token' -H 'content-type: application/json' -d '{"site":"shop","reason":"demo"}'; Ctrl-C stops everything`)
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`)
  void shutdown(1)
})
