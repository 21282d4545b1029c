// The recycle lifecycle (recycle/lifecycle.ts) as tables: a state, an event,
// the time; the record's next state (or the refusal, with nothing to write)
// and the effects to perform. Pure, so no store, no runner, no clock.

import t, { type Test } from 'tap'
import { parseConfig } from '../../src/config/load.ts'
import { newPause, setPause } from '../../src/recycle/control.ts'
import { transition, type Effect, type LifecycleEvent } from '../../src/recycle/lifecycle.ts'
import { applyRequest } from '../../src/recycle/requests.ts'
import { LIMITS } from '../../src/state/bounds.ts'
import { step } from '../../src/state/records.ts'
import { emptySiteState, type RecycleRecord, type SiteState } from '../../src/state/schema.ts'

const T0 = Date.parse('2026-12-01T12:00:00Z')
const min = (m: number) => T0 + m * 60_000
const at = (m: number) => new Date(min(m)).toISOString()
const cfg = (extra = '') =>
  parseConfig(`
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    recycle: { cooldown: 10m, maxPerWindow: 3, window: 1h${extra} }
`).sites[0]!
const site = cfg()
const approveSite = cfg(', mode: approve')
const notifySite = cfg(', mode: notify')
const ID = 'rc-mi0abc-0123abcd'

