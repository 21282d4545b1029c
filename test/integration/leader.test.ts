// Leader election on a real Lease: one leader among replicas, a stopped
// leader releases it, a dead one is replaced once the lease runs out.

import t from 'tap'
import { clusterKubeconfig, freshNamespace, kubectlJson } from '../fixtures/kube-cluster.ts'
import { createKube } from '../../src/kube/client.ts'
import { createLeader } from '../../src/triggers/leader.ts'
import { manualClock, systemClock } from '../../src/clock.ts'
import { quietLogger } from '../fixtures/engine.ts'

t.test('exactly one leader; release and expiry hand over', async (t) => {
  const ns = await freshNamespace('lease')
  t.teardown(ns.cleanup)
  const logger = quietLogger()
  const kube = createKube({ kubeconfig: clusterKubeconfig(), logger, env: {} })
  const clock = manualClock(Date.now())
  const mk = (id: string) =>
    createLeader({ lease: kube.lease(ns.name, 'kube-recycler'), identity: id, clock, logger, durationSeconds: 15 })
  const a = mk('replica-a')
  const b = mk('replica-b')
  const c = mk('replica-c')
  // All three try at the same moment: the resourceVersion precondition lets one win.
  const won = await Promise.all([a.round(), b.round(), c.round()])
  t.equal(won.filter(Boolean).length, 1, `one winner: ${JSON.stringify(won)}`)
  const leaders = [a, b, c].filter((l) => l.isLeader())
  t.equal(leaders.length, 1)
  const lease = await kubectlJson(['get', 'lease', 'kube-recycler'], { namespace: ns.name })
  t.equal(lease.spec.holderIdentity, leaders[0]!.identity)
  // Renewals keep it; others keep losing.
  for (const l of [a, b, c]) await l.round()
  t.equal([a, b, c].filter((l) => l.isLeader()).length, 1)
  // A leader that dies (no more renewals): after the lease duration another takes over.
  // A follower times the Lease from the moment it last saw it change (its own clock, not the holder's
  // renewTime): its last look must be at the last renewal. Above, a follower that looked before the
  // leader renewed (c won, a and b looked first) would see a changed Lease and wait a lease more.
  const dead = leaders[0]!
  const others = [a, b, c].filter((l) => l !== dead)
  t.equal(await dead.round(), true, 'the leader renews one last time')
  for (const l of others) t.equal(await l.round(), false, `${l.identity} sees it renewed`)
  clock.advance(16_000)
  t.notOk(dead.isLeader(), 'a leader that did not renew stops leading by itself')
  const next = await Promise.all(others.map((l) => l.round()))
  t.equal(next.filter(Boolean).length, 1, 'one of the others takes over')
  const newLeader = others.find((l) => l.isLeader())!
  t.equal((await kubectlJson(['get', 'lease', 'kube-recycler'], { namespace: ns.name })).spec.leaseTransitions, 1)
  // A clean stop releases it: the last one takes it at once, no waiting.
  await newLeader.stop()
  const last = others.find((l) => l !== newLeader)!
  t.equal(await last.round(), true, 'released lease is taken without waiting for expiry')
  await last.stop()
})

t.test('the timer renews and stop() ends it', async (t) => {
  const ns = await freshNamespace('lease-timer')
  t.teardown(ns.cleanup)
  const logger = quietLogger()
  const kube = createKube({ kubeconfig: clusterKubeconfig(), logger, env: {} })
  const l = createLeader({
    lease: kube.lease(ns.name, 'kube-recycler'),
    identity: 'solo',
    clock: systemClock,
    logger,
    durationSeconds: 3,
    retryMs: 400,
  })
  l.start()
  await new Promise((r) => setTimeout(r, 2500))
  const renew1 = (await kubectlJson(['get', 'lease', 'kube-recycler'], { namespace: ns.name })).spec.renewTime
  t.ok(l.isLeader())
  await new Promise((r) => setTimeout(r, 1200))
  const renew2 = (await kubectlJson(['get', 'lease', 'kube-recycler'], { namespace: ns.name })).spec.renewTime
  t.not(renew1, renew2, 'renewed by the timer')
  await l.stop()
  t.notOk(l.isLeader())
  const released = await kubectlJson(['get', 'lease', 'kube-recycler'], { namespace: ns.name })
  t.notOk(released.spec.holderIdentity, 'released on stop')
  // Several retry periods later: no write at all (any write bumps the resourceVersion).
  await new Promise((r) => setTimeout(r, 1500))
  const after = await kubectlJson(['get', 'lease', 'kube-recycler'], { namespace: ns.name })
  t.equal(after.metadata.resourceVersion, released.metadata.resourceVersion, 'no write to the lease after stop')
  t.notOk(after.spec.holderIdentity, 'no renewal after stop')
})
