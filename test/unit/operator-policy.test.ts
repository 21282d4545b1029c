// The operator's brakes in the pure core, as tables: the policy with
// pauses, maintenance windows, recycle windows and modes; the windows
// themselves (cron, duration, time zone); the review the leader runs every
// second (approvals expire, waiting requests are released only while the
// site still fails); approve and reject.

import t from 'tap'
import { parseConfig } from '../../src/config/load.ts'
import { observe } from '../../src/health/state.ts'
import type { Verdict } from '../../src/health/verdict.ts'
import { approve, newPause, reject, resetSite, review, setPause } from '../../src/recycle/control.ts'
import { circuitOpen, decide } from '../../src/recycle/policy.ts'
import { applyRequest } from '../../src/recycle/requests.ts'
import { nextWindowStart, openWindowStart, windowsAt } from '../../src/recycle/windows.ts'
import { emptySiteState, type SiteState } from '../../src/state/schema.ts'

// 2026-12-01 is a Tuesday.
const T0 = Date.parse('2026-12-01T00:00:00Z')
const min = (m: number) => T0 + m * 60_000
const at = (m: number) => new Date(min(m)).toISOString()

const cfg = (extra: string) =>
  parseConfig(`
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    failureThreshold: 1
${extra}
`).sites[0]!

const plain = cfg('    recycle: { cooldown: 10m, maxPerWindow: 2, window: 1h }')
// Maintenance 02:00-04:00 UTC every day.
const maint = cfg('    maintenance: [{ schedule: "0 2 * * *", duration: 2h }]')
// Recycles only 22:00-02:00 Paris time (21:00-01:00 UTC in December).
const windowed = cfg('    recycleWindows: [{ schedule: "0 22 * * *", duration: 4h, timezone: Europe/Paris }]')
const notify = cfg('    recycle: { mode: notify }')
const approveMode = cfg('    recycle: { mode: approve, approvalTimeout: 30m }')

const failing = (s: SiteState = emptySiteState('shop')): SiteState =>
  observe(s, plain, {
    site: 'shop',
    ok: false,
    source: 'jenkins',
    at: at(0),
    checks: [],
    summary: 'bad',
  } satisfies Verdict).next
const alice = { by: 'alice', reason: 'deploy freeze' }

t.test('policy: pauses, windows and modes', async (t) => {
  const paused = setPause(emptySiteState('shop'), 'site', newPause(alice, min(0), at(60)))
  const servicePaused = setPause(emptySiteState('shop'), 'service', newPause({ by: 'bob', reason: 'incident' }, min(0)))
  const rows: {
    name: string
    site: typeof plain
    s: SiteState
    source?: 'jenkins' | 'probe' | 'operator'
    now: number
    kind: string
    reason?: RegExp
  }[] = [
    {
      name: 'site paused: automatic skipped, saying by whom and until when',
      site: plain,
      s: paused,
      now: 10,
      kind: 'skip',
      reason:
        /^paused: this site is paused by alice since 2026-12-01T00:00:00.000Z until 2026-12-01T01:00:00.000Z \(deploy freeze\)$/,
    },
    {
      name: 'site paused: probes too',
      site: plain,
      s: paused,
      source: 'probe',
      now: 10,
      kind: 'skip',
      reason: /^paused/,
    },
    {
      name: 'site paused: the operator still recycles',
      site: plain,
      s: paused,
      source: 'operator',
      now: 10,
      kind: 'run',
    },
    { name: 'a pause ends by itself at until', site: plain, s: paused, now: 60, kind: 'run' },
    {
      name: 'service paused',
      site: plain,
      s: servicePaused,
      now: 10,
      kind: 'skip',
      reason: /^paused: the service is paused by bob .*\(incident\)$/,
    },
    {
      name: 'service paused: the operator still recycles',
      site: plain,
      s: servicePaused,
      source: 'operator',
      now: 10,
      kind: 'run',
    },
    {
      name: 'inside a maintenance window',
      site: maint,
      s: emptySiteState('shop'),
      now: 150,
      kind: 'skip',
      reason: /^maintenance window: no automatic recycle until 2026-12-01T04:00:00.000Z$/,
    },
    {
      name: 'maintenance window: the operator still recycles',
      site: maint,
      s: emptySiteState('shop'),
      source: 'operator',
      now: 150,
      kind: 'run',
    },
    { name: 'just before a maintenance window', site: maint, s: emptySiteState('shop'), now: 119, kind: 'run' },
    { name: 'just after a maintenance window', site: maint, s: emptySiteState('shop'), now: 240, kind: 'run' },
    {
      name: 'inside a recycle window (00:30 UTC = 01:30 Paris)',
      site: windowed,
      s: emptySiteState('shop'),
      now: 30,
      kind: 'run',
    },
    {
      name: 'outside the recycle windows: waits, naming the next one',
      site: windowed,
      s: emptySiteState('shop'),
      now: 61,
      kind: 'wait',
      reason: /next one \(2026-12-01T21:00:00.000Z\)/,
    },
    {
      name: 'outside the recycle windows: the operator does not wait',
      site: windowed,
      s: emptySiteState('shop'),
      source: 'operator',
      now: 61,
      kind: 'run',
    },
    {
      name: 'notify mode plans',
      site: notify,
      s: emptySiteState('shop'),
      now: 0,
      kind: 'plan',
      reason: /^notify mode/,
    },
    {
      name: 'approve mode awaits, with its expiry',
      site: approveMode,
      s: emptySiteState('shop'),
      now: 0,
      kind: 'await',
      reason: /until 2026-12-01T00:30:00.000Z$/,
    },
    {
      name: 'approve mode: the operator does not wait for himself',
      site: approveMode,
      s: emptySiteState('shop'),
      source: 'operator',
      now: 0,
      kind: 'run',
    },
    {
      name: 'a pause beats approve mode (nothing to approve)',
      site: approveMode,
      s: setPause(emptySiteState('shop'), 'site', newPause(alice, min(0))),
      now: 1,
      kind: 'skip',
      reason: /^paused/,
    },
  ]
  for (const r of rows) {
    const d = decide(r.s, r.site, { source: r.source ?? 'jenkins', dryRun: false }, min(r.now))
    t.equal(d.kind, r.kind, `${r.name}: ${d.kind}`)
    if (r.reason) t.match((d as { reason: string }).reason, r.reason, r.name)
  }
})

