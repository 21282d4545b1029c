// npm run bench — side-by-side comparisons, measured in one run on this
// machine (see docs/benchmarks.md for the figures and how to read them):
//
//   probes   kube-recycler's probe engine vs blackbox_exporter vs a bare undici loop
//   recycle  kube-recycler's rollout vs kubectl rollout restart + status (test control plane)
//   webhook  POST /webhooks/jenkins vs a bare Fastify route
//   heal     time to heal on running pods (the example site, a bad release): kube-recycler
//            vs the same repair by hand (kubectl rollout restart + status + a probe) and the
//            Deployment controller's rollout alone
//   ladder   one bad pod of ten on running pods: the targeted repair (replace-pods) vs a full rollout,
//            pods disrupted and time to heal
//   scale    100, 1,000 and 5,000 sites: at rest and 10 % broken at once, one and two replicas, vs blackbox_exporter
//   canary   a broken production head on running pods, recycle.canary on vs off: pods that ever ran
//            it, and how long the site answered errors (its Service polled every 100 ms)
//
// Flags:
//   --only probes|recycle|webhook|heal|ladder|scale|canary   one part (repeatable, or comma-separated)
//   --quick                         a short smoke run (1 run each, fewer scenarios)
//   --runs N                        runs per figure (default 3; the recycle part 5)
//   --markdown                      print the tables as Markdown
//   --json FILE                     also write every figure as JSON
//   --profile                       one extra run of our probe workers and webhook server
//                                   under --cpu-prof; prints where the CPU goes
//   --wait-quiet[=MIN]              first wait (at most MIN minutes, default 10) until
//                                   CPU pressure (PSI) is under 10 % (else load under 0.5)
//   --keep-cluster                  leave the test control plane this run started
//   --shared-cluster                recycle on the shared test control plane (npm run
//                                   cluster:up) instead of a private one started for the bench
//   --scale-sites N,N               scale: only these sizes (Deployments; above 2,000 probe-only), no blackbox_exporter
//   --scale-replicas N,N            scale: only these replica counts (default 1,2)
//   --scale-no-limit                scale: run serve without a pod's memory limit (a cgroup), to compare
//
// Needs root or preinstalled prometheus-blackbox-exporter and wrk (Debian);
// the recycle part starts test/cluster's control plane if none runs.

import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { K8S_VERSION } from '../test/cluster/lib.ts'
import { busyness, cpuPressure, ensureDebianTools, load1, machine, sleep, type Machine } from './lib/proc.ts'
import { profileParts } from './lib/profile.ts'
import { textTable, type TargetCheck } from './lib/stats.ts'
import { benchProbes, formatProbes, type ProbesResult } from './probes/index.ts'
import { benchRecycle, formatRecycle, type RecycleResult } from './recycle.ts'
import { benchWebhook, formatWebhook, type WebhookResult } from './webhook/index.ts'
import { benchHeal, formatHeal, type HealResult } from './heal.ts'
import { benchLadder, formatLadder, type LadderResult } from './ladder.ts'
import { benchScale, formatScale, type ScaleResult } from './scale.ts'
import { benchCanary, formatCanary, type CanaryBenchResult } from './canary.ts'

type Part = 'probes' | 'recycle' | 'webhook' | 'heal' | 'ladder' | 'scale' | 'canary'
const PARTS: Part[] = ['probes', 'recycle', 'webhook', 'heal', 'ladder', 'scale', 'canary']

