// Leader election judged by each replica's own monotonic clock (client-go's
// rule), as tables: replicas with skewed or jumping wall clocks, a leader
// killed, stalled or stopped, over one fake Lease (a record with a
// resourceVersion precondition) and one simulated time. Each row runs the
// replicas' rounds when their own timers would (nextRoundMs), checks at every
// step that never two replicas lead at once, and then what the row expects.

import t from 'tap'
import { manualClock, type Clock } from '../../src/clock.ts'
import { Errors } from '../../src/errors.ts'
import type { LeaseApi, LeaseRecord } from '../../src/kube/types.ts'
import { createLeader, leaderTimes, type Leader } from '../../src/triggers/leader.ts'
import { quietLogger } from '../fixtures/engine.ts'

/** One Lease with a resourceVersion precondition; each replica's view of it may stall (its requests hang until aborted). */
function fakeLease() {
  let rec: LeaseRecord | undefined
  let rv = 0
  const hang = (signal: AbortSignal | undefined): Promise<never> =>
    new Promise((_, reject) => {
      signal?.addEventListener('abort', () => reject(Errors.kube('aborted at its deadline')), { once: true })
    })
  return {
    current: () => rec,
    view(stalled: () => boolean): LeaseApi {
      return {
        async read(signal) {
          if (stalled()) return hang(signal)
          return rec && { ...rec }
        },
        async write(holder, prev, now, durationSeconds, signal) {
          if (stalled()) return hang(signal)
          if (prev?.resourceVersion !== rec?.resourceVersion)
            throw Errors.kubeConflict('another replica wrote it first')
          const changed = prev?.holder !== holder
          rec = {
            ...(holder ? { holder } : {}),
            renewTime: new Date(now).toISOString(),
            durationSeconds,
            transitions: (prev?.transitions ?? 0) + (changed && prev?.holder ? 1 : 0),
            resourceVersion: String(++rv),
          }
          return { ...rec }
        },
      }
    },
  }
}

interface ReplicaRow {
  id: string
  /** Its wall clock, against the true time (ms). */
  skewMs?: number
  /** Starts at this time (ms from the start of the row). */
  joinsAt?: number
  /** SIGKILL: no more rounds from then on. */
  diesAt?: number
  /** Its requests hang from then on (the API server stopped answering it). */
  stallsAt?: number
  /** A clean stop (SIGTERM): stop() releases the Lease. */
  stopsAt?: number
  /** Its wall clock steps by `byMs` at `at` (NTP, an operator). */
  wallJump?: { at: number; byMs: number }
}

interface Row {
  name: string
  replicas: ReplicaRow[]
  runMs: number
  /** Who must lead at these times (undefined: nobody). */
  leads?: [number, string | undefined][]
  /** Never leads during the whole row. */
  neverLeads?: string[]
  /** Whoever leads first leads at every step to the end. */
  oneLeadsThroughout?: boolean
  /** `by` first leads after `after` within [min, max] ms of it. */
  takeover?: { by: string; after: number; minMs: number; maxMs: number }
  /** `who` no longer leads this long after `after`. */
  stepsDown?: { who: string; after: number; withinMs: number }
}

const L = 15_000
const { renewDeadlineMs: RD, retryMs: RETRY } = leaderTimes(L)
const STEP = 50