t.test('windows: cron, duration and time zone', async (t) => {
  const w = { cron: '0 22 * * *', durationMs: 4 * 3_600_000, timezone: 'Europe/Paris' }
  t.equal(openWindowStart(w, min(30)), Date.parse('2026-11-30T21:00:00Z'), 'open since 22:00 Paris the evening before')
  t.equal(openWindowStart(w, min(60)), undefined, '02:00 Paris: closed (the end is exclusive)')
  t.equal(nextWindowStart(w, min(60)), Date.parse('2026-12-01T21:00:00Z'))
  t.equal(
    nextWindowStart(
      { cron: '0 22 * * *', durationMs: 60_000, timezone: 'Europe/Paris' },
      Date.parse('2026-07-01T00:00:00Z'),
    ),
    Date.parse('2026-07-01T20:00:00Z'),
    'summer time: 22:00 Paris is 20:00 UTC',
  )
  // Weekdays only: Saturday 2026-12-05 and Sunday are skipped.
  t.equal(
    nextWindowStart({ cron: '0 9 * * 1-5', durationMs: 60_000 }, Date.parse('2026-12-04T10:00:00Z')),
    Date.parse('2026-12-07T09:00:00Z'),
  )
  t.equal(
    nextWindowStart({ cron: '0 0 L * *', durationMs: 60_000 }, T0),
    Date.parse('2026-12-31T00:00:00Z'),
    'L: the last day of the month',
  )
  // Sunday 2026-03-29 has 23 hours in Berlin: skipping it must not skip Monday 00:30.
  t.equal(
    nextWindowStart(
      { cron: '30 0 * * 1', durationMs: 60_000, timezone: 'Europe/Berlin' },
      Date.parse('2026-03-28T23:00:00Z'),
    ),
    Date.parse('2026-03-29T22:30:00Z'),
    'across a daylight-saving change',
  )
  const weekdays = { cron: '0 2 * * 1-5', durationMs: 2 * 3_600_000 }
  t.equal(
    openWindowStart(weekdays, Date.parse('2026-12-04T03:59:00Z')),
    Date.parse('2026-12-04T02:00:00Z'),
    'Friday: open',
  )
  t.equal(openWindowStart(weekdays, Date.parse('2026-12-05T03:00:00Z')), undefined, 'Saturday: no window')
  t.equal(
    openWindowStart({ cron: '0 23 * * 6', durationMs: 3 * 3_600_000 }, Date.parse('2026-12-06T01:00:00Z')),
    Date.parse('2026-12-05T23:00:00Z'),
    'opened the day before (a non-matching day skipped backwards)',
  )
  const seconds = { cron: '*/20 * * * * *', durationMs: 5000 }
  t.equal(openWindowStart(seconds, T0 + 4000), T0, 'six fields: second resolution')
  t.equal(openWindowStart(seconds, T0 + 5000), undefined)
  t.equal(nextWindowStart(seconds, T0 + 5000), T0 + 20_000)
  t.same(
    windowsAt([seconds, { cron: '*/30 * * * * *', durationMs: 15_000 }], T0 + 4000),
    {
      open: { from: new Date(T0).toISOString(), until: new Date(T0 + 15_000).toISOString() },
      next: new Date(T0 + 20_000).toISOString(),
    },
    'the open window that ends last, the next that opens first',
  )
})

