// bench/heal: time to heal, end to end, on running pods. The example site of
// k8s/examples/site as shipped runs on the pod runner's nodes (its init
// container clones the test git server, Debian's nginx serves the checkout);
// a bad release serves on every pod while the fix is already on production.
// From that moment, t0:
//
//   kube-recycler   the real service (the shipped build), probing the site
//                   through its Service every second, failureThreshold 2:
//                   detection (t0 → the recycle requested), decision (→ the
//                   first change in the cluster: the template patched, or the
//                   first pod evicted/deleted), repair (→ the rollout or the
//                   replacements done), verification (→ the site verified
//                   recovered). t0 is the service's readiness: it is started
//                   on the broken site, so its own start is not counted.
//   by hand         `kubectl rollout restart` + `kubectl rollout status` +
//                   the first passing probe through the Service (an operator
//                   who already knows, so no detection).
//   floor           the Deployment controller's rollout alone with the same
//                   pods: from the template patch to every pod updated and
//                   available, as `kubectl rollout status` reports it.
//
// Scenarios: rollout with 3 and with 10 replicas (pinned to the head), evict
// and delete with 3 (no git configured: the replacements clone the head).
// Pods disrupted: pods of the broken set deleted or evicted by the repair.

import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { request } from 'undici'
import { kubectlPath, readState } from '../test/cluster/lib.ts'
import { deployExampleSite, siteFiles, visitSite } from '../test/fixtures/example-site.ts'
import { startGitServer, type FixtureRepo } from '../test/fixtures/git-server.ts'
import { kubectl, kubectlJson, serviceUrl } from '../test/fixtures/kube-cluster.ts'
import { waitFor } from '../test/fixtures/wait.ts'
import { onCluster, startShipped } from './lib/cluster.ts'
import { run, sleep } from './lib/proc.ts'
import { markdownTable, median, num, textTable, type TargetCheck } from './lib/stats.ts'

export interface HealScenario {
  name: string
  strategy: 'rollout' | 'evict' | 'delete'
  replicas: number
}

export interface HealRun {
  scenario: string
  who: 'kube-recycler' | 'by hand'
  ok: boolean
  totalMs: number
  detectMs?: number
  decideMs?: number
  repairMs?: number
  verifyMs?: number
  /** by hand: `kubectl rollout restart`, then `kubectl rollout status`, then the first passing probe. */
  restartMs?: number
  statusMs?: number
  probeMs?: number
  /** Pods of the broken set that the repair deleted or evicted. */
  disrupted: number
  outcome: string
}

export interface HealResult {
  runs: HealRun[]
  targets: TargetCheck[]
  seconds: number
}

const SCENARIOS: HealScenario[] = [
  { name: 'rollout, 3 replicas', strategy: 'rollout', replicas: 3 },
  { name: 'rollout, 10 replicas', strategy: 'rollout', replicas: 10 },
  { name: 'evict, 3 replicas', strategy: 'evict', replicas: 3 },
  { name: 'delete, 3 replicas', strategy: 'delete', replicas: 3 },
]

async function settled(ns: string, replicas: number): Promise<void> {
  await waitFor(
    async () => {
      const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })
      const pods = (await kubectlJson(['get', 'pods'], { namespace: ns })).items as any[]
      return (
        d.status?.observedGeneration === d.metadata.generation &&
        d.status?.updatedReplicas === replicas &&
        d.status?.availableReplicas === replicas &&
        d.status?.replicas === replicas &&
        pods.length === replicas
      )
    },
    { timeoutMs: 300_000, intervalMs: 250, description: `${ns}/web settled at ${replicas}` },
  )
}

const podUids = async (ns: string): Promise<Set<string>> =>
  new Set(((await kubectlJson(['get', 'pods'], { namespace: ns })).items as any[]).map((p) => p.metadata.uid as string))

/**
 * Every pod on the broken release with the fix already on production: the
 * template unpinned and restarted while the head is bad (its pods clone it),
 * then the fix pushed.
 */