const rows: Row[] = [
  {
    name: "a replica whose clock runs 20 s ahead never takes a live leader's Lease",
    replicas: [{ id: 'a' }, { id: 'b', skewMs: 20_000, joinsAt: 1000 }],
    runMs: 3 * L,
    leads: [
      [500, 'a'],
      [L, 'a'],
      [3 * L - STEP, 'a'],
    ],
    neverLeads: ['b'],
  },
  {
    name: 'a replica whose clock runs 20 s behind takes over a killed leader within the lease duration and a retry period',
    replicas: [
      { id: 'a', diesAt: 10_000 },
      { id: 'b', skewMs: -20_000, joinsAt: 1000 },
    ],
    runMs: 10_000 + 2 * L,
    takeover: { by: 'b', after: 10_000, minMs: L - RETRY, maxMs: L + RETRY },
  },
  {
    name: 'a replica whose clock runs 20 s ahead still waits out the lease of a killed leader',
    replicas: [
      { id: 'a', diesAt: 10_000 },
      { id: 'b', skewMs: 20_000, joinsAt: 1000 },
    ],
    runMs: 10_000 + 2 * L,
    takeover: { by: 'b', after: 10_000, minMs: L - RETRY, maxMs: L + RETRY },
  },
  {
    name: 'a leader that cannot renew steps down at the renew deadline, before another may take over',
    replicas: [
      { id: 'a', stallsAt: 10_000 },
      { id: 'b', joinsAt: 1000 },
    ],
    runMs: 10_000 + 2 * L,
    stepsDown: { who: 'a', after: 10_000, withinMs: RD + STEP },
    takeover: { by: 'b', after: 10_000, minMs: L - RETRY, maxMs: L + RETRY },
  },
  {
    name: 'a leader whose wall clock steps an hour ahead keeps leading, and the other keeps waiting',
    replicas: [
      { id: 'a', wallJump: { at: 10_000, byMs: 3_600_000 } },
      { id: 'b', joinsAt: 1000 },
    ],
    runMs: 10_000 + 2 * L,
    leads: [
      [9_000, 'a'],
      [10_000 + STEP, 'a'],
      [10_000 + 2 * L - STEP, 'a'],
    ],
    neverLeads: ['b'],
  },
  {
    name: 'a leader whose wall clock steps an hour back keeps leading, and the other keeps waiting',
    replicas: [
      { id: 'a', wallJump: { at: 10_000, byMs: -3_600_000 } },
      { id: 'b', joinsAt: 1000 },
    ],
    runMs: 10_000 + 2 * L,
    leads: [
      [9_000, 'a'],
      [10_000 + STEP, 'a'],
      [10_000 + 2 * L - STEP, 'a'],
    ],
    neverLeads: ['b'],
  },
  {
    name: 'a stopped leader releases the Lease: the other takes it at its next round',
    replicas: [
      { id: 'a', stopsAt: 10_000 },
      { id: 'b', joinsAt: 1000 },
    ],
    runMs: 20_000,
    takeover: { by: 'b', after: 10_000, minMs: 0, maxMs: RETRY + STEP },
  },
  {
    name: 'three replicas starting at once: exactly one leads, and keeps leading',
    replicas: [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
    runMs: 2 * L,
    leads: [[L, undefined]],
    oneLeadsThroughout: true,
  },
]

interface Sim {
  leader: Leader
  row: ReplicaRow
  due: number
  busy: boolean
  gone: boolean
  /** Times (ms) at which it led. */
  led: number[]
}

async function run(row: Row): Promise<Map<string, Sim>> {
  const base = manualClock(Date.parse('2026-12-06T09:00:00Z'))
  const lease = fakeLease()
  const logger = quietLogger()
  const sims = new Map<string, Sim>()
  let elapsed = 0
  for (const r of row.replicas) {
    const wall = (): number =>
      base.now() + (r.skewMs ?? 0) + (r.wallJump && elapsed >= r.wallJump.at ? r.wallJump.byMs : 0)
    const clock: Clock = { now: wall, monotonic: () => base.monotonic() }
    const stalled = (): boolean => r.stallsAt !== undefined && elapsed >= r.stallsAt
    const leader = createLeader({
      lease: lease.view(stalled),
      identity: r.id,
      clock,
      logger,
      durationSeconds: L / 1000,
    })
    sims.set(r.id, { leader, row: r, due: r.joinsAt ?? 0, busy: false, gone: false, led: [] })
  }
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
  for (elapsed = 0; elapsed <= row.runMs; elapsed += STEP, base.advance(STEP)) {
    for (const s of sims.values()) {
      if (s.gone) continue
      if (s.row.diesAt !== undefined && elapsed >= s.row.diesAt) {
        s.gone = true
        continue
      }
      if (s.row.stopsAt !== undefined && elapsed >= s.row.stopsAt) {
        s.gone = true
        await s.leader.stop()
        continue
      }
      if (s.busy || elapsed < s.due) continue
      s.busy = true
      const done = s.leader.round().finally(() => {
        s.busy = false
        s.due = elapsed + s.leader.nextRoundMs()
      })
      // A stalled replica's round hangs until its deadline: time goes on meanwhile.
      if (!(s.row.stallsAt !== undefined && elapsed >= s.row.stallsAt)) await done
      else void done.catch(() => undefined)
    }
    await flush()
    const leading = [...sims.values()].filter((s) => !s.gone && s.leader.isLeader())
    for (const s of leading) s.led.push(elapsed)
    if (leading.length > 1)
      throw new Error(`at ${elapsed} ms two replicas lead: ${leading.map((s) => s.row.id).join(', ')}`)
  }
  return sims
}

for (const row of rows) {
  t.test(row.name, async (t) => {
    const sims = await run(row)
    const ledAt = (id: string, at: number): boolean => sims.get(id)!.led.includes(at)
    for (const [at, who] of row.leads ?? []) {
      if (who) t.ok(ledAt(who, at), `${who} leads at ${at} ms`)
      else t.equal([...sims.keys()].filter((id) => ledAt(id, at)).length, 1, `exactly one leads at ${at} ms`)
    }
    if (row.oneLeadsThroughout) {
      const one = [...sims.values()].find((s) => s.led.length > 0)!
      t.equal(one.led.length, row.runMs / STEP + 1, `${one.row.id} leads throughout`)
    }
    for (const id of row.neverLeads ?? []) t.same(sims.get(id)!.led, [], `${id} never leads`)
    if (row.stepsDown) {
      const { who, after, withinMs } = row.stepsDown
      const last = Math.max(...sims.get(who)!.led)
      t.ok(last < after + withinMs, `${who} led last at ${last} ms: within ${withinMs} ms of ${after} ms`)
    }
    if (row.takeover) {
      const { by, after, minMs, maxMs } = row.takeover
      const first = sims.get(by)!.led.find((at) => at >= after)
      t.ok(first !== undefined, `${by} takes over`)
      t.comment(`${by} took over ${first! - after} ms after ${after} ms`)
      t.ok(
        first! - after >= minMs && first! - after <= maxMs,
        `${by} took over ${first! - after} ms after: within [${minMs}, ${maxMs}]`,
      )
      if (row.stepsDown)
        t.ok(Math.max(...sims.get(row.stepsDown.who)!.led) < first!, 'the old leader had stepped down before')
    }
  })
}

t.test(
  'the three durations: the renew deadline is shorter than the lease, the retry period shorter still',
  async (t) => {
    t.same(leaderTimes(15_000), { leaseMs: 15_000, renewDeadlineMs: 10_000, retryMs: 2000 }, "client-go's defaults")
    for (const ms of [2000, 4000, 15_000, 60_000, 2500]) {
      const d = leaderTimes(ms)
      t.ok(d.leaseMs > d.renewDeadlineMs && d.renewDeadlineMs > d.retryMs * 1.2, `${ms} ms: ${JSON.stringify(d)}`)
    }
    t.throws(
      () =>
        createLeader({
          lease: fakeLease().view(() => false),
          identity: 'x',
          clock: manualClock(),
          logger: quietLogger(),
          durationSeconds: 10,
          renewDeadlineMs: 10_000,
        }),
      /longer than the renew deadline/,
    )
  },
)