interface Args {
  only: Part[]
  quick: boolean
  runs?: number
  markdown: boolean
  json?: string
  profile: boolean
  waitQuietMin: number
  keepCluster: boolean
  sharedCluster: boolean
  scaleSites?: number[]
  scaleReplicas?: number[]
  scaleNoLimit: boolean
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    only: [],
    quick: false,
    markdown: false,
    profile: false,
    waitQuietMin: 0,
    keepCluster: false,
    sharedCluster: false,
    scaleNoLimit: false,
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s) as [string, string | undefined]
    const value = () => inline ?? argv[++i] ?? ''
    switch (flag) {
      case '--only':
        for (const p of value().split(',')) {
          if (!PARTS.includes(p as Part)) throw new Error(`--only: "${p}" is not one of ${PARTS.join(', ')}`)
          a.only.push(p as Part)
        }
        break
      case '--quick':
        a.quick = true
        break
      case '--runs':
        a.runs = Math.max(1, Number(value()) || 1)
        break
      case '--markdown':
        a.markdown = true
        break
      case '--json':
        a.json = value()
        break
      case '--profile':
        a.profile = true
        break
      case '--wait-quiet':
        a.waitQuietMin = inline !== undefined ? Number(inline) || 10 : 10
        break
      case '--keep-cluster':
        a.keepCluster = true
        break
      case '--shared-cluster':
        a.sharedCluster = true
        break
      case '--scale-sites':
        a.scaleSites = value()
          .split(',')
          .map(Number)
          .filter((n) => n > 0)
        break
      case '--scale-replicas':
        a.scaleReplicas = value()
          .split(',')
          .map(Number)
          .filter((n) => n > 0)
        break
      case '--scale-no-limit':
        a.scaleNoLimit = true
        break
      case '-h':
      case '--help':
        process.stdout.write(
          'usage: npm run bench -- [--only probes|recycle|webhook|heal|ladder|scale|canary] [--quick] [--runs N] [--markdown] [--json FILE] [--profile] [--wait-quiet[=MIN]] [--keep-cluster] [--shared-cluster] [--scale-sites N,N] [--scale-replicas N,N] [--scale-no-limit]\n',
        )
        process.exit(0)
        break
      default:
        throw new Error(`unknown flag ${flag} (try --help)`)
    }
  }
  if (a.only.length === 0) a.only = [...PARTS]
  return a
}

const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`)

function header(m: Machine, args: Args): string {
  return [
    `kube-recycler benchmarks — ${m.date}${args.quick ? ' (--quick: smoke run, not for quoting)' : ''}`,
    `machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGB} GB, Linux ${m.kernel}, load average at start ${m.loadavg}, CPU pressure ${m.cpuPressure} %`,
    `versions: node ${m.node}, undici ${m.undici}, fastify ${m.fastify}, @kubernetes/client-node ${m.clientNode}, autocannon ${m.autocannon}, blackbox_exporter ${m.blackbox}, wrk ${m.wrk}, Kubernetes ${K8S_VERSION}`,
  ].join('\n')
}

function section(title: string, body: string, markdown: boolean): string {
  return markdown
    ? `\n## ${title}\n\n${body}\n`
    : `\n=== ${title} ${'='.repeat(Math.max(0, 70 - title.length))}\n\n${body}\n`
}