t.test('config: bad windows named by their path at start', async (t) => {
  const bad = (y: string): string[] => {
    try {
      cfg(y)
      return []
    } catch (e) {
      return (e as { problems: string[] }).problems
    }
  }
  t.match(bad('    maintenance: [{ schedule: "61 * * * *", duration: 1h }]'), [
    /^sites\[0\]\.maintenance\[0\]\.schedule: not a valid cron expression: "61 \* \* \* \*"/,
  ])
  t.match(bad('    recycleWindows: [{ schedule: "0 2 * * *", duration: soon }]'), [
    /^sites\[0\]\.recycleWindows\[0\]\.duration: must be a duration/,
  ])
  t.match(bad('    recycleWindows: [{ schedule: "0 2 * * *", duration: 1h, timezone: Mars/Olympus }]'), [
    /^sites\[0\]\.recycleWindows\[0\]\.timezone: unknown time zone/,
  ])
  t.match(bad('    maintenance: [{ schedule: "* * * * * *", duration: 8h }]'), [
    /^sites\[0\]\.maintenance\[0\]\.duration: too long for this schedule/,
  ])
  t.match(bad('    recycle: { mode: sometimes }'), [/^sites\[0\]\.recycle\.mode: must be one of/])
  t.match(bad('    recycle: { approvalTimeout: 0s }'), [
    /^sites\[0\]\.recycle\.approvalTimeout: must be at least 1000 ms/,
  ])
  const d = parseConfig(`
defaults:
  maintenance: [{ schedule: "0 3 * * 0", duration: 1h }]
sites:
  - name: a
    target: { kind: Deployment, namespace: a, name: web }
  - name: b
    target: { kind: Deployment, namespace: b, name: web }
    maintenance: []
`)
  t.same(d.sites[0]!.maintenance, [{ cron: '0 3 * * 0', durationMs: 3_600_000 }], 'defaults.maintenance applies')
  t.same(d.sites[1]!.maintenance, [], 'a site can opt out with []')
})

