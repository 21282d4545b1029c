// bench/probes: kube-recycler's probe engine against blackbox_exporter and
// the floor (a minimal undici loop), same targets, same check, same
// concurrency, both connection modes. Runs are interleaved (round after
// round over every scenario) so background noise spreads over all contenders.
//
// Processes: the targets server, the measured prober (a fresh worker per run
// for ours and the floor; a fresh blackbox_exporter per run) and the load
// driver (wrk, for blackbox only) are separate processes. CPU figures are
// the measured process's own; the targets' CPU is shown apart.

import path from 'node:path'
import { busyness, load1, NODE, ROOT, runWorker, startChild } from '../lib/proc.ts'
import {
  fmtRatio,
  fmtSpread,
  markdownTable,
  num,
  ratio,
  spread,
  textTable,
  type Spread,
  type TargetCheck,
} from '../lib/stats.ts'
import { runBlackbox } from './blackbox.ts'
import type { WorkerInput, WorkerOutput } from './worker.ts'

export type Contender = 'ours' | 'floor' | 'floor-dispatch' | 'blackbox'
export const CONTENDER_LABEL: Record<Contender, string> = {
  ours: 'kube-recycler',
  floor: 'floor: undici request()',
  'floor-dispatch': 'floor: undici dispatch()',
  blackbox: 'blackbox_exporter',
}

export interface Scenario {
  id: string
  kind: 'fast' | 'slow'
  keepAlive: boolean
  concurrency: number
  contenders: Contender[]
  /** Count mode: this many checks through runChecks (ours) / a loop (floor). */
  count?: number
}

export interface RunFigures {
  probes: number
  ok: number
  elapsedMs: number
  perSecond: number
  cpuMsPerProbe: number
  targetsCpuMsPerProbe: number
  p50: number
  p99: number
  peakRssMB: number
  firstError?: string
}

export interface CellResult {
  scenario: Scenario
  contender: Contender
  runs: RunFigures[]
  perSecond: Spread
  p50: Spread
  p99: Spread
  cpuMsPerProbe: Spread
  targetsCpuMsPerProbe: Spread
  peakRssMB: Spread
  elapsedMs: Spread
  okRatio: number
}

export interface ProbesResult {
  cells: CellResult[]
  targets: TargetCheck[]
  durationMs: number
  runs: number
  loadavg: number[]
}

export interface ProbesOptions {
  quick: boolean
  runs: number
  log: (m: string) => void
  blackboxBin: string
  wrkBin: string
}

export function scenarios(quick: boolean): Scenario[] {
  const all: Scenario[] = []
  const concs = quick ? [100] : [10, 100, 500]
  for (const keepAlive of [false, true]) {
    for (const c of concs) {
      all.push({
        id: `fast-${keepAlive ? 'ka' : 'new'}-${c}`,
        kind: 'fast',
        keepAlive,
        concurrency: c,
        contenders: keepAlive ? ['ours', 'floor', 'floor-dispatch'] : ['ours', 'floor', 'floor-dispatch', 'blackbox'],
      })
    }
  }
  if (!quick) {
    all.push({
      id: 'slow-new-500',
      kind: 'slow',
      keepAlive: false,
      concurrency: 500,
      contenders: ['ours', 'floor', 'blackbox'],
    })
    all.push({ id: 'slow-ka-500', kind: 'slow', keepAlive: true, concurrency: 500, contenders: ['ours', 'floor'] })
  }
  // The cron's case: 10,000 checks of the 50 ms targets at once, concurrency 500.
  all.push({
    id: 'count-ka-500',
    kind: 'slow',
    keepAlive: true,
    concurrency: 500,
    count: 10_000,
    contenders: quick ? ['ours'] : ['ours', 'floor'],
  })
  if (!quick)
    all.push({
      id: 'count-new-500',
      kind: 'slow',
      keepAlive: false,
      concurrency: 500,
      count: 10_000,
      contenders: ['ours', 'floor'],
    })
  return all
}

