// The pure parts of the canary-first rollout: which hold a workload gets (or
// why none), the spec fields the hold and its end write, the pod probe's
// answer, and the lifecycle's canary-failed (a recycle the circuit counts).

import t from 'tap'
import { parseConfig } from '../../src/config/load.ts'
import { canaryHoldSpec, canaryReleaseSpec } from '../../src/kube/client.ts'
import type { PodState, WorkloadState } from '../../src/kube/types.ts'
import { canaryHold, parseCanary, podProbe } from '../../src/recycle/strategies/canary.ts'
import { transition } from '../../src/recycle/lifecycle.ts'
import { applyRequest } from '../../src/recycle/requests.ts'
import { decide } from '../../src/recycle/policy.ts'
import { emptySiteState, type SiteState } from '../../src/state/schema.ts'
import type { CheckConfig } from '../../src/config/types.ts'
import { workloadState } from '../fixtures/states.ts'

const w = (over: Partial<WorkloadState>): WorkloadState =>
  workloadState({
    ref: { kind: 'Deployment', namespace: 'shop', name: 'web' },
    generation: 1,
    observedGeneration: 1,
    updateStrategy: 'RollingUpdate',
    minReadySeconds: 5,
    progressDeadlineSeconds: 300,
    rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
    ...over,
  })
const sts = (over: Partial<WorkloadState> = {}) =>
  w({ ref: { kind: 'StatefulSet', namespace: 'shop', name: 'web' }, partition: 0, ...over })

t.test('Deployment: surge hold, saving minReadySeconds, progress deadline and rollingUpdate', async (t) => {
  const h = canaryHold(w({}), 'rc-1', 4)
  t.same(h, {
    mark: {
      recycle: 'rc-1',
      phase: 'holding',
      revisionBefore: 4,
      hold: {
        kind: 'surge',
        saved: { minReadySeconds: 5, progressDeadlineSeconds: 300, maxSurge: '25%', maxUnavailable: '25%' },
      },
    },
  })
  if (!('mark' in h)) return
  t.same(canaryHoldSpec(h.mark), {
    minReadySeconds: 86_400,
    progressDeadlineSeconds: 86_401,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
  })
  t.same(canaryReleaseSpec(h.mark), {
    minReadySeconds: 5,
    progressDeadlineSeconds: 300,
    strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
  })
  const { rollingUpdate: _r, ...bare } = w({})
  const d = canaryHold(bare, 'rc-1', 4)
  t.same(
    'mark' in d && canaryReleaseSpec(d.mark).strategy,
    { rollingUpdate: { maxSurge: null, maxUnavailable: null } },
    'unset: back to the defaults',
  )
})

t.test('StatefulSet: partition replicas-1, the old partition saved', async (t) => {
  const h = canaryHold(sts({ partition: 0 }), 'rc-2', 7)
  t.same('mark' in h && h.mark.hold, { kind: 'partition', held: 2, saved: { partition: 0 } })
  if (!('mark' in h)) return
  t.same(canaryHoldSpec(h.mark), { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } })
  t.same(canaryReleaseSpec(h.mark), { updateStrategy: { rollingUpdate: { partition: 0 } } })
})

t.test(
  'no canary: Recreate, OnDelete, a one-pod StatefulSet, a partition of the operator, a DaemonSet, no revision',
  async (t) => {
    t.match(canaryHold(w({ updateStrategy: 'Recreate' }), 'x', 1), { no: /Recreate Deployment stops every old pod/ })
    t.match(canaryHold(sts({ updateStrategy: 'OnDelete' }), 'x', 1), { no: /OnDelete/ })
    t.match(canaryHold(sts({ desired: 1 }), 'x', 1), { no: /one pod/ })
    t.match(canaryHold(sts({ partition: 2 }), 'x', 1), { no: /partition \(2\)/ })
    t.match(canaryHold(w({ ref: { kind: 'DaemonSet', namespace: 'a', name: 'b' } }), 'x', 1), { no: /DaemonSet/ })
    t.match(canaryHold(w({}), 'x', undefined), { no: /revision before is unknown/ })
  },
)

t.test('the canary annotation: ours, or nothing', async (t) => {
  const mark = { recycle: 'rc-1', phase: 'holding', hold: { kind: 'partition', held: 2, saved: { partition: 0 } } }
  t.same(parseCanary({ k: JSON.stringify(mark) }, 'k'), mark)
  t.equal(parseCanary({ k: '{not json' }, 'k'), undefined)
  t.equal(parseCanary({ k: '{"phase":"holding"}' }, 'k'), undefined)
  t.equal(parseCanary({}, 'k'), undefined)
})