async function breakSite(
  ns: string,
  repo: FixtureRepo,
  replicas: number,
  base: string,
  n: number,
): Promise<{ bad: string; fix: string }> {
  const bad = await repo.push(`release ${n}: broken`, siteFiles(String(n), false))
  await kubectl(
    [
      'patch',
      'deployment',
      'web',
      '--type=json',
      '-p',
      JSON.stringify([
        {
          op: 'replace',
          path: '/spec/template/metadata/annotations',
          value: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() },
        },
        { op: 'replace', path: '/spec/template/spec/containers/0/env', value: [] },
        {
          op: 'replace',
          path: '/spec/template/spec/initContainers/0/env',
          value: (await initEnv(ns)).filter((e) => e.name !== 'SITE_COMMIT'),
        },
      ]),
    ],
    { namespace: ns },
  )
  await settled(ns, replicas)
  await waitFor(
    async () => {
      const v = await visitSite(base, replicas * 2)
      return v.healthy === 0 && v.commits.size === 1 && v.commits.has(bad)
    },
    { timeoutMs: 60_000, description: 'every pod serves the broken release' },
  )
  const fix = await repo.push(`release ${n + 1}: the fix`, siteFiles(String(n + 1), true))
  return { bad, fix }
}

async function initEnv(ns: string): Promise<Array<{ name: string }>> {
  return (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })).spec.template.spec.initContainers[0].env
}

async function ours(
  sc: HealScenario,
  ns: string,
  base: string,
  repoUrl: string,
  dir: string,
  kubeconfig: string,
): Promise<HealRun> {
  const configPath = path.join(dir, `${sc.strategy}.yaml`)
  writeFileSync(
    configPath,
    `
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${ns}, name: web }
    schedule: "* * * * * *"
    failureThreshold: 2
    checks:
      - { name: home, url: "${base}/", bodyContains: site-ok-marker, timeout: 2s }
${sc.strategy === 'rollout' ? `    git: { repo: "${repoUrl}", branch: production, cache: 0s }\n` : ''}    recycle: { strategy: ${sc.strategy}, commitEnv: SITE_COMMIT, cooldown: 0s, maxPerWindow: 100, timeout: 5m, rollback: off, verify: { delay: 1s, attempts: 10, interval: 1s } }
`,
  )
  const before = await podUids(ns)
  const svc = await startShipped({
    KUBE_RECYCLER_CONFIG: configPath,
    KUBECONFIG: kubeconfig,
    POD_NAMESPACE: ns,
    LOG_LEVEL: 'info',
  })
  try {
    const t0 = Date.now()
    const rec = await waitFor(
      async () => {
        const r = ((await (await request(`${svc.url}/status`)).body.json()) as any).sites[0].lastRecycle
        return r && r.verification && r.verification !== 'pending' ? r : undefined
      },
      { timeoutMs: 600_000, intervalMs: 250, description: 'the recycle verified' },
    )
    const end = Date.now()
    const full = (await (
      await request(`${svc.url}/recycles/${rec.id}`, { headers: { accept: 'application/json' } })
    ).body.json()) as any
    const steps = (full.steps ?? []) as Array<{ at: string; message: string }>
    const at = (re: RegExp, last = false) => {
      const s = last ? steps.findLast((x) => re.test(x.message)) : steps.find((x) => re.test(x.message))
      return s ? Date.parse(s.at) : NaN
    }
    const created = Date.parse(full.createdAt)
    const acted = at(/^patched the pod template|^(evicted|deleted): /)
    const repaired =
      sc.strategy === 'rollout' ? at(/successfully rolled out/) : at(/^batch \d+: replacements Ready/, true)
    const verified = at(/^recovered|^recycle-did-not-help/)
    const after = await podUids(ns)
    return {
      scenario: sc.name,
      who: 'kube-recycler',
      ok: full.verification === 'recovered',
      totalMs: end - t0,
      outcome: `${full.state}/${full.verification}`,
      detectMs: created - t0,
      decideMs: acted - created,
      repairMs: repaired - acted,
      verifyMs: verified - repaired,
      disrupted: [...before].filter((u) => !after.has(u)).length,
    }
  } finally {
    await svc.stop()
  }
}

async function byHand(sc: HealScenario, ns: string, base: string): Promise<HealRun> {
  const kctl = (args: string[]) =>
    run(kubectlPath(), [`--kubeconfig=${readState()!.kubeconfig}`, '-n', ns, ...args], { timeoutMs: 600_000 })
  const before = await podUids(ns)
  const t0 = Date.now()
  const restart = await kctl(['rollout', 'restart', 'deployment/web'])
  const t1 = Date.now()
  const status = await kctl(['rollout', 'status', 'deployment/web', '--timeout=10m'])
  const t2 = Date.now()
  await waitFor(async () => (await visitSite(base, 1)).healthy === 1, {
    timeoutMs: 120_000,
    intervalMs: 100,
    description: 'the first passing probe',
  })
  const t3 = Date.now()
  const after = await podUids(ns)
  return {
    scenario: sc.name,
    who: 'by hand',
    ok: restart.code === 0 && status.code === 0,
    totalMs: t3 - t0,
    outcome: status.code === 0 ? 'rolled out' : `rollout status exited ${status.code}`,
    restartMs: t1 - t0,
    statusMs: t2 - t1,
    probeMs: t3 - t2,
    disrupted: [...before].filter((u) => !after.has(u)).length,
  }
}