/** Quiet: under 10 % CPU pressure (or, without PSI, a load average under 0.5). */
async function waitQuiet(minutes: number): Promise<void> {
  const until = Date.now() + minutes * 60_000
  const quiet = () => {
    const p = cpuPressure()
    return Number.isFinite(p) ? p < 10 : load1() < 0.5
  }
  while (!quiet() && Date.now() < until) {
    log(`waiting for a quiet machine (${busyness()})`)
    await sleep(15_000)
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const t0 = performance.now()
  if (Number(process.versions.node.split('.')[0]) < 24)
    throw new Error(`Node ${process.version}: run through npm (npm run bench) so node_modules/.bin/node (v24) is used`)
  if (args.waitQuietMin > 0) await waitQuiet(args.waitQuietMin)
  log(`starting (${busyness()})`)
  const tools = args.only.includes('probes') ? await ensureDebianTools(log) : undefined
  const m = machine()
  const out: string[] = [header(m, args)]
  const targets: Array<TargetCheck & { part: Part }> = []
  const results: {
    machine: Machine
    probes?: ProbesResult
    recycle?: RecycleResult
    webhook?: WebhookResult
    heal?: HealResult
    ladder?: LadderResult
    scale?: ScaleResult
    canary?: CanaryBenchResult
    totalMs?: number
  } = { machine: m }

  for (const part of PARTS.filter((p) => args.only.includes(p))) {
    const started = performance.now()
    if (part === 'probes') {
      const r = await benchProbes({
        quick: args.quick,
        runs: args.runs ?? (args.quick ? 1 : 3),
        log,
        blackboxBin: tools!.blackbox,
        wrkBin: tools!.wrk,
      })
      results.probes = r
      targets.push(...r.targets.map((t) => ({ ...t, part })))
      out.push(
        section(
          'probes: kube-recycler vs blackbox_exporter vs the undici floor',
          formatProbes(r, args.markdown),
          args.markdown,
        ),
      )
    } else if (part === 'recycle') {
      const r = await benchRecycle({
        quick: args.quick,
        runs: args.runs ?? (args.quick ? 1 : 5),
        log,
        keepCluster: args.keepCluster,
        sharedCluster: args.sharedCluster,
      })
      results.recycle = r
      targets.push(...r.targets.map((t) => ({ ...t, part })))
      out.push(
        section(
          'recycle: kube-recycler vs kubectl rollout restart + status',
          formatRecycle(r, args.markdown),
          args.markdown,
        ),
      )
    } else if (part === 'heal') {
      const r = await benchHeal({ quick: args.quick, runs: args.runs ?? 1, log, keepCluster: args.keepCluster })
      results.heal = r
      targets.push(...r.targets.map((t) => ({ ...t, part })))
      out.push(
        section(
          'heal: time to heal on running pods, kube-recycler vs by hand vs the rollout alone',
          formatHeal(r, args.markdown),
          args.markdown,
        ),
      )
    } else if (part === 'ladder') {
      const r = await benchLadder({ runs: args.runs ?? 1, log, keepCluster: args.keepCluster })
      results.ladder = r
      targets.push(...r.targets.map((t) => ({ ...t, part })))
      out.push(
        section(
          'ladder: one bad pod of ten, the targeted repair (replace-pods) vs a full rollout',
          formatLadder(r, args.markdown),
          args.markdown,
        ),
      )
    } else if (part === 'canary') {
      const r = await benchCanary({ quick: args.quick, runs: args.runs ?? 1, log, keepCluster: args.keepCluster })
      results.canary = r
      targets.push(...r.targets.map((t) => ({ ...t, part })))
      out.push(
        section(
          'canary: a broken production head, canary-first vs a full rollout, on running pods',
          formatCanary(r, args.markdown),
          args.markdown,
        ),
      )
    } else if (part === 'scale') {
      const r = await benchScale({
        quick: args.quick,
        log,
        ...(args.scaleSites ? { sites: args.scaleSites } : {}),
        ...(args.scaleReplicas ? { replicas: args.scaleReplicas } : {}),
        noLimit: args.scaleNoLimit,
      })
      results.scale = r
      targets.push(...r.targets.map((t) => ({ ...t, part })))
      out.push(
        section(
          'scale: what a site costs, at rest and broken, vs blackbox_exporter',
          formatScale(r, args.markdown),
          args.markdown,
        ),
      )
    } else {
      const r = await benchWebhook({ quick: args.quick, runs: args.runs ?? (args.quick ? 1 : 3), log })
      results.webhook = r
      targets.push(...r.targets.map((t) => ({ ...t, part })))
      out.push(
        section(
          'webhook: POST /webhooks/jenkins vs a bare Fastify route',
          formatWebhook(r, args.markdown),
          args.markdown,
        ),
      )
    }
    log(`${part} done in ${((performance.now() - started) / 1000).toFixed(0)} s (${busyness()})`)
  }

  if (args.profile) {
    out.push(
      section(
        'profiles (V8 CPU profiler, steady state only, one extra run each)',
        await profileParts(args.only, log),
        args.markdown,
      ),
    )
  }

  const rows = targets.map((t) => [t.part, t.met ? 'met' : 'MISSED', t.name, t.detail])
  out.push(section('targets', textTable(['part', '', 'target', 'measured'], rows), false))
  results.totalMs = performance.now() - t0
  out.push(
    `total bench time: ${(results.totalMs / 1000).toFixed(0)} s; at the end: load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, CPU pressure ${cpuPressure()} %`,
  )
  process.stdout.write(`${out.join('\n')}\n`)
  if (args.json) writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`)
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`)
  process.exitCode = 1
})