export async function benchProbes(opts: ProbesOptions): Promise<ProbesResult> {
  const started = performance.now()
  const durationMs = opts.quick ? 1000 : 3000
  const warmupMs = opts.quick ? 300 : 500
  const list = scenarios(opts.quick)
  const raw = new Map<string, RunFigures[]>()
  const loads: number[] = []
  const targets = await startChild(NODE, [path.join(ROOT, 'bench/probes/targets-server.ts')])
  try {
    for (let round = 0; round < opts.runs; round++) {
      loads.push(load1())
      opts.log(`probes: round ${round + 1}/${opts.runs} (${busyness()})`)
      for (const s of list) {
        for (const contender of s.contenders) {
          const fig = await runOne(opts, s, contender, targets.port, targets.pid, durationMs, warmupMs)
          const key = `${s.id}/${contender}`
          raw.set(key, [...(raw.get(key) ?? []), fig])
          const bad = fig.probes - fig.ok
          opts.log(
            `  ${s.id.padEnd(14)} ${contender.padEnd(14)} ${s.count ? `${num(fig.elapsedMs)} ms` : `${num(fig.perSecond)}/s`}  p99 ${num(fig.p99)} ms  cpu ${num(fig.cpuMsPerProbe)} ms/probe  rss ${num(fig.peakRssMB)} MB${bad ? `  FAILED ${bad}: ${fig.firstError ?? ''}` : ''}`,
          )
        }
      }
    }
  } finally {
    await targets.stop()
  }
  const cells: CellResult[] = []
  for (const s of list) {
    for (const contender of s.contenders) {
      const runs = raw.get(`${s.id}/${contender}`) ?? []
      const probes = runs.reduce((n, r) => n + r.probes, 0)
      cells.push({
        scenario: s,
        contender,
        runs,
        perSecond: spread(runs.map((r) => r.perSecond)),
        p50: spread(runs.map((r) => r.p50)),
        p99: spread(runs.map((r) => r.p99)),
        cpuMsPerProbe: spread(runs.map((r) => r.cpuMsPerProbe)),
        targetsCpuMsPerProbe: spread(runs.map((r) => r.targetsCpuMsPerProbe)),
        peakRssMB: spread(runs.map((r) => r.peakRssMB)),
        elapsedMs: spread(runs.map((r) => r.elapsedMs)),
        okRatio: probes === 0 ? NaN : runs.reduce((n, r) => n + r.ok, 0) / probes,
      })
    }
  }
  return { cells, targets: judge(cells), durationMs: performance.now() - started, runs: opts.runs, loadavg: loads }
}

async function runOne(
  opts: ProbesOptions,
  s: Scenario,
  contender: Contender,
  port: number,
  targetsPid: number,
  durationMs: number,
  warmupMs: number,
): Promise<RunFigures> {
  if (contender === 'blackbox') {
    const b = await runBlackbox({
      blackboxBin: opts.blackboxBin,
      wrkBin: opts.wrkBin,
      targetsPort: port,
      targetsPid,
      kind: s.kind,
      concurrency: s.concurrency,
      durationMs,
      warmupMs,
    })
    return {
      probes: b.probes,
      ok: b.ok,
      elapsedMs: b.elapsedMs,
      perSecond: b.perSecond,
      cpuMsPerProbe: b.cpuMsPerProbe,
      targetsCpuMsPerProbe: b.targetsCpuMs / b.probes,
      p50: b.p50,
      p99: b.p99,
      peakRssMB: b.peakRssMB,
      ...(b.errors > 0 ? { firstError: `${b.errors} errors or probe_success 0` } : {}),
    }
  }
  const input: WorkerInput = {
    contender,
    keepAlive: s.keepAlive,
    concurrency: s.concurrency,
    kind: s.kind,
    port,
    targetsPid,
    ...(s.count !== undefined ? { count: s.count } : { durationMs, warmupMs }),
  }
  const w = await runWorker<WorkerOutput>(path.join(ROOT, 'bench/probes/worker.ts'), input)
  return {
    probes: w.probes,
    ok: w.ok,
    elapsedMs: w.elapsedMs,
    perSecond: w.perSecond,
    cpuMsPerProbe: w.cpuMsPerProbe,
    targetsCpuMsPerProbe: w.targetsCpuMs / w.probes,
    p50: w.p50,
    p99: w.p99,
    peakRssMB: w.peakRssMB,
    ...(w.firstError !== undefined ? { firstError: w.firstError } : {}),
  }
}

function cell(cells: CellResult[], id: string, c: Contender): CellResult | undefined {
  return cells.find((x) => x.scenario.id === id && x.contender === c)
}

function judge(cells: CellResult[]): TargetCheck[] {
  const out: TargetCheck[] = []
  const ids = [...new Set(cells.map((c) => c.scenario.id))]
  for (const id of ids) {
    const ours = cell(cells, id, 'ours')
    const floor = cell(cells, id, 'floor')
    const floorD = cell(cells, id, 'floor-dispatch')
    const bb = cell(cells, id, 'blackbox')
    if (!ours || ours.scenario.count !== undefined || ours.scenario.kind !== 'fast') continue
    const s = ours.scenario
    const where = `${s.keepAlive ? 'keep-alive' : 'new connection'}, concurrency ${s.concurrency}`
    if (bb) {
      const r = ratio(ours.perSecond.median, bb.perSecond.median)
      out.push({
        name: `probes/s ≥ 2 × blackbox (${where})`,
        met: r >= 2,
        detail: `${fmtRatio(r)} (${num(ours.perSecond.median)} vs ${num(bb.perSecond.median)}/s)`,
      })
    }
    for (const f of [floor, floorD]) {
      if (!f) continue
      const want = s.keepAlive ? 0.8 : 0.85
      const r = ratio(ours.perSecond.median, f.perSecond.median)
      out.push({
        name: `probes/s ≥ ${want} × ${CONTENDER_LABEL[f.contender]} (${where})`,
        met: r >= want,
        detail: `${fmtRatio(r)} (${num(ours.perSecond.median)} vs ${num(f.perSecond.median)}/s)`,
      })
    }
  }
  const count = cell(cells, 'count-ka-500', 'ours')
  if (count) {
    out.push({
      name: '10,000 checks of /slow at concurrency 500 in ≤ 2 s (keep-alive, the default)',
      met: count.elapsedMs.median <= 2000,
      detail: `${fmtSpread(count.elapsedMs)} ms`,
    })
    out.push({
      name: '… with peak RSS ≤ 150 MB',
      met: count.peakRssMB.median <= 150,
      detail: `${fmtSpread(count.peakRssMB)} MB`,
    })
  }
  // count-new-500 is shown, not judged: the target is for the cron's default (keep-alive).
  return out
}

