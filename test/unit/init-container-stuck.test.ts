// A pod whose init container fails never starts its containers: they wait as
// PodInitializing while the init container crash-loops. The judges must see
// the init container's state (what `kubectl get pods` shows as
// Init:CrashLoopBackOff), or a rollout onto a commit the init container cannot
// check out waits for its whole deadline instead of failing early.

import t from 'tap'
import { toPodState } from '../../src/kube/client.ts'
import { crashLooping, unhealthy } from '../../src/recycle/rollout-status.ts'

const pod = (init: Record<string, unknown>, restartCount: number) =>
  ({
    metadata: { name: 'web-1', namespace: 'shop', uid: 'u1', creationTimestamp: new Date('2026-12-06T09:00:00Z') },
    spec: {
      nodeName: 'run-node-0',
      containers: [{ name: 'web', image: 'nginx' }],
      initContainers: [{ name: 'checkout', image: 'alpine/git' }],
    },
    status: {
      phase: 'Pending',
      conditions: [
        { type: 'Initialized', status: 'False' },
        { type: 'Ready', status: 'False' },
      ],
      initContainerStatuses: [
        { name: 'checkout', ready: false, restartCount, image: 'alpine/git', imageID: '', state: init },
      ],
      containerStatuses: [
        {
          name: 'web',
          ready: false,
          restartCount: 0,
          image: 'nginx',
          imageID: '',
          state: { waiting: { reason: 'PodInitializing' } },
        },
      ],
    },
  }) as any

t.test('an init container in CrashLoopBackOff makes the pod crash-looping', async (t) => {
  const p = toPodState(
    pod({ waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=checkout' } }, 2),
  )
  t.equal(p.waitingReason, 'CrashLoopBackOff')
  t.equal(p.restarts, 2, 'init container restarts count')
  t.ok(crashLooping(p))
  t.ok(unhealthy(p))
})

t.test('an init container that failed and restarts (Init:Error) counts its restarts', async (t) => {
  const p = toPodState(pod({ terminated: { reason: 'Error', exitCode: 1 } }, 3))
  t.equal(p.restarts, 3)
  t.ok(crashLooping(p), 'three restarts without becoming Ready is a crash loop')
})

t.test('a pod still initializing normally is not stuck', async (t) => {
  const p = toPodState(pod({ running: { startedAt: new Date('2026-12-06T09:00:01Z') } }, 0))
  t.equal(p.waitingReason, 'PodInitializing', 'the containers wait for the init container')
  t.notOk(crashLooping(p))
})
