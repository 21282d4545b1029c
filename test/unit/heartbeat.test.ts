// A healthy site at rest costs no write of its own: a probe that says again
// what the stored verdict says is noted by the leader and written once a
// minute for the whole service in one small heartbeat object. Simulated
// minutes on a manual clock, the in-process object store (two apps sharing
// one are two replicas; a new app on it is a restart); the heartbeat loop's
// minute is driven by hand (`beat()`), as the loop would.

import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { manualClock } from '../../src/clock.ts'
import { parseConfig } from '../../src/config/load.ts'
import type { SiteConfig } from '../../src/config/types.ts'
import type { CheckResult } from '../../src/health/verdict.ts'
import { createLogger } from '../../src/logger.ts'
import { buildApp } from '../../src/app.ts'
import { decodeHeartbeat, encodeHeartbeat, foldTimeline, sameStory } from '../../src/state/freshness.ts'
import { HEARTBEAT_OBJECT } from '../../src/state/heartbeat.ts'
import { memoryObjectStore, type MemoryObjectStore } from '../../src/state/memory.ts'
import { emptySiteState } from '../../src/state/schema.ts'
import { objectName } from '../../src/state/store.ts'
import { verdictFromChecks } from '../../src/triggers/schedule.ts'
import { SECRETS } from '../fixtures/app.ts'

