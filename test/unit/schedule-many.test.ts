// Many sites on one schedule: what the cron itself costs the process, and
// what happens to a tick that is due while the site's last one still runs.
// Real node-cron ticks, real time; the sites' ticks end at once (this
// replica is not the leader) so only the scheduling is measured.

import { monitorEventLoopDelay } from 'node:perf_hooks'
import t from 'tap'
import { createProber } from '../../src/triggers/probe.ts'
import { startSite } from '../fixtures/sites.ts'
import { testApp } from '../fixtures/app.ts'

const SITES = 3_000

function config(schedule: string): string {
  const sites = Array.from(
    { length: SITES },
    (_, i) => `  - name: s${i}
    target: { kind: Deployment, namespace: shop, name: web }
    schedule: "${schedule}"
    checks: [{ name: home, url: "http://127.0.0.1:9/s/${i}", timeout: 100ms }]
`,
  ).join('')
  return `service:\n  probeSpread: 0s\nsites:\n${sites}`
}

t.test(`${SITES} sites on one schedule: the cron does not hold the event loop at each tick`, async (t) => {
  let asked = 0
  const h = await testApp({
    config: config('* * * * * *'),
    level: 'warn',
    extra: {
      prober: createProber({ concurrency: 4 }),
      schedule: true,
      isLeader: () => {
        asked++
        return false
      },
    },
  })
  t.teardown(() => h.app.close())
  // Past the start, then three ticks measured.
  await new Promise((r) => setTimeout(r, 1_200))
  const loop = monitorEventLoopDelay({ resolution: 5 })
  loop.enable()
  const cpu = process.cpuUsage()
  await new Promise((r) => setTimeout(r, 3_000))
  loop.disable()
  const used = process.cpuUsage(cpu)
  t.ok(asked >= 2 * SITES, `the sites' ticks ran (${asked} asked whether to probe)`)
  const cpuMsPerTick = (used.user + used.system) / 1000 / 3
  const maxMs = loop.max / 1e6
  // One node-cron task per site computed its next run with Intl at every
  // tick: about 90 µs each, 3,000 due at once held the loop ~270 ms a second.
  t.ok(maxMs < 200, `the longest event-loop delay: ${maxMs.toFixed(1)} ms`)
  t.ok(cpuMsPerTick < 200, `CPU per tick of ${SITES} sites: ${cpuMsPerTick.toFixed(1)} ms`)
})

t.test("a tick due while the site's last tick still runs is skipped, counted, and said once per tick", async (t) => {
  const site = await startSite({ mode: 'slow', delayMs: 1_600 })
  t.teardown(() => site.close())
  const h = await testApp({
    config: `service:\n  probeSpread: 0s\nsites:\n${['a', 'b']
      .map(
        (n) => `  - name: ${n}
    target: { kind: Deployment, namespace: shop, name: ${n} }
    schedule: "* * * * * *"
    failureThreshold: 100
    checks: [{ name: home, url: "${site.origin}/", timeout: 5s }]
`,
      )
      .join('')}`,
    extra: { prober: createProber({ concurrency: 4 }), schedule: true },
  })
  await new Promise((r) => setTimeout(r, 3_500))
  const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body
  await h.app.close()
  for (const n of ['a', 'b']) {
    const skipped = Number(
      new RegExp(`kube_recycler_probe_ticks_skipped_total\\{site="${n}"\\} (\\d+)`).exec(metrics)?.[1],
    )
    t.ok(skipped >= 1, `site ${n}: ${skipped} tick(s) skipped while its 1.6 s probe ran`)
  }
  const warnings = h.logs.map((l) => JSON.parse(l) as { msg: string }).filter((l) => /ticks skipped/.test(l.msg))
  t.ok(warnings.length >= 1, 'said')
  t.ok(
    warnings.every((w) => /^[12] of 2 sites' ticks skipped/.test(w.msg)),
    `one line per tick, not per site: ${warnings.map((w) => w.msg).join(' | ')}`,
  )
  t.ok(site.maxInFlight <= 2, `one tick per site at a time (${site.maxInFlight} in flight)`)
})
