// The pure core, as tables: the health machine (verdict by verdict) and the
// policy (state × request × time). No app, no clock but the numbers given.

import t from 'tap'
import { parseConfig } from '../../src/config/load.ts'
import { observe, operatorRecycled, recycleFinished, recycleStarted, verified } from '../../src/health/state.ts'
import type { Verdict } from '../../src/health/verdict.ts'
import { circuitOpen, decide } from '../../src/recycle/policy.ts'
import { applyRequest } from '../../src/recycle/requests.ts'
import { emptySiteState, type SiteState } from '../../src/state/schema.ts'

const site = parseConfig(`
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    failureThreshold: 2
    successThreshold: 2
    recycle: { cooldown: 10m, maxPerWindow: 2, window: 1h }
`).sites[0]!
const T0 = Date.parse('2026-12-01T00:00:00Z')
const at = (min: number) => new Date(T0 + min * 60_000).toISOString()
const verdict = (ok: boolean, min = 0): Verdict => ({
  site: 'shop',
  ok,
  source: 'jenkins',
  at: at(min),
  checks: [],
  summary: ok ? 'ok' : 'bad',
})

t.test('health machine: verdict by verdict', async (t) => {
  // [ok?, expected health, recycle asked?, reason pattern, transition]
  const rows: [boolean, string, boolean, RegExp, string][] = [
    [false, 'unknown', false, /^1\/2 consecutive failures$/, 'none'],
    [false, 'failing', true, /^2 consecutive failures \(threshold 2\)$/, 'became-failing'],
    [true, 'failing', false, /^1\/2 passing verdicts$/, 'none'],
    [false, 'failing', false, /^1\/2 consecutive failures$/, 'none'],
    [false, 'failing', true, /^2 consecutive failures/, 'none'],
    [true, 'failing', false, /^1\/2 passing/, 'none'],
    [true, 'healthy', false, /^recovered$/, 'recovered'],
    [true, 'healthy', false, /^healthy$/, 'none'],
  ]
  let s = emptySiteState('shop')
  rows.forEach(([ok, health, recycle, reason, transition], i) => {
    const { next, obs } = observe(s, site, verdict(ok, i))
    t.equal(obs.health, health, `row ${i}: health`)
    t.equal(obs.recycle, recycle, `row ${i}: recycle`)
    t.match(obs.reason, reason, `row ${i}: reason`)
    t.equal(obs.transition, transition, `row ${i}: transition`)
    s = next
  })
  t.equal(s.consecutiveSuccesses, 2, 'successes are capped at the threshold: a long healthy run is one state')
  const again = observe(s, site, verdict(true, 99)).next
  t.same({ ...again }, { ...s }, 'another healthy verdict changes nothing')
})

t.test('health machine: one recycle per episode, did-not-help stops, operator and recovery re-arm', async (t) => {
  let s = emptySiteState('shop')
  s = observe(s, site, verdict(false)).next
  const asked = observe(s, site, verdict(false))
  t.equal(asked.obs.recycle, true)
  s = recycleStarted(asked.next)
  const during = observe(s, site, verdict(false))
  t.equal(during.obs.recycle, false)
  t.match(during.obs.reason, /already running/)
  s = recycleFinished(during.next, true)
  const after = observe(s, site, verdict(false))
  t.equal(after.obs.recycle, false)
  t.match(after.obs.reason, /recycle-did-not-help: still failing after a recycle/)
  t.equal(after.next.episode?.didNotHelp, true)
  const stuck = observe(after.next, site, verdict(false))
  t.match(stuck.obs.reason, /waiting for the site to recover or an operator/)
  t.equal(operatorRecycled(stuck.next).episode?.didNotHelp, false, 'an operator recycle lifts the stop')
  t.equal(recycleFinished(recycleStarted(asked.next), false).episode?.recycled, false, 'a skipped recycle did not act')
  const ok = verified(recycleStarted(asked.next), true)
  t.equal(ok.health, 'healthy')
  t.equal(ok.episode, undefined)
  const bad = verified(recycleStarted(asked.next), false)
  t.match(bad.episode, { didNotHelp: true, recycled: true, recycleActive: false })
})

