// The ladder of repairs, its pure parts: the config (default per the site's
// checks, and what it refuses), which rung a fresh per-pod probe allows, and
// the lifecycle's 'rung' transition (recorded, counted as a start when the
// rung acted, only by the holder, only while running).

import t from 'tap'
import { parseConfig } from '../../src/config/load.ts'
import { ladderFor, replaceDecision } from '../../src/recycle/ladder.ts'
import { transition } from '../../src/recycle/lifecycle.ts'
import { applyRequest } from '../../src/recycle/requests.ts'
import { circuitOpen } from '../../src/recycle/policy.ts'
import { step } from '../../src/state/records.ts'
import { emptySiteState, type PodsResult, type SiteState } from '../../src/state/schema.ts'

const T0 = Date.parse('2026-12-01T12:00:00Z')
const min = (m: number) => T0 + m * 60_000

const cfg = (checks: string, recycle = '') =>
  parseConfig(`
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    checks: [${checks}]
    recycle: { cooldown: 1m, maxPerWindow: 2, window: 1h${recycle} }
`).sites[0]!
const perPod = '{ name: home, url: "http://shop.test/", perPod: true }'
const plain = '{ name: home, url: "http://shop.test/" }'

t.test(
  'the default ladder: replace-pods then the strategy with per-pod checks; the strategy alone without',
  async (t) => {
    t.same(cfg(perPod).recycle.ladder, ['replace-pods', 'rollout'])
    t.same(cfg(plain).recycle.ladder, ['rollout'], "no per-pod checks: today's behaviour, one rung")
    t.same(cfg(perPod, ', strategy: evict').recycle.ladder, ['replace-pods', 'evict'])
    t.same(cfg(perPod, ', ladder: [rollout]').recycle.ladder, ['rollout'], 'a site may opt out of replace-pods')
    t.same(ladderFor(cfg(perPod), 'rollout'), ['replace-pods', 'rollout'])
    t.same(ladderFor(cfg(perPod), 'evict'), ['evict'], 'an operator who names another strategy gets just that')
  },
)

t.test('what the ladder config refuses, each problem named', async (t) => {
  const problems = (checks: string, recycle: string): string => {
    try {
      cfg(checks, recycle)
      return ''
    } catch (e) {
      return (e as Error).message
    }
  }
  t.match(
    problems(plain, ', ladder: [replace-pods, rollout]'),
    /recycle\.ladder: "replace-pods" needs a check with perPod/,
  )
  t.match(problems(perPod, ', ladder: [rollout, replace-pods]'), /"replace-pods" must be the first rung/)
  t.match(problems(perPod, ', ladder: [rollout, rollout]'), /recycle\.ladder/)
  t.match(problems(perPod, ', ladder: [restart]'), /recycle\.ladder\[0\]/)
})

t.test('replace-pods decided on a fresh per-pod probe', async (t) => {
  const probe = (ok: boolean[], error?: string): PodsResult => ({
    total: ok.length,
    failing: ok.filter((x) => !x).length,
    pods: ok.map((x, i) => ({ name: `web-${i}`, ok: x })),
    ...(error ? { error } : {}),
  })
  t.same(replaceDecision(probe([true, false, true])), { replace: ['web-1'] }, 'some fail, others pass: just those')
  t.same(replaceDecision(probe([false, false, false])), { skip: 'every pod of 3 fails its per-pod checks' })
  t.same(replaceDecision(probe([true, true])), { skip: 'every pod of 2 passes its per-pod checks now' })
  t.same(replaceDecision(probe([], 'the pods could not be listed: timeout')), {
    skip: 'cannot tell the pods apart: the pods could not be listed: timeout',
  })
  t.same(replaceDecision(undefined), { skip: 'no per-pod checks ran (no pod lister)' })
})