t.test('requests: awaiting and waiting records hold the episode and count no start', async (t) => {
  const s = failing()
  const a = applyRequest(
    s,
    approveMode,
    { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
    { now: min(0), id: 'rc-a', dryRun: false },
  )
  t.match(a.record, { state: 'awaiting-approval', expiresAt: at(30) })
  t.same(a.next.starts, [], 'no start until approved')
  t.equal(a.next.episode?.recycleActive, true, 'further failures do not ask again')
  const again = decide(a.next, approveMode, { source: 'jenkins', dryRun: false }, min(1))
  t.match(again, { kind: 'skip', reason: /already awaiting approval \(rc-a\)/ })
  const w = applyRequest(
    s,
    windowed,
    { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
    { now: min(61), id: 'rc-w', dryRun: false },
  )
  t.equal(w.record.state, 'waiting')
  t.same(w.next.starts, [])
  const n = applyRequest(
    s,
    notify,
    { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
    { now: min(0), id: 'rc-n', dryRun: false },
  )
  t.match(n.record, { state: 'planned', dryRun: false, reason: /^notify mode/ })
  t.match(n.record.steps[0]!.message, /^notify mode: planned rollout/)
})

t.test('approve, reject, expiry', async (t) => {
  const s = failing()
  const a = applyRequest(
    s,
    approveMode,
    { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
    { now: min(0), id: 'rc-a', dryRun: false },
  ).next
  const ok = approve(a, approveMode, 'rc-a', { by: 'alice', reason: 'go' }, min(5))
  t.match(ok.record, { state: 'pending', approval: { decision: 'approved', by: 'alice', at: at(5), reason: 'go' } })
  t.equal(ok.record.reason, undefined, 'the waiting reason is gone')
  t.same(ok.next.starts, [at(5)], 'the start counts from the approval')
  t.equal(ok.record.startAt, at(5), 'and the record says which start is its own')
  t.throws(() => approve(ok.next, approveMode, 'rc-a', alice, min(6)), {
    code: 'KR_CONFLICT',
    message: /is pending, not awaiting approval/,
  })
  t.throws(() => approve(a, approveMode, 'rc-zz', alice, min(6)), { code: 'KR_NOT_FOUND' })
  t.throws(() => approve(a, approveMode, 'rc-a', alice, min(30)), { code: 'KR_CONFLICT', message: /expired at/ })
  const no = reject(a, 'rc-a', { by: 'bob' }, min(5))
  t.match(no.record, {
    state: 'rejected',
    reason: 'rejected by bob',
    approval: { decision: 'rejected', by: 'bob' },
    finishedAt: at(5),
  })
  t.equal(no.next.episode?.recycleActive, false, 'the episode is free again')
  t.equal(review(a, approveMode, min(29)), undefined, 'before its time: nothing to write')
  const ex = review(a, approveMode, min(30))!
  t.match(ex.changed, [{ id: 'rc-a', state: 'expired', reason: `not approved before ${at(30)}` }])
  t.equal(ex.next.episode?.recycleActive, false)
})

t.test('review: a waiting request is released when its window opens, only if the site still fails', async (t) => {
  const s = failing()
  const w = applyRequest(
    s,
    windowed,
    { site: 'shop', source: 'jenkins', reason: 'FAILURE' },
    { now: min(61), id: 'rc-w', dryRun: false },
  ).next
  t.equal(review(w, windowed, min(120)), undefined, 'the window is not open: keeps waiting, writes nothing')
  const opens = min(21 * 60)
  const rel = review(w, windowed, opens)!
  t.match(rel.changed, [{ id: 'rc-w', state: 'pending' }])
  t.match(
    rel.changed[0]!.steps.at(-1)!.message,
    /a recycle window is open \(until 2026-12-02T01:00:00.000Z\) and the site still fails: released/,
  )
  t.same(rel.next.starts, [new Date(opens).toISOString()])
  t.equal(rel.changed[0]!.startAt, new Date(opens).toISOString())
  const recovered: SiteState = { ...w, health: 'healthy' }
  const gone = review(recovered, windowed, min(120))!
  t.match(
    gone.changed,
    [{ id: 'rc-w', state: 'expired', reason: 'the site recovered before a recycle window opened' }],
    'recovered meanwhile: ended at once, never run',
  )
  const pausedMeanwhile = setPause(w, 'site', newPause(alice, min(62)))
  t.equal(review(pausedMeanwhile, windowed, opens), undefined, 'paused meanwhile: keeps waiting')
})

t.test('reset: closes the circuit, lifts did-not-help, touches nothing else', async (t) => {
  const s: SiteState = {
    ...failing(),
    starts: [at(0), at(20)],
    episode: { since: at(0), recycleActive: false, recycled: true, didNotHelp: true },
  }
  t.equal(circuitOpen(s, plain, min(40)), true)
  const r = resetSite(s, { by: 'alice', reason: 'fixed the DB' }, min(40))
  t.equal(circuitOpen(r, plain, min(41)), false, 'the starts before the reset no longer count')
  t.match(r.episode, { didNotHelp: false, recycled: false })
  t.same(r.lastReset, { by: 'alice', at: at(40), reason: 'fixed the DB' })
  t.same(r.starts, s.starts, 'the cooldown still sees the last start')
  t.equal(decide(r, plain, { source: 'jenkins', dryRun: false }, min(41)).kind, 'run')
})

t.test('dead-man switch: a silence is announced once, a new report re-arms it', async (t) => {
  const { staleToAnnounce } = await import('../../src/health/deadman.ts')
  const watched = cfg('    jenkins: { jobs: [j], expectEvery: 30m }')
  const s: SiteState = { ...emptySiteState('shop'), since: at(0) }
  t.equal(staleToAnnounce(s, watched, min(30)), undefined, 'not yet silent past expectEvery')
  const told = staleToAnnounce(s, watched, min(31))
  t.equal(told?.staleNoticeFor, at(0), 'silent since the site was first watched: announce')
  t.equal(staleToAnnounce(told!, watched, min(90)), undefined, 'the same silence: not again')
  const reported: SiteState = { ...told!, lastReportAt: at(100) }
  t.equal(staleToAnnounce(reported, watched, min(120)), undefined)
  t.equal(
    staleToAnnounce(reported, watched, min(131))?.staleNoticeFor,
    at(100),
    'a new silence after a report: announced again',
  )
  t.equal(staleToAnnounce(s, plain, min(1000)), undefined, 'no expectEvery: never stale')
})
