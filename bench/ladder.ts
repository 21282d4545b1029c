// bench/ladder: one bad pod of ten, healed by the ladder's targeted rung
// (replace-pods) vs a full rollout, side by side on the same running pods.
//
// A Deployment of ten node servers (test/fixtures/run-pods.ts) on the pod
// runner's nodes, behind a Service; kube-recycler as the shipped build,
// probing every second with a per-pod check (so detection is the same for
// both: the sick pod is named whichever repair follows), failureThreshold 1.
// t0: one pod is flipped sick (GET /set?live=0 on its own IP). Measured:
//
//   time to heal    t0 → the recycle verified recovered (detection, the
//                   repair, the verification)
//   pods disrupted  pods of the ten at t0 that the repair deleted or evicted
//
//   targeted        recycle.ladder [replace-pods, rollout] (the default with a per-pod check)
//   full rollout    recycle.ladder [rollout]: the rollout pinned to the production head

import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { request } from 'undici'
import { startGitServer } from '../test/fixtures/git-server.ts'
import { freshNamespace, kubectl, kubectlJson, serviceUrl } from '../test/fixtures/kube-cluster.ts'
import { httpGet, nodeServerContainer } from '../test/fixtures/run-pods.ts'
import { waitFor } from '../test/fixtures/wait.ts'
import { onCluster, startShipped } from './lib/cluster.ts'
import { sleep } from './lib/proc.ts'
import { markdownTable, median, num, textTable, type TargetCheck } from './lib/stats.ts'

const REPLICAS = 10

export interface LadderRun {
  repair: 'targeted' | 'full rollout'
  ok: boolean
  /** t0 (one pod flipped sick) → the recycle verified recovered. */
  healMs: number
  /** t0 → the recycle requested (the probe's detection). */
  detectMs: number
  disrupted: number
  rungs: string
}

export interface LadderResult {
  runs: LadderRun[]
  targets: TargetCheck[]
  seconds: number
}

const pods = async (ns: string): Promise<any[]> =>
  ((await kubectlJson<{ items: any[] }>(['get', 'pods', '-l', 'app=web'], { namespace: ns })).items as any[]).filter(
    (p) => !p.metadata.deletionTimestamp,
  )
const ready = (p: any): boolean =>
  (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')

async function settled(ns: string): Promise<void> {
  await waitFor(
    async () => {
      const d = await kubectlJson<any>(['get', 'deployment', 'web'], { namespace: ns })
      const live = await pods(ns)
      return (
        d.status?.observedGeneration === d.metadata.generation &&
        d.status?.updatedReplicas === REPLICAS &&
        d.status?.availableReplicas === REPLICAS &&
        live.length === REPLICAS &&
        live.every(ready)
      )
    },
    { timeoutMs: 300_000, intervalMs: 250, description: `${ns}/web settled at ${REPLICAS}` },
  )
}

async function deploy(ns: string): Promise<void> {
  const manifests = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [
              nodeServerContainer({
                env: [{ name: 'START_READY', value: '1' }],
                readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 1 },
              }),
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] },
    },
  ]
  for (const m of manifests) await kubectl(['apply', '-f', '-'], { namespace: ns, input: JSON.stringify(m) })
  await settled(ns)
}

async function once(
  repair: LadderRun['repair'],
  ns: string,
  base: string,
  repoUrl: string,
  dir: string,
  kubeconfig: string,
): Promise<LadderRun> {
  const configPath = path.join(dir, `${repair === 'targeted' ? 'targeted' : 'rollout'}.yaml`)
  writeFileSync(
    configPath,
    `
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${ns}, name: web }
    schedule: "* * * * * *"
    failureThreshold: 1
    checks:
      - { name: live, url: "${base}/live", timeout: 2s, perPod: { port: http } }
    git: { repo: "${repoUrl}", branch: production, cache: 0s }
    recycle: { ladder: ${repair === 'targeted' ? '[replace-pods, rollout]' : '[rollout]'}, commitEnv: SITE_COMMIT, cooldown: 0s, maxPerWindow: 100, timeout: 5m, rollback: off, verify: { delay: 1s, attempts: 10, interval: 1s } }
`,
  )
  const svc = await startShipped({
    KUBE_RECYCLER_CONFIG: configPath,
    KUBECONFIG: kubeconfig,
    POD_NAMESPACE: ns,
    LOG_LEVEL: 'info',
  })
  try {
    const status = async (): Promise<any> => (await (await request(`${svc.url}/status`)).body.json()) as any
    await waitFor(async () => (await status()).sites[0].health === 'healthy', {
      timeoutMs: 60_000,
      intervalMs: 100,
      description: 'shop healthy',
    })
    const before = await pods(ns)
    const sick = before.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))[REPLICAS >> 1]
    const t0 = Date.now()
    await httpGet(`http://${sick.status.podIP}:8080/set?live=0`)
    const rec = await waitFor(
      async () => {
        // The state outlives the service process (its ConfigMaps): only a recycle of this run counts.
        const r = ((await status()).recent as any[]).find(
          (x) =>
            Date.parse(x.createdAt) >= t0 && x.state !== 'skipped' && x.verification && x.verification !== 'pending',
        )
        return r
      },
      { timeoutMs: 600_000, intervalMs: 250, description: 'the recycle verified' },
    )
    const end = Date.now()
    const after = new Set((await pods(ns)).map((p) => p.metadata.uid as string))
    return {
      repair,
      ok: rec.verification === 'recovered',
      healMs: end - t0,
      detectMs: Date.parse(rec.createdAt) - t0,
      disrupted: before.filter((p) => !after.has(p.metadata.uid)).length,
      rungs: ((rec.rungs ?? []) as any[]).map((g) => `${g.rung} ${g.outcome}`).join(' → ') || '—',
    }
  } finally {
    await svc.stop()
  }
}