t.test(
  "the pod probe: the perPod checks (else all), aimed at the pod; the first failure's name and words",
  async (t) => {
    const check = (name: string, perPod: boolean): CheckConfig => ({
      name,
      url: 'http://shop.example/health',
      method: 'GET',
      headers: {},
      timeoutMs: 1000,
      expectStatus: [{ min: 200, max: 299 }],
      tls: { verify: true },
      ...(perPod ? { perPod: {} } : {}),
    })
    const pod: PodState = {
      name: 'web-2',
      namespace: 'shop',
      uid: 'u',
      phase: 'Running',
      ready: true,
      terminating: false,
      createdAt: '',
      restarts: 0,
      labels: {},
      ip: '127.0.0.9',
      ports: [{ container: 'web', name: 'http', containerPort: 8080, protocol: 'TCP' }],
    }
    const asked: string[] = []
    const runner = {
      runCheck: async (c: CheckConfig) => {
        asked.push(`${c.name} ${c.url} ${c.headers.host}`)
        return c.name === 'deep' ? { name: c.name, ok: false, message: 'body lacks "ok"' } : { name: c.name, ok: true }
      },
    }
    t.same(await podProbe(runner, { checks: [check('home', false), check('deep', true)] })(pod), {
      ok: false,
      check: 'deep',
      message: 'body lacks "ok"',
    })
    t.same(asked, ['deep http://127.0.0.9:8080/health shop.example'], 'only the perPod check, at the pod')
    t.same(await podProbe(runner, { checks: [check('home', false)] })(pod), { ok: true })
    const { ip: _ip, ...noIp } = pod
    t.same(await podProbe(runner, { checks: [check('home', false)] })(noIp), {
      ok: false,
      check: 'home',
      message: 'pod web-2 has no IP yet',
    })
  },
)

t.test('canary-failed: its own state and reason, the answer kept, counted by the circuit breaker', async (t) => {
  const site = parseConfig(`
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    recycle: { cooldown: 0s, maxPerWindow: 2, window: 1h, canary: true }
`).sites[0]!
  t.equal(site.recycle.canary, true)
  const T0 = Date.parse('2026-12-01T12:00:00Z')
  let s: SiteState = {
    ...emptySiteState('shop'),
    health: 'failing',
    consecutiveFailures: 1,
    episode: { since: new Date(T0).toISOString(), recycleActive: false, recycled: false, didNotHelp: false },
  }
  const canary = {
    pod: 'web-7f-abc',
    passed: false,
    commit: 'b'.repeat(40),
    check: 'home',
    message: 'no site-ok-marker',
  }
  for (const [i, id] of ['rc-mi0abc-0123abc1', 'rc-mi0abc-0123abc2'].entries()) {
    const now = T0 + i * 60_000
    s = applyRequest(s, site, { site: 'shop', source: 'operator', reason: 'go' }, { now, id, dryRun: false }).next
    s = transition(s, id, { type: 'claim', site, by: 'a' }, now).next!
    const out = transition(
      s,
      id,
      {
        type: 'outcome',
        by: 'a',
        outcome: { state: 'failed', reason: 'the canary pod web-7f-abc answered home: no site-ok-marker', canary },
        trail: { steps: [] },
        commit: canary.commit,
        willVerify: false,
      },
      now + 1000,
    )
    t.match(out.record, { state: 'canary-failed', reasonKind: 'canary-failed', canary })
    t.ok(
      out.effects.some((e) => e.kind === 'count' && e.outcome === 'canary-failed'),
      'counted as canary-failed',
    )
    t.ok(
      out.effects.some((e) => e.kind === 'notify' && e.event === 'recycle-failed'),
      'announced as a failure',
    )
    s = out.next!
  }
  const d = decide({ ...s, health: 'failing' }, site, { source: 'probe', dryRun: false }, T0 + 3 * 60_000)
  t.match(d, { kind: 'skip', why: 'circuit-open' }, 'two canary-failed recycles open a circuit of two')
})

t.test('a canary that passed: the recycle succeeds as before, the pod kept on the record', async (t) => {
  const site = parseConfig(`
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    recycle: { canary: true }
`).sites[0]!
  const id = 'rc-mi0abc-0123abc3'
  const now = Date.parse('2026-12-01T12:00:00Z')
  let s: SiteState = { ...emptySiteState('shop'), health: 'failing', consecutiveFailures: 1 }
  s = applyRequest(s, site, { site: 'shop', source: 'operator', reason: 'go' }, { now, id, dryRun: false }).next
  s = transition(s, id, { type: 'claim', site, by: 'a' }, now).next!
  const canary = { pod: 'web-2', passed: true, commit: 'c'.repeat(40) }
  const out = transition(
    s,
    id,
    {
      type: 'outcome',
      by: 'a',
      outcome: { state: 'succeeded', message: 'rolled out', revisionBefore: 3, canary },
      trail: { steps: [] },
      commit: canary.commit,
      willVerify: true,
    },
    now + 1000,
  )
  t.match(out.record, { state: 'succeeded', canary, revisionBefore: 3, verification: 'pending' })
  t.notOk(out.record?.reasonKind)
})