const T0 = Date.parse('2026-12-06T08:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()

function sitesConfig(n: number): string {
  const sites = Array.from(
    { length: n },
    (_, i) => `  - name: site-${i}
    target: { kind: Deployment, namespace: ns-${i}, name: web }
    checks: [{ name: home, url: "http://127.0.0.1:9/" }]
`,
  ).join('')
  return `service:\n  heartbeat: 1m\nsites:\n${sites}`
}

interface Replica {
  app: FastifyInstance
  name: string
}

async function replica(
  t: Test,
  objects: MemoryObjectStore,
  config: string,
  clock: ReturnType<typeof manualClock>,
  name: string,
  leads: () => boolean,
): Promise<Replica> {
  const logger = createLogger({ level: 'silent' })
  const app = await buildApp({
    config: parseConfig(config),
    secrets: SECRETS,
    logger,
    clock,
    objects,
    identity: name,
    isLeader: leads,
  })
  await app.ready()
  await app.core.store.loaded()
  await app.core.heartbeat.whenLoaded()
  // The start-up write of `since`, per site.
  await new Promise((r) => setTimeout(r, 10))
  let closed = false
  t.teardown(async () => {
    if (!closed) await app.close()
  })
  const close = app.close.bind(app)
  app.close = (async () => {
    closed = true
    await close()
  }) as typeof app.close
  return { app, name }
}

const check = (over: Partial<CheckResult> = {}): CheckResult => ({
  name: 'home',
  ok: true,
  url: 'http://127.0.0.1:9/',
  status: 200,
  latencyMs: 3 + Math.round(Math.random() * 20),
  ...over,
})

const sitesOf = new WeakMap<FastifyInstance, SiteConfig[]>()

/** One probe of every site at the clock's time, through the intake, as the schedule does. */
async function probeAll(
  r: Replica,
  clock: ReturnType<typeof manualClock>,
  over: (site: SiteConfig) => Partial<CheckResult> = () => ({}),
): Promise<void> {
  const at = iso(clock.now())
  await Promise.all(
    (sitesOf.get(r.app) ?? []).map((s) =>
      r.app.core.intake.submit(s, verdictFromChecks(s, [{ ...check(over(s)), at }], at)),
    ),
  )
}

async function okWrites(r: Replica): Promise<number> {
  const text = await r.app.core.metrics.registry.getSingleMetricAsString('kube_recycler_state_writes_total')
  return Number(/kube_recycler_state_writes_total\{result="ok"\} (\d+)/.exec(text)?.[1] ?? 0)
}

async function status(r: Replica): Promise<any> {
  const res = await r.app.inject({ method: 'GET', url: '/status' })
  return res.json()
}
/** What /status says about the sites and the heartbeat: what must be the same on every replica. */
const story = (s: any) => JSON.stringify({ heartbeat: s.service.heartbeat, sites: s.sites })

t.test(
  'a healthy site at rest: 50 sites probed every 10 s for 10 simulated minutes write one small heartbeat a minute, never their own state',
  async (t) => {
    const N = 50
    const MINUTES = 10
    const objects = memoryObjectStore()
    const clock = manualClock(T0)
    const config = sitesConfig(N)
    const a = await replica(t, objects, config, clock, 'replica-a', () => true)
    sitesOf.set(a.app, parseConfig(config).sites)
    await probeAll(a, clock) // the first verdict of each site is news: written
    const w0 = objects.writes
    const m0 = await okWrites(a)
    const versions = async () =>
      Promise.all(Array.from({ length: N }, async (_, i) => (await objects.read(objectName(`site-${i}`)))?.version))
    const v0 = await versions()
    let lastBeatProbe = 0
    for (let minute = 1; minute <= MINUTES; minute++) {
      for (let i = 0; i < 6; i++) {
        clock.advance(10_000)
        await probeAll(a, clock)
      }
      lastBeatProbe = clock.now()
      t.equal(await a.app.core.heartbeat.beat(), 'written', `minute ${minute}: the heartbeat is written`)
    }
    const writes = objects.writes - w0
    const perSitePerMinute = writes / (N * MINUTES)
    t.comment(
      `${writes} state writes for ${N} healthy sites over ${MINUTES} simulated minutes (${perSitePerMinute.toFixed(3)} per site per minute; before: one per site per minute)`,
    )
    t.same(await versions(), v0, "no site's own state was written")
    t.ok(writes <= MINUTES, `at most one write a minute for the whole service (${writes})`)
    t.ok(perSitePerMinute < 0.05, `below 0.05 writes per site per minute (${perSitePerMinute.toFixed(3)})`)
    t.equal((await okWrites(a)) - m0, writes, 'kube_recycler_state_writes_total counts them, the heartbeat included')

    // What /status says of a site at rest: its last verdict as of the last
    // heartbeat, and one timeline run covering every probe.
    const s = (await status(a)).sites.find((x: any) => x.name === 'site-7')
    t.equal(s.lastVerdict.at, iso(lastBeatProbe), 'lastVerdict.at: the last probe the heartbeat carries')
    t.equal(s.lastVerdict.ok, true)
    t.same(
      s.timeline.map((r: any) => [r.from, r.to, r.count]),
      [[iso(T0), iso(lastBeatProbe), 1 + 6 * MINUTES]],
      'one run: every probe counted, to the last heartbeat',
    )
    t.equal((await status(a)).service.heartbeat.at, iso(lastBeatProbe))

    // Nothing probed, nothing new: no write at all.
    clock.advance(5 * 60_000)
    t.equal(await a.app.core.heartbeat.beat(), 'unchanged', 'no probe since the last heartbeat: nothing written')
    t.equal(objects.writes - w0, writes)
    const hb = decodeHeartbeat((await objects.read(HEARTBEAT_OBJECT))!.data)!
    t.equal(hb.sites.size, N, 'the heartbeat carries every site')
    const bytes = (await objects.read(HEARTBEAT_OBJECT))!.data.length
    t.comment(`heartbeat object: ${bytes} bytes for ${N} sites`)
    t.ok(bytes < 60 * N, 'small: well under 60 bytes a site')
  },
)

t.test(
  'two replicas tell the same story, and so do both after a restart of both (the leader writes what it noted on its way out)',
  async (t) => {
    const objects = memoryObjectStore()
    const clock = manualClock(T0)
    const config = sitesConfig(3)
    const sites = parseConfig(config).sites
    let leader = 'replica-a'
    const a = await replica(t, objects, config, clock, 'replica-a', () => leader === 'replica-a')
    const b = await replica(t, objects, config, clock, 'replica-b', () => leader === 'replica-b')
    sitesOf.set(a.app, sites)
    sitesOf.set(b.app, sites)
    await probeAll(a, clock)
    for (let minute = 1; minute <= 3; minute++) {
      for (let i = 0; i < 6; i++) {
        clock.advance(10_000)
        await probeAll(a, clock)
      }
      await a.app.core.heartbeat.beat()
    }
    t.equal(await b.app.core.heartbeat.beat(), 'not-leader', 'a follower never writes the heartbeat')
    await new Promise((r) => setImmediate(r))
    const sa = await status(a)
    const sb = await status(b)
    t.equal(story(sa), story(sb), 'the same /status on both replicas')
    t.equal(sb.sites[0].lastVerdict.at, iso(T0 + 180_000), "the follower shows the leader's last heartbeat")
    t.equal(sb.sites[0].timeline[0].count, 19)

    // Three more probes, not yet in a heartbeat: a SIGTERM of the leader writes them.
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000)
      await probeAll(a, clock)
    }
    await a.app.close()
    await b.app.close()
    const a2 = await replica(t, objects, config, clock, 'replica-a2', () => leader === 'replica-a2')
    const b2 = await replica(t, objects, config, clock, 'replica-b2', () => leader === 'replica-b2')
    const after = [await status(a2), await status(b2)]
    t.equal(story(after[0]), story(after[1]), 'after a restart of both: the same /status on both')
    t.equal(after[0].sites[0].lastVerdict.at, iso(T0 + 210_000), 'the last probe before the restart')
    t.same(
      after[0].sites[0].timeline.map((r: any) => [r.to, r.count]),
      [[iso(T0 + 210_000), 22]],
      'the timeline survives, every probe counted',
    )

    // A new leader keeps counting on what the old one wrote.
    leader = 'replica-b2'
    sitesOf.set(b2.app, sites)
    for (let i = 0; i < 6; i++) {
      clock.advance(10_000)
      await probeAll(b2, clock)
    }
    t.equal(await b2.app.core.heartbeat.beat(), 'written')
    await new Promise((r) => setImmediate(r))
    const s2 = [await status(a2), await status(b2)]
    t.equal(story(s2[0]), story(s2[1]))
    t.same(
      s2[0].sites[0].timeline.map((r: any) => [r.to, r.count]),
      [[iso(T0 + 270_000), 28]],
    )
    t.equal(s2[0].service.heartbeat.by, 'replica-b2')
  },
)

