// Sites on one schedule probe at their own place in the period, not all in
// the cron's second: the pure rule (spreadFraction, spreadDelay), and real
// cron ticks of real probes against a real HTTP server that notes when
// each site's request arrived.

import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import type { SiteConfig } from '../../src/config/types.ts'
import { probeTimeoutMs, spreadDelay, spreadFraction } from '../../src/triggers/schedule.ts'
import { createProber } from '../../src/triggers/probe.ts'
import { testApp } from '../fixtures/app.ts'

t.test('a site keeps its place: from its name, the same on every call, uniform over names', async (t) => {
  t.equal(spreadFraction('shop'), spreadFraction('shop'))
  t.not(spreadFraction('shop'), spreadFraction('shop2'))
  const tenths = new Array<number>(10).fill(0)
  const fractions = Array.from({ length: 2000 }, (_, i) => spreadFraction(`site-${i}`))
  t.ok(
    fractions.every((f) => f >= 0 && f < 1),
    'each in [0, 1)',
  )
  for (const f of fractions) tenths[Math.floor(f * 10)]!++
  // 200 expected in each tenth; a sha256 of the name is far inside these bounds.
  for (const n of tenths) t.ok(n > 130 && n < 270, `a tenth holds ${n} of 2,000`)
})

t.test(
  'the wait: its share of the spread, and room left for a probe to its timeout before the next tick',
  async (t) => {
    const now = 1_000_000
    t.equal(spreadDelay(0.5, 30_000, now, now + 600_000, 10_000), 15_000, 'an hourly tick: half the 30 s spread')
    t.equal(spreadDelay(0.5, 30_000, now, now + 10_000), 4_500, 'every 10 s, no timeout: half of 9 s')
    t.equal(spreadDelay(0.5, 30_000, now, now + 10_000, 5_000), 2_000, 'every 10 s, 5 s timeout: half of 4 s')
    t.equal(
      spreadDelay(0.999, 30_000, now, now + 10_000, 5_000),
      3_996,
      'a probe that runs to its timeout still ends a second before the next tick',
    )
    t.equal(spreadDelay(0.5, 30_000, now, now + 10_000, 9_500), 0, 'a timeout that leaves no room: no wait')
    t.equal(
      spreadDelay(0.5, 30_000, now, now + 10_000, 20_000),
      0,
      'a timeout past the period: no wait, never negative',
    )
    t.equal(spreadDelay(0, 30_000, now, now + 10_000), 0)
    t.equal(spreadDelay(0.5, 0, now, now + 10_000), 0, 'spread 0: on the cron second')
    t.equal(spreadDelay(0.5, 30_000, now, undefined), 0, 'no next run known: no wait')
    t.equal(spreadDelay(0.5, 30_000, now, now), 0, 'a next run not after now: no wait')
    t.equal(
      probeTimeoutMs({ checks: [{ timeoutMs: 400 }, { timeoutMs: 2_000 }] } as SiteConfig),
      2_000,
      'the slowest check',
    )
  },
)

/** A page per site (/s/<name>) that notes the ms within the second at which each request arrived. */
async function startPages(): Promise<{ origin: string; arrivals: Map<string, number[]>; close(): Promise<void> }> {
  const arrivals = new Map<string, number[]>()
  const server = createServer((req, res) => {
    const name = req.url!.slice(3)
    arrivals.set(name, [...(arrivals.get(name) ?? []), Date.now() % 1000])
    res.end(`${name} is up`)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    close: () => new Promise((r) => server.close(() => r())),
  }
}

const NAMES = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel']

function config(origin: string, spread: string): string {
  return `
service:
  probeSpread: ${spread}
sites:
${NAMES.map(
  (n) => `  - name: ${n}
    target: { kind: Deployment, namespace: shop, name: ${n} }
    schedule: "* * * * * *"
    failureThreshold: 100
    checks: [{ name: home, url: "${origin}/s/${n}", bodyContains: "is up", timeout: 400ms }]
`,
).join('')}`
}

async function arrivalsFor(t: Test, spread: string): Promise<Map<string, number[]>> {
  const pages = await startPages()
  t.teardown(() => pages.close())
  const h = await testApp({
    config: config(pages.origin, spread),
    extra: { prober: createProber({ concurrency: 16 }), schedule: true },
  })
  await new Promise((r) => setTimeout(r, 3_300))
  await h.app.close()
  return pages.arrivals
}

t.test(
  'real cron ticks: each site probes at its share of the period (spread 30 s, period 1 s, timeout 400 ms: 0-0.5 s)',
  async (t) => {
    const expected = NAMES.map((n) => Math.floor(spreadFraction(n) * 500))
    t.ok(Math.max(...expected) - Math.min(...expected) > 250, `these names spread: ${expected.join(', ')} ms`)
    const arrivals = await arrivalsFor(t, '30s')
    const lateness: number[] = []
    for (const [i, n] of NAMES.entries()) {
      const seen = arrivals.get(n) ?? []
      t.ok(seen.length >= 2, `${n} probed on each tick (${seen.length})`)
      for (const ms of seen) {
        // node-cron fires a few ms after the second; a busy machine adds more, never less.
        t.ok(ms >= expected[i]! - 2, `${n} waited its share: arrived at ${ms} ms, share ${expected[i]} ms`)
        lateness.push(ms - expected[i]!)
      }
    }
    lateness.sort((a, b) => a - b)
    t.ok(
      lateness[Math.floor(lateness.length / 2)]! < 150,
      `median lateness ${lateness[Math.floor(lateness.length / 2)]} ms`,
    )
  },
)

t.test('probeSpread 0s: every site probes in the cron second, as before', async (t) => {
  const arrivals = await arrivalsFor(t, '0s')
  const all = [...arrivals.values()].flat().sort((a, b) => a - b)
  t.ok(all.length >= NAMES.length * 2, `${all.length} probes`)
  t.ok(all[Math.floor(all.length / 2)]! < 150, `median ${all[Math.floor(all.length / 2)]} ms into the second`)
})
