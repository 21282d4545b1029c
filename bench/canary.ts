// bench/canary: a broken production head, rolled out by kube-recycler with
// recycle.canary on and off, side by side in the same run, on running pods
// (the example site as a Deployment, its init container checking out the
// pinned commit from the test git server, nginx serving it).
//
// From the operator's recycle onto the head (the head's page fails the
// site's check, its readiness probe passes): until the recycle is over and
// every pod serves the good release again, a visitor polls the site's
// Service every 100 ms. Measured:
//   bad pods       pods that ever ran the broken commit
//   error answers  polls the Service answered with the broken page (or not at all)
//   errors for     those polls × the poll interval: how long the site answered errors
//   window         first to last error answer
//   total          the recycle's request to the site healthy on every pod again
// Canary: the one pod is probed on its own IP and undone (canary-failed).
// Full rollout: every pod rolls onto the head, the verification fails
// (verify.attempts), the revision before is rolled back (rollback: auto).

import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { request } from 'undici'
import { siteFiles, visitSite } from '../test/fixtures/example-site.ts'
import { deployCanarySite, podHistory, settled } from '../test/fixtures/canary-site.ts'
import { waitFor } from '../test/fixtures/wait.ts'
import { onCluster, startShipped } from './lib/cluster.ts'
import { markdownTable, num, textTable, type TargetCheck } from './lib/stats.ts'

const POLL_MS = 100
const TOKEN = 'bench-canary-operator-token'

export interface CanaryRun {
  mode: 'canary' | 'full rollout'
  replicas: number
  badPods: number
  polls: number
  errors: number
  errorMs: number
  windowMs: number
  totalMs: number
  outcome: string
}

export interface CanaryBenchResult {
  runs: CanaryRun[]
  targets: TargetCheck[]
  seconds: number
}

/** Polls the site every POLL_MS until stop(): answers, errors, first and last error. */
function visitor(base: string) {
  let on = true
  let polls = 0
  let errors = 0
  let first: number | undefined
  let last: number | undefined
  const loop = (async () => {
    while (on) {
      const at = Date.now()
      let ok = false
      try {
        // A new connection each time, as a new visitor: the Service balances connections, not requests.
        const res = await request(`${base}/`, { headersTimeout: 2000, bodyTimeout: 2000, reset: true })
        ok = res.statusCode === 200 && (await res.body.text()).includes('site-ok-marker')
      } catch {
        ok = false
      }
      polls++
      if (!ok) {
        errors++
        first ??= at
        last = at
      }
      await new Promise((r) => setTimeout(r, Math.max(0, POLL_MS - (Date.now() - at))))
    }
  })()
  return {
    stop: async () => {
      on = false
      await loop
      return { polls, errors, windowMs: first !== undefined && last !== undefined ? last - first + POLL_MS : 0 }
    },
  }
}