export async function benchHeal(o: {
  quick: boolean
  runs: number
  log: (m: string) => void
  keepCluster: boolean
}): Promise<HealResult> {
  const started = Date.now()
  const runs: HealRun[] = []
  await onCluster('heal', o, async ({ kubeconfig, dir }) => {
    const git = await startGitServer({ username: 'deploy', password: 'bench-heal-git', publicRead: true })
    try {
      const scenarios = o.quick ? SCENARIOS.filter((s) => s.replicas === 3 && s.strategy === 'rollout') : SCENARIOS
      for (const [i, sc] of scenarios.entries()) {
        const repo = await git.createRepo(`site-${i}`)
        await repo.push('release 1', siteFiles('1', true))
        const ns = `bench-heal-${i}-${Date.now().toString(36)}`
        try {
          await deployExampleSite({ namespace: ns, repoUrl: git.url(`site-${i}`), replicas: sc.replicas })
          await settled(ns, sc.replicas)
          const base = await serviceUrl(ns, 'web')
          let release = 2
          for (let r = 0; r < o.runs; r++) {
            for (const who of ['kube-recycler', 'by hand'] as const) {
              o.log(`heal: ${sc.name}, ${who}, run ${r + 1}/${o.runs}: breaking the site`)
              await breakSite(ns, repo, sc.replicas, base, release)
              release += 2
              await sleep(1000)
              const res =
                who === 'kube-recycler'
                  ? await ours(sc, ns, base, git.url(`site-${i}`), dir, kubeconfig)
                  : await byHand(sc, ns, base)
              o.log(
                `heal: ${sc.name}, ${who}: ${(res.totalMs / 1000).toFixed(1)} s, ${res.outcome}, ${res.disrupted} pods disrupted`,
              )
              runs.push(res)
              await settled(ns, sc.replicas)
            }
          }
        } finally {
          await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(() => undefined)
        }
      }
    } finally {
      await git.close()
    }
  })
  const targets: TargetCheck[] = []
  for (const sc of SCENARIOS) {
    const mine = runs.filter((r) => r.scenario === sc.name && r.who === 'kube-recycler')
    const hand = runs.filter((r) => r.scenario === sc.name && r.who === 'by hand')
    if (mine.length === 0 || hand.length === 0) continue
    const m = median(mine.map((r) => r.totalMs))
    const h = median(hand.map((r) => r.totalMs))
    // Detection is kube-recycler's own work (a person has to notice first); the repair itself should cost what kubectl's does.
    const repair = median(mine.map((r) => (r.decideMs ?? 0) + (r.repairMs ?? 0) + (r.verifyMs ?? 0)))
    targets.push({
      name: `${sc.name}: healed, repair within 1.5× the same repair by hand`,
      met: mine.every((r) => r.ok) && repair <= 1.5 * h,
      detail: `${num(m / 1000)} s end to end (repair ${num(repair / 1000)} s) vs by hand ${num(h / 1000)} s`,
    })
  }
  return { runs, targets, seconds: (Date.now() - started) / 1000 }
}

const sec = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? '—' : (ms / 1000).toFixed(1))

export function formatHeal(r: HealResult, markdown: boolean): string {
  const head = [
    'scenario',
    'who',
    'detect s',
    'decide s',
    'repair s',
    'verify s',
    'total s',
    'pods disrupted',
    'outcome',
  ]
  const rows = r.runs.map((x) =>
    x.who === 'kube-recycler'
      ? [
          x.scenario,
          x.who,
          sec(x.detectMs),
          sec(x.decideMs),
          sec(x.repairMs),
          sec(x.verifyMs),
          sec(x.totalMs),
          String(x.disrupted),
          x.outcome,
        ]
      : [
          x.scenario,
          x.who,
          '—',
          `restart ${sec(x.restartMs)}`,
          `status ${sec(x.statusMs)} (floor)`,
          `probe ${sec(x.probeMs)}`,
          sec(x.totalMs),
          String(x.disrupted),
          x.outcome,
        ],
  )
  const table = markdown ? markdownTable(head, rows) : textTable(head, rows)
  return `${table}\n\nt0: every pod serves the broken release and the fix is on production. "repair" for kube-recycler is the template patch (or first eviction) to the rollout done (or the last replacement Ready); for by hand, \`kubectl rollout status\` alone is the floor: the Deployment controller's rollout of the same pods.`
}