t.test('policy: state × request × time', async (t) => {
  const withStarts = (...mins: number[]): SiteState => ({ ...emptySiteState('shop'), starts: mins.map(at) })
  const running: SiteState = {
    ...emptySiteState('shop'),
    recycles: [
      {
        id: 'rc-1',
        site: 'shop',
        target: 't',
        strategy: 'rollout',
        trigger: { source: 'probe', reason: 'r' },
        dryRun: false,
        state: 'running',
        steps: [],
        createdAt: at(0),
      },
    ],
  }
  const verifying: SiteState = {
    ...running,
    recycles: [{ ...running.recycles[0]!, state: 'succeeded', verification: 'pending' }],
  }
  const rows: {
    name: string
    s: SiteState
    source: 'jenkins' | 'operator'
    dryRun?: boolean
    now: number
    kind: string
    reason?: RegExp
  }[] = [
    { name: 'nothing before', s: emptySiteState('shop'), source: 'jenkins', now: 0, kind: 'run' },
    { name: 'dry-run plans', s: withStarts(0), source: 'jenkins', dryRun: true, now: 1, kind: 'plan' },
    { name: 'one running', s: running, source: 'operator', now: 30, kind: 'skip', reason: /already running \(rc-1\)/ },
    { name: 'one being verified', s: verifying, source: 'jenkins', now: 30, kind: 'skip', reason: /already running/ },
    {
      name: 'within the cooldown',
      s: withStarts(0),
      source: 'jenkins',
      now: 5,
      kind: 'skip',
      reason: /^cooldown: the last recycle started 300 s ago \(cooldown 600 s\)$/,
    },
    {
      name: 'cooldown holds for operators too',
      s: withStarts(0),
      source: 'operator',
      now: 9,
      kind: 'skip',
      reason: /^cooldown/,
    },
    { name: 'past the cooldown', s: withStarts(0), source: 'jenkins', now: 11, kind: 'run' },
    {
      name: 'circuit open at maxPerWindow',
      s: withStarts(0, 20),
      source: 'jenkins',
      now: 40,
      kind: 'skip',
      reason: /^circuit open: 2 recycles within 60 min; an operator must look$/,
    },
    { name: 'operators pass an open circuit', s: withStarts(0, 20), source: 'operator', now: 40, kind: 'run' },
    { name: 'the window slides', s: withStarts(0, 20), source: 'jenkins', now: 61, kind: 'run' },
  ]
  for (const r of rows) {
    const d = decide(r.s, site, { source: r.source, dryRun: r.dryRun ?? false }, T0 + r.now * 60_000)
    t.equal(d.kind, r.kind, `${r.name}: ${d.kind}`)
    if (r.reason) t.match((d as { reason: string }).reason, r.reason, r.name)
  }
  t.equal(circuitOpen(withStarts(0, 20), site, T0 + 40 * 60_000), true)
  t.equal(circuitOpen(withStarts(0, 20), site, T0 + 61 * 60_000), false)
})

t.test('requests: a start is recorded with the pending record; repeated skips merge into one record', async (t) => {
  let s = observe(observe(emptySiteState('shop'), site, verdict(false)).next, site, verdict(false, 1)).next
  const first = applyRequest(
    s,
    site,
    { site: 'shop', source: 'jenkins', reason: 'r' },
    { now: T0, id: 'rc-a', dryRun: false },
  )
  t.equal(first.record.state, 'pending')
  t.same(first.next.starts, [at(0)])
  t.equal(first.next.episode?.recycleActive, true)
  s = { ...first.next, recycles: [{ ...first.record, state: 'succeeded' }] }
  const skip1 = applyRequest(
    s,
    site,
    { site: 'shop', source: 'operator', reason: 'x' },
    { now: T0 + 60_000, id: 'rc-b', dryRun: false },
  )
  t.equal(skip1.record.state, 'skipped')
  const skip2 = applyRequest(
    skip1.next,
    site,
    { site: 'shop', source: 'operator', reason: 'y' },
    { now: T0 + 120_000, id: 'rc-c', dryRun: false },
  )
  t.equal(skip2.next.recycles.length, 2, 'the second identical skip is merged')
  t.match(skip2.record, { id: 'rc-b', repeats: 2, lastAt: at(2) })
  t.match(skip2.record.reason, /started 120 s ago/, 'with the latest reason')
  t.throws(
    () =>
      applyRequest(
        s,
        { ...site, target: { namespace: 'shop', selector: { app: 'x' } } },
        { site: 'shop', source: 'operator', reason: 'x', strategy: 'rollout' },
        { now: T0, id: 'rc-d', dryRun: false },
      ),
    /needs a named workload/,
  )
})