const HEAD = [
  'scenario',
  'contender',
  'probes/s',
  'p50 ms',
  'p99 ms',
  'CPU ms/probe',
  'peak RSS MB',
  'targets CPU ms/probe',
  'ok',
]
const COUNT_HEAD = [
  'scenario',
  'contender',
  'wall ms (10,000 checks)',
  'probes/s',
  'p50 ms',
  'p99 ms',
  'CPU ms/probe',
  'peak RSS MB',
  'ok',
]

function describe(s: Scenario): string {
  return `${s.kind === 'fast' ? '/fast' : '/slow 50 ms'}, ${s.keepAlive ? 'keep-alive' : 'new conn'}, c=${s.concurrency}`
}

function rows(r: ProbesResult, counted: boolean): string[][] {
  const out: string[][] = []
  for (const c of r.cells) {
    if ((c.scenario.count !== undefined) !== counted) continue
    const ok = Number.isFinite(c.okRatio) ? `${(c.okRatio * 100).toFixed(c.okRatio === 1 ? 0 : 2)}%` : 'n/a'
    if (counted) {
      out.push([
        describe(c.scenario),
        CONTENDER_LABEL[c.contender],
        fmtSpread(c.elapsedMs),
        fmtSpread(c.perSecond),
        fmtSpread(c.p50),
        fmtSpread(c.p99),
        fmtSpread(c.cpuMsPerProbe),
        fmtSpread(c.peakRssMB),
        ok,
      ])
    } else {
      out.push([
        describe(c.scenario),
        CONTENDER_LABEL[c.contender],
        fmtSpread(c.perSecond),
        fmtSpread(c.p50),
        fmtSpread(c.p99),
        fmtSpread(c.cpuMsPerProbe),
        fmtSpread(c.peakRssMB),
        fmtSpread(c.targetsCpuMsPerProbe),
        ok,
      ])
    }
  }
  return out
}

function ratioRows(r: ProbesResult): string[][] {
  const out: string[][] = []
  const ids = [...new Set(r.cells.filter((c) => c.scenario.count === undefined).map((c) => c.scenario.id))]
  for (const id of ids) {
    const ours = cell(r.cells, id, 'ours')!
    const floor = cell(r.cells, id, 'floor')
    const floorD = cell(r.cells, id, 'floor-dispatch')
    const bb = cell(r.cells, id, 'blackbox')
    const vs = (c: CellResult | undefined, f: (x: CellResult) => number, inverse = false) =>
      c ? fmtRatio(inverse ? ratio(f(c), f(ours)) : ratio(f(ours), f(c))) : '—'
    out.push([
      describe(ours.scenario),
      vs(bb, (x) => x.perSecond.median),
      vs(bb, (x) => x.cpuMsPerProbe.median, true),
      vs(floor, (x) => x.perSecond.median),
      vs(floorD, (x) => x.perSecond.median),
      vs(floorD, (x) => x.cpuMsPerProbe.median),
    ])
  }
  return out
}

const RATIO_HEAD = [
  'scenario',
  'ours/blackbox probes/s',
  'blackbox/ours CPU per probe',
  'ours/request() floor probes/s',
  'ours/dispatch() floor probes/s',
  'ours/dispatch() floor CPU per probe',
]

export function formatProbes(r: ProbesResult, markdown: boolean): string {
  const table = markdown ? markdownTable : textTable
  return [
    `Throughput and cost (medians over ${r.runs} run${r.runs === 1 ? '' : 's'}, min–max in parentheses):`,
    '',
    table(HEAD, rows(r, false)),
    '',
    'Ratios (of the medians):',
    '',
    table(RATIO_HEAD, ratioRows(r)),
    '',
    'A cron tick: 10,000 checks handed to runChecks at once (cold process, no connections yet):',
    '',
    table(COUNT_HEAD, rows(r, true)),
  ].join('\n')
}