async function once(
  mode: CanaryRun['mode'],
  replicas: number,
  dir: string,
  kubeconfig: string,
  log: (m: string) => void,
) {
  const site = await deployCanarySite('Deployment', replicas, `bench-canary-${mode === 'canary' ? 'c' : 'f'}`)
  try {
    const configPath = path.join(dir, `${mode === 'canary' ? 'canary' : 'full'}.yaml`)
    writeFileSync(
      configPath,
      `
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${site.ns}, name: web }
    checks:
      - { name: home, url: "${site.url}/", bodyContains: site-ok-marker, timeout: 2s }
    git: { repo: "${site.git.url('site')}", branch: production, cache: 0s }
    recycle: { canary: ${mode === 'canary'}, strategy: rollout, commitEnv: SITE_COMMIT, cooldown: 0s, maxPerWindow: 100, timeout: 5m, rollback: auto, verify: { delay: 1s, attempts: 3, interval: 2s } }
`,
    )
    const bad = await site.repo.push('release 2: broken', siteFiles('2', false))
    const svc = await startShipped({
      KUBE_RECYCLER_CONFIG: configPath,
      KUBECONFIG: kubeconfig,
      POD_NAMESPACE: site.ns,
      KUBE_RECYCLER_RECYCLE_TOKEN: TOKEN,
      LOG_LEVEL: 'info',
    })
    try {
      const history = podHistory(site.ns)
      const seen = visitor(site.url)
      const t0 = Date.now()
      const res = await request(`${svc.url}/recycle`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ site: 'shop', reason: 'bench: roll onto the production head' }),
      })
      const id = ((await res.body.json()) as { id: string }).id
      const rec = await waitFor(
        async () => {
          const r = (await (await request(`${svc.url}/recycles/${id}`)).body.json()) as any
          return !['pending', 'running'].includes(r.state) && r.verification !== 'pending' ? r : undefined
        },
        { timeoutMs: 600_000, intervalMs: 250, description: 'the recycle over' },
      )
      await settled('Deployment', site.ns, replicas, 300_000)
      await waitFor(async () => (await visitSite(site.url, replicas * 2)).healthy === replicas * 2, {
        timeoutMs: 60_000,
        intervalMs: 100,
        description: 'every pod serves the good release',
      })
      const totalMs = Date.now() - t0
      const v = await seen.stop()
      await history.stop()
      const run: CanaryRun = {
        mode,
        replicas,
        badPods: history.ran(bad).length,
        polls: v.polls,
        errors: v.errors,
        errorMs: v.errors * POLL_MS,
        windowMs: v.windowMs,
        totalMs,
        outcome: `${rec.state}${rec.verification ? `/${rec.verification}` : ''}`,
      }
      log(
        `canary: ${mode}: ${run.badPods} pods ran the broken head, ${run.errors}/${run.polls} error answers (${(run.errorMs / 1000).toFixed(1)} s), ${run.outcome}`,
      )
      return run
    } finally {
      await svc.stop()
    }
  } finally {
    await site.cleanup()
  }
}

export async function benchCanary(o: {
  quick: boolean
  runs: number
  log: (m: string) => void
  keepCluster: boolean
}): Promise<CanaryBenchResult> {
  const started = Date.now()
  const replicas = o.quick ? 3 : 6
  const runs: CanaryRun[] = []
  await onCluster('canary', o, async ({ kubeconfig, dir }) => {
    for (let r = 0; r < o.runs; r++)
      for (const mode of ['canary', 'full rollout'] as const) {
        o.log(`canary: ${mode}, ${replicas} replicas, run ${r + 1}/${o.runs}`)
        runs.push(await once(mode, replicas, dir, kubeconfig, o.log))
      }
  })
  const canary = runs.filter((r) => r.mode === 'canary')
  const full = runs.filter((r) => r.mode === 'full rollout')
  const targets: TargetCheck[] = [
    {
      name: 'canary: exactly one pod ever ran the broken head, and the recycle says canary-failed',
      met: canary.length > 0 && canary.every((r) => r.badPods === 1 && r.outcome.startsWith('canary-failed')),
      detail: canary.map((r) => `${r.badPods} pods, ${r.outcome}`).join('; '),
    },
    {
      name: 'canary: the site answered errors for less time than with a full rollout',
      met:
        canary.length > 0 &&
        full.length > 0 &&
        Math.max(...canary.map((r) => r.errorMs)) < Math.min(...full.map((r) => r.errorMs)),
      detail: `${canary.map((r) => num(r.errorMs / 1000)).join(', ')} s vs ${full.map((r) => num(r.errorMs / 1000)).join(', ')} s`,
    },
  ]
  return { runs, targets, seconds: (Date.now() - started) / 1000 }
}

const sec = (ms: number): string => (ms / 1000).toFixed(1)

export function formatCanary(r: CanaryBenchResult, markdown: boolean): string {
  const head = ['mode', 'replicas', 'bad pods', 'error answers', 'errors for s', 'window s', 'total s', 'outcome']
  const rows = r.runs.map((x) => [
    x.mode,
    String(x.replicas),
    String(x.badPods),
    `${x.errors}/${x.polls}`,
    sec(x.errorMs),
    sec(x.windowMs),
    sec(x.totalMs),
    x.outcome,
  ])
  const table = markdown ? markdownTable(head, rows) : textTable(head, rows)
  return `${table}\n\nA broken production head (its page fails the site's check; its readiness probe passes), rolled out by an operator's recycle. "bad pods": pods that ever ran it; "error answers": polls of the Service every ${POLL_MS} ms answered with the broken page or not at all; "errors for": those polls × ${POLL_MS} ms; "window": first to last error; "total": the request to every pod serving the good release again.`
}