export async function benchLadder(o: {
  runs: number
  log: (m: string) => void
  keepCluster: boolean
}): Promise<LadderResult> {
  const started = Date.now()
  const runs: LadderRun[] = []
  await onCluster('ladder', o, async ({ kubeconfig, dir }) => {
    const git = await startGitServer({ username: 'deploy', password: 'bench-ladder-git', publicRead: true })
    let cleanup: (() => Promise<void>) | undefined
    try {
      const repo = await git.createRepo('site')
      await repo.push('release 1')
      const ns = await freshNamespace('bench-ladder', { runPods: true })
      cleanup = ns.cleanup
      await deploy(ns.name)
      const base = await serviceUrl(ns.name, 'web')
      for (let r = 0; r < o.runs; r++) {
        for (const repair of ['targeted', 'full rollout'] as const) {
          o.log(`ladder: one bad pod of ${REPLICAS}, ${repair}, run ${r + 1}/${o.runs}`)
          const res = await once(repair, ns.name, base, git.url('site'), dir, kubeconfig)
          o.log(
            `ladder: ${repair}: healed in ${(res.healMs / 1000).toFixed(1)} s, ${res.disrupted} pods disrupted (${res.rungs})`,
          )
          runs.push(res)
          await settled(ns.name)
          await sleep(1000)
        }
      }
    } finally {
      await cleanup?.().catch(() => undefined)
      await git.close()
    }
  })
  const targeted = runs.filter((r) => r.repair === 'targeted')
  const full = runs.filter((r) => r.repair === 'full rollout')
  const targets: TargetCheck[] = []
  if (targeted.length > 0 && full.length > 0) {
    const t = median(targeted.map((r) => r.healMs))
    const f = median(full.map((r) => r.healMs))
    targets.push({
      name: `one bad pod of ${REPLICAS}: the targeted repair disrupts that pod alone`,
      met: targeted.every((r) => r.ok && r.disrupted === 1),
      detail: `targeted ${targeted.map((r) => r.disrupted).join(', ')} pods vs full rollout ${full.map((r) => r.disrupted).join(', ')}`,
    })
    targets.push({
      name: `one bad pod of ${REPLICAS}: the targeted repair heals faster than a full rollout`,
      met: targeted.every((r) => r.ok) && t < f,
      detail: `${num(t / 1000)} s vs ${num(f / 1000)} s (median time to heal)`,
    })
  }
  return { runs, targets, seconds: (Date.now() - started) / 1000 }
}

export function formatLadder(r: LadderResult, markdown: boolean): string {
  const head = ['repair', 'detect s', 'time to heal s', 'pods disrupted', 'rungs', 'outcome']
  const rows = r.runs.map((x) => [
    x.repair,
    (x.detectMs / 1000).toFixed(1),
    (x.healMs / 1000).toFixed(1),
    `${x.disrupted} of ${REPLICAS}`,
    x.rungs,
    x.ok ? 'recovered' : 'NOT recovered',
  ])
  const table = markdown ? markdownTable(head, rows) : textTable(head, rows)
  return `${table}\n\nt0: one pod of ${REPLICAS} flipped sick (its per-pod check answers 500; it stays Ready). Time to heal: t0 to the recycle verified recovered (probe every 1 s, failureThreshold 1, verification after 1 s). Pods disrupted: pods present at t0 that the repair removed.`
}