t.test(
  'a probe with a new story is written at once, and the repeats noted before it stay in the timeline',
  async (t) => {
    const objects = memoryObjectStore()
    const clock = manualClock(T0)
    const config = sitesConfig(2)
    const a = await replica(t, objects, config, clock, 'replica-a', () => true)
    const sites = parseConfig(config).sites
    sitesOf.set(a.app, sites)
    await probeAll(a, clock)
    for (let i = 0; i < 6; i++) {
      clock.advance(10_000)
      await probeAll(a, clock)
    }
    await a.app.core.heartbeat.beat()
    for (let i = 0; i < 2; i++) {
      clock.advance(10_000)
      await probeAll(a, clock)
    } // noted, not yet written
    const w = objects.writes
    clock.advance(10_000)
    await probeAll(a, clock, (s) => (s.name === 'site-0' ? { warnings: ['certificate expires in 13 days'] } : {}))
    t.equal(objects.writes - w, 1, 'a new certificate warning is news: written at once (site-0 only)')
    const s0 = (await status(a)).sites.find((x: any) => x.name === 'site-0')
    t.same(s0.lastVerdict.checks[0].warnings, ['certificate expires in 13 days'])
    t.same(
      s0.timeline.map((r: any) => [r.to, r.count]),
      [[iso(T0 + 90_000), 10]],
      'one run: 1 written + 8 repeats + the new one',
    )
    clock.advance(10_000)
    await probeAll(a, clock, (s) =>
      s.name === 'site-1' ? { ok: false, status: 503, message: 'status 503', cause: 'status' } : {},
    )
    const s1 = (await status(a)).sites.find((x: any) => x.name === 'site-1')
    t.same(
      s1.timeline.map((r: any) => [r.ok, r.from, r.to, r.count]),
      [
        [true, iso(T0), iso(T0 + 90_000), 10],
        [false, iso(T0 + 100_000), iso(T0 + 100_000), 1],
      ],
      'the healthy run ends at its last repeat, noted but never beaten',
    )
  },
)

t.test(
  'freshness: the same story ignores latency and times, not outcome, status, cause or warnings; the object text is checked',
  async (t) => {
    const v = (c: Partial<CheckResult>, over = {}) => ({
      site: 's',
      ok: true,
      source: 'probe' as const,
      at: iso(T0),
      summary: 'all 1 checks passed',
      checks: [check(c)],
      ...over,
    })
    t.ok(sameStory(v({ latencyMs: 1, at: iso(T0) }), v({ latencyMs: 900, at: iso(T0 + 5000) }, { at: iso(T0 + 5000) })))
    t.notOk(sameStory(v({}), v({ status: 301 })))
    t.notOk(sameStory(v({}), v({ warnings: ['x'] })))
    t.notOk(sameStory(v({}), v({}, { summary: 'all 2 checks passed' })))
    const doc = {
      at: T0,
      by: 'a',
      sites: new Map([
        ['b', { of: T0 - 5000, at: T0, n: 3 }],
        ['a', { of: T0 - 9000, at: T0 - 1000, n: 1 }],
      ]),
    }
    t.same(decodeHeartbeat(encodeHeartbeat(doc)), doc, 'round trip')
    for (const bad of [
      '',
      '{',
      '[]',
      '{"v":2,"at":1,"by":"a","sites":{}}',
      '{"v":1,"at":1,"by":"a","sites":{"x":[1,0,1]}}',
      '{"v":1,"at":1,"by":"a","sites":{"x":[1,1,0]}}',
      '{"v":1,"at":"1","by":"a","sites":{}}',
    ]) {
      t.equal(decodeHeartbeat(bad), undefined, `refused: ${bad}`)
    }
    const s = {
      ...emptySiteState('s'),
      lastVerdict: v({}),
      timeline: [{ from: iso(T0), to: iso(T0), ok: true, source: 'probe' as const, count: 1, summary: 'x' }],
    }
    t.same(
      foldTimeline(s.timeline, s, { of: T0 - 1, at: T0 + 60_000, n: 5 }),
      s.timeline,
      'a confirmation of another verdict is ignored',
    )
    t.same(foldTimeline(s.timeline, s, { of: T0, at: T0 + 60_000, n: 5 })![0]!.count, 6)
  },
)