t.test('a rung that ends without healing: recorded, the next one counted as a start, holder only', async (t) => {
  const site = cfg(perPod)
  const failing: SiteState = {
    ...emptySiteState('shop'),
    health: 'failing',
    consecutiveFailures: 1,
    episode: { since: new Date(min(0)).toISOString(), recycleActive: false, recycled: false, didNotHelp: false },
  }
  const ID = 'rc-mi0abc-0123abcd'
  const pending = applyRequest(
    failing,
    site,
    { site: 'shop', source: 'probe', reason: '1 of 3 pods fail home' },
    { now: min(0), id: ID, dryRun: false },
  ).next
  const running = transition(pending, ID, { type: 'claim', site, by: 'a' }, min(0)).next!
  t.equal(running.starts.length, 1)
  const trail = { steps: [step(min(1), 'evicted: web-1')] }
  const failed = {
    rung: 'replace-pods' as const,
    at: new Date(min(1)).toISOString(),
    outcome: 'failed' as const,
    pods: ['web-1'],
    reason: 'replacement web-9 fails home too: expected status 200-299, got 500',
  }
  const up = transition(running, ID, { type: 'rung', by: 'a', rung: failed, next: 'rollout', site, trail }, min(2))
  const r = up.next!.recycles[0]!
  t.equal(r.state, 'running', 'the recycle goes on, with the next rung')
  t.same(r.rungs, [failed])
  t.match(r.steps.at(-1)!.message, /replace-pods failed: replacement web-9 fails home too.*; escalating to rollout/)
  t.equal(up.next!.starts.length, 2, 'the rollout disrupts pods again: counted by the circuit breaker')
  t.ok(circuitOpen(up.next!, site, min(3)), 'maxPerWindow 2: one climbed ladder opens the circuit')
  t.same(
    up.effects.map((e) => (e.kind === 'event' ? `event:${e.type}:${e.reason}` : e.kind)),
    ['log', 'event:Warning:RecycleEscalated'],
  )

  const skipped = { ...failed, outcome: 'skipped' as const, reason: 'every pod of 3 fails its per-pod checks' }
  const { pods: _p, ...noPods } = skipped
  const passOn = transition(running, ID, { type: 'rung', by: 'a', rung: noPods, next: 'rollout', site, trail }, min(2))
  t.equal(passOn.next!.starts.length, 1, 'a rung that did nothing is no second start')

  const other = transition(running, ID, { type: 'rung', by: 'b', rung: failed, next: 'rollout', site, trail }, min(2))
  t.equal(other.refused, 'not-holder')
  t.equal(other.next, undefined)

  // The last rung's outcome closes the ladder: its rung appended, a rollback after it when undone at once.
  const end = transition(
    up.next!,
    ID,
    {
      type: 'outcome',
      by: 'a',
      outcome: { state: 'failed', reason: 'rollout failed', rolledBack: true },
      trail,
      commit: 'c0ffee1',
      willVerify: false,
      rung: { rung: 'rollout', at: new Date(min(3)).toISOString(), outcome: 'failed', reason: 'rollout failed' },
    },
    min(4),
  )
  const done = end.next!.recycles[0]!
  t.equal(done.state, 'rolled-back')
  t.same(
    done.rungs!.map((g) => `${g.rung}:${g.outcome}`),
    ['replace-pods:failed', 'rollout:failed', 'rollback:succeeded'],
  )
  const late = transition(end.next!, ID, { type: 'rung', by: 'a', rung: failed, next: 'rollout', site, trail }, min(5))
  t.equal(late.refused, 'moved-on', 'no rung after the recycle ended')

  // replace-pods succeeded, but the verification says the site still fails: the same rung, now failed, and the next one.
  const replaced = { ...failed, outcome: 'succeeded' as const, reason: undefined }
  const { reason: _r, ...ok } = replaced
  const verifying = transition(
    running,
    ID,
    {
      type: 'outcome',
      by: 'a',
      outcome: { state: 'succeeded', message: 'replace-pods: 1 of 3 pods replaced' },
      trail,
      commit: undefined,
      willVerify: true,
      rung: ok,
    },
    min(2),
  ).next!
  t.equal(verifying.recycles[0]!.verification, 'pending')
  const reopened = transition(
    verifying,
    ID,
    {
      type: 'rung',
      by: 'a',
      rung: { ...ok, outcome: 'failed', reason: 'the site still fails' },
      next: 'rollout',
      site,
      trail,
    },
    min(3),
  )
  const again = reopened.next!.recycles[0]!
  t.equal(again.state, 'running', 'the recycle runs again, for the next rung')
  t.equal(again.verification, undefined)
  t.equal(again.finishedAt, undefined)
  t.same(
    again.rungs!.map((g) => `${g.rung}:${g.outcome}`),
    ['replace-pods:failed'],
    'the rung is updated, not repeated',
  )
  t.equal(reopened.next!.starts.length, 2, 'the next rung counts as a start')
  const done2 = transition(
    { ...verifying, recycles: [{ ...verifying.recycles[0]!, verification: 'recovered' }] },
    ID,
    { type: 'rung', by: 'a', rung: ok, next: 'rollout', site, trail },
    min(3),
  )
  t.equal(done2.refused, 'moved-on', 'a verified recycle is not reopened')
})

t.test(
  'a delete rung needs pod delete in its namespace: `kube-recycler rbac` grants it (the chart: test/chart/ladder-rbac.test.ts)',
  async (t) => {
    const { siteRules } = await import('../../src/cli/rbac.ts')
    const yaml = `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    checks: [{ name: home, url: "http://shop.test/", perPod: true }]
    recycle: { ladder: [replace-pods, delete] }
  - name: blog
    target: { kind: Deployment, namespace: blog, name: web }
`
    const c = parseConfig(yaml)
    const pods = (ns: string) => siteRules(c, ns).find((r) => r.resources[0] === 'pods')?.verbs
    t.same(pods('shop'), ['delete', 'get', 'list'], 'the ladder deletes pods in shop')
    t.same(pods('blog'), ['get', 'list'], 'replace-pods evicts: no delete where no rung deletes')
  },
)