const failing: SiteState = {
  ...emptySiteState('shop'),
  health: 'failing',
  consecutiveFailures: 1,
  episode: { since: at(0), recycleActive: false, recycled: false, didNotHelp: false },
}
/** The state just after the service wrote a pending record for a Jenkins failure at minute 0. */
const pending = applyRequest(
  failing,
  site,
  { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
  { now: min(0), id: ID, dryRun: false },
).next
const running = transition(pending, ID, { type: 'claim', site, by: 'replica-a' }, min(0)).next!
const rec = (s: SiteState): RecycleRecord => s.recycles.find((r) => r.id === ID)!
const kinds = (e: Effect[]) =>
  e.map((x) =>
    x.kind === 'notify'
      ? `notify:${x.event}`
      : x.kind === 'count'
        ? `count:${x.outcome}`
        : x.kind === 'event'
          ? `event:${x.reason}`
          : x.kind,
  )
const forged = (over: Partial<RecycleRecord>, s: SiteState = failing): SiteState => ({
  ...s,
  starts: [...s.starts, over.createdAt ?? at(0)],
  recycles: [
    ...s.recycles,
    {
      id: ID,
      site: 'shop',
      target: 'x',
      strategy: 'rollout',
      trigger: { source: 'jenkins', reason: 'forged' },
      dryRun: false,
      state: 'pending',
      steps: [],
      createdAt: at(0),
      ...over,
    },
  ],
})
const succeeded = { state: 'succeeded', message: 'rolled out' } as const
const trail = { steps: [step(min(1), 'patched')] }

interface Row {
  name: string
  s: SiteState
  event: LifecycleEvent
  now?: number
  /** The record's state after; or the refusal. */
  state?: RecycleRecord['state']
  reasonKind?: string
  refused?: string
  effects?: string[]
  more?: (t: Test, next: SiteState) => void
}

const rows: Row[] = [
  {
    name: 'claim: pending → running, held by the claimer',
    s: pending,
    event: { type: 'claim', site, by: 'replica-a' },
    state: 'running',
    effects: ['log'],
    more: (t, n) => t.equal(rec(n).holder, 'replica-a'),
  },
  {
    name: 'claim: already running (another replica claimed) → refused, nothing written',
    s: running,
    event: { type: 'claim', site, by: 'replica-b' },
    refused: 'moved-on',
  },
  { name: 'claim: gone → refused', s: failing, event: { type: 'claim', site, by: 'replica-a' }, refused: 'gone' },
  {
    name: 'claim: paused since the request → skipped (paused), its start given back, the episode free',
    s: setPause(pending, 'site', newPause({ by: 'alice' }, min(0))),
    event: { type: 'claim', site, by: 'replica-a' },
    state: 'skipped',
    reasonKind: 'paused',
    effects: ['log', 'count:skipped'],
    more: (t, n) => {
      t.same(n.starts, [])
      t.equal(n.episode?.recycleActive, false)
    },
  },
  {
    name: 'claim: a forged pending record in notify mode → skipped (notify-mode)',
    s: forged({}),
    event: { type: 'claim', site: notifySite, by: 'replica-a' },
    state: 'skipped',
    reasonKind: 'notify-mode',
  },
  {
    name: 'claim: a forged pending record in approve mode, never approved → skipped (approve-mode)',
    s: forged({}),
    event: { type: 'claim', site: approveSite, by: 'replica-a' },
    state: 'skipped',
    reasonKind: 'approve-mode',
  },
  {
    name: 'claim: approved in approve mode → running',
    s: forged({ approval: { decision: 'approved', by: 'alice', at: at(0) } }),
    event: { type: 'claim', site: approveSite, by: 'replica-a' },
    state: 'running',
  },
  {
    name: 'claim: its start is not counted (forged) → skipped (stale)',
    s: { ...forged({}), starts: [] },
    event: { type: 'claim', site, by: 'replica-a' },
    state: 'skipped',
    reasonKind: 'stale',
  },
  {
    name: 'claim: pending for longer than the window → skipped (stale)',
    s: pending,
    now: min(61),
    event: { type: 'claim', site, by: 'replica-a' },
    state: 'skipped',
    reasonKind: 'stale',
  },
  {
    name: 'claim: another start 2 min before (cooldown) → skipped (cooldown)',
    s: forged({ createdAt: at(2) }, { ...failing, starts: [at(0)] }),
    now: min(2),
    event: { type: 'claim', site, by: 'replica-a' },
    state: 'skipped',
    reasonKind: 'cooldown',
  },
  {
    name: 'claim: circuit open by other starts → skipped (circuit-open)',
    s: forged({ createdAt: at(40) }, { ...failing, starts: [at(0), at(15), at(30)] }),
    now: min(40),
    event: { type: 'claim', site, by: 'replica-a' },
    state: 'skipped',
    reasonKind: 'circuit-open',
  },
  {
    name: 'claim: a record naming another site → skipped (invalid)',
    s: forged({ site: 'blog' }),
    event: { type: 'claim', site, by: 'replica-a' },
    state: 'skipped',
    reasonKind: 'invalid',
  },
  {
    name: 'claim: another recycle of the site runs → skipped (busy)',
    s: forged({}, { ...running, recycles: running.recycles.map((r) => ({ ...r, id: 'rc-mi0abc-ffffffff' })) }),
    event: { type: 'claim', site, by: 'replica-a' },
    state: 'skipped',
    reasonKind: 'busy',
  },
  {
    name: 'steps: by the holder',
    s: running,
    event: { type: 'steps', by: 'replica-a', trail },
    state: 'running',
    effects: [],
  },
  {
    name: 'steps: by another replica → refused (not-holder)',
    s: running,
    event: { type: 'steps', by: 'replica-b', trail },
    refused: 'not-holder',
  },
  {
    name: "outcome: by another replica → refused, the holder's record untouched",
    s: running,
    event: { type: 'outcome', by: 'replica-b', outcome: succeeded, trail, commit: undefined, willVerify: false },
    refused: 'not-holder',
  },
  {
    name: 'outcome: succeeded',
    s: running,
    event: { type: 'outcome', by: 'replica-a', outcome: succeeded, trail, commit: undefined, willVerify: false },
    now: min(2),
    state: 'succeeded',
    effects: ['log', 'notify:recycle-succeeded', 'count:succeeded', 'duration', 'finished'],
    more: (t, n) => {
      t.equal(n.episode?.recycled, true)
      t.same(n.starts, [at(0)])
    },
  },
  {
    name: 'outcome: failed and rolled back',
    s: running,
    event: {
      type: 'outcome',
      by: 'replica-a',
      outcome: { state: 'failed', reason: 'crash-looping', rolledBack: true },
      trail,
      commit: undefined,
      willVerify: false,
    },
    state: 'rolled-back',
    reasonKind: 'failed',
    effects: ['log', 'notify:recycle-rolled-back', 'count:rolled-back', 'duration', 'finished'],
  },
  {
    name: 'outcome: skipped (the workload lock said no) gives its start back',
    s: running,
    event: {
      type: 'outcome',
      by: 'replica-a',
      outcome: { state: 'skipped', reason: 'cooldown on the workload' },
      trail,
      commit: undefined,
      willVerify: false,
    },
    state: 'skipped',
    reasonKind: 'not-acted',
    more: (t, n) => {
      t.same(n.starts, [])
      t.equal(n.episode?.recycled, false)
    },
  },
  {
    name: 'outcome: to verify keeps the episode active',
    s: running,
    event: { type: 'outcome', by: 'replica-a', outcome: succeeded, trail, commit: undefined, willVerify: true },
    state: 'succeeded',
    more: (t, n) => {
      t.equal(rec(n).verification, 'pending')
      t.equal(n.episode?.recycleActive, true)
    },
  },
]

t.test('transition: state × event × time', async (t) => {
  for (const r of rows) {
    const out = transition(r.s, ID, r.event, r.now ?? min(1))
    if (r.refused) {
      t.equal(out.refused, r.refused, `${r.name}: refused`)
      t.equal(out.next, undefined, `${r.name}: nothing to write`)
      t.same(out.effects, [], `${r.name}: nothing said`)
      continue
    }
    t.ok(out.next, `${r.name}: written`)
    t.equal(rec(out.next!).state, r.state, `${r.name}: state`)
    if (r.reasonKind) t.equal(rec(out.next!).reasonKind, r.reasonKind, `${r.name}: reason kind`)
    if (r.effects) t.same(kinds(out.effects), r.effects, `${r.name}: effects`)
    r.more?.(t, out.next!)
  }
})

t.test('verification: held by the verifier; did-not-help stops automatic recycles', async (t) => {
  const done = transition(
    running,
    ID,
    { type: 'outcome', by: 'replica-a', outcome: succeeded, trail, commit: undefined, willVerify: true },
    min(2),
  ).next!
  const verdict = { site: 'shop', ok: false, source: 'probe' as const, at: at(3), checks: [], summary: 'still 500' }
  t.equal(
    transition(done, ID, { type: 'verified', by: 'replica-b', ok: false, verdict, trail, message: 'x' }, min(3))
      .refused,
    'not-holder',
  )
  const taken = transition(done, ID, { type: 'take-verification', by: 'replica-b' }, min(3)).next!
  t.equal(rec(taken).holder, 'replica-b', 'the next leader takes the verification over')
  const bad = transition(
    taken,
    ID,
    { type: 'verified', by: 'replica-b', ok: false, verdict, trail, message: 'did not help' },
    min(4),
  )
  t.same(kinds(bad.effects), [
    'log',
    'count:did-not-help',
    'notify:recycle-did-not-help',
    'event:RecycleDidNotHelp',
    'finished',
  ])
  t.match(bad.next!, { episode: { didNotHelp: true, recycleActive: false }, lastVerdict: { summary: 'still 500' } })
  t.equal(rec(bad.next!).verification, 'recycle-did-not-help')
  const rolled = transition(
    taken,
    ID,
    { type: 'rolled-back', by: 'replica-b', trail, message: 'restored revision 3' },
    min(4),
  )
  t.equal(rec(rolled.next!).state, 'rolled-back')
  t.same(kinds(rolled.effects), ['count:rolled-back', 'notify:recycle-rolled-back', 'log'])
  const ok = transition(
    taken,
    ID,
    {
      type: 'verified',
      by: 'replica-b',
      ok: true,
      verdict: { ...verdict, ok: true, summary: 'fine' },
      trail,
      message: 'recovered',
    },
    min(4),
  )
  t.match(ok.next!, { health: 'healthy' })
  t.same(kinds(ok.effects), ['log', 'event:RecycleVerified', 'finished'])
})

t.test('requests: typed reasons; a skip is merged by its kind, not its words', async (t) => {
  const paused = setPause(failing, 'site', newPause({ by: 'alice' }, min(0)))
  const a = applyRequest(
    paused,
    site,
    { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
    { now: min(0), id: ID, dryRun: false },
  )
  t.match(a.record, { state: 'skipped', reasonKind: 'paused' })
  t.same(kinds(a.effects), ['count:skipped', 'log'])
  const b = applyRequest(
    a.next,
    site,
    { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
    { now: min(1), id: 'rc-mi0abc-00000002', dryRun: false },
  )
  t.equal(b.next.recycles.length, 1, 'merged into the first skip')
  t.equal(b.record.repeats, 2)
  const open = applyRequest(
    { ...failing, starts: [at(0), at(15), at(30)] },
    site,
    { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
    { now: min(45), id: ID, dryRun: false },
  )
  t.same(
    kinds(open.effects),
    ['count:skipped', 'log', 'notify:recycle-skipped-circuit', 'log'],
    'the circuit is announced once, from its kind',
  )
  t.same(
    kinds(
      applyRequest(
        failing,
        site,
        { site: 'shop', source: 'jenkins', reason: 'F' },
        { now: min(0), id: ID, dryRun: false },
      ).effects,
    ),
    ['notify:recycle-requested', 'log', 'hand-off'],
  )
})

t.test(
  'issue 22 point 4: the step bound is applied on every write: 40 steps, the first 10 and the last 30',
  async (t) => {
    const steps = Array.from({ length: 500 }, (_, i) =>
      step(min(1) + i * 5000, `a PodDisruptionBudget blocks evicting web-${i}; retrying in 5000 ms`),
    )
    const out = transition(running, ID, { type: 'steps', by: 'replica-a', trail: { steps } }, min(60)).next!
    const r = rec(out)
    t.equal(r.steps.length, LIMITS.stepsHead + LIMITS.stepsTail)
    t.same(r.steps.slice(0, 10), steps.slice(0, 10), 'the first 10')
    t.same(r.steps.slice(10), steps.slice(-30), 'the last 30')
    t.equal(r.stepsLeftOut, 460, 'and how many were left out between them')
    const again = rec(
      transition(
        out,
        ID,
        {
          type: 'steps',
          by: 'replica-a',
          trail: { steps: [...r.steps, step(min(61), 'one more')], leftOut: r.stepsLeftOut! },
        },
        min(61),
      ).next!,
    )
    t.equal(again.stepsLeftOut, 461, 'bounding a bounded trail again loses no count')
  },
)
