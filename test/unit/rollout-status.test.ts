// The rollout judge against kubectl's rules, one row per rule.

import t from 'tap'
import { judgeRollout } from '../../src/recycle/rollout-status.ts'
import type { WorkloadState } from '../../src/kube/types.ts'
import { workloadState } from '../fixtures/states.ts'

const base = (kind: WorkloadState['ref']['kind'], over: Partial<WorkloadState> = {}): WorkloadState =>
  workloadState({ ref: { kind, namespace: 'ns', name: 'web' }, updateStrategy: 'RollingUpdate', ...over })

const rows: [string, WorkloadState, 'done' | 'waiting' | 'failed', RegExp][] = [
  ['generation not observed', base('Deployment', { observedGeneration: 1 }), 'waiting', /spec update to be observed/],
  [
    'progress deadline exceeded',
    base('Deployment', {
      updated: 1,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    }),
    'failed',
    /exceeded its progress deadline/,
  ],
  ['updated < desired', base('Deployment', { updated: 1 }), 'waiting', /1 out of 3 new replicas have been updated/],
  [
    'old replicas pending termination',
    base('Deployment', { current: 4 }),
    'waiting',
    /1 old replicas are pending termination/,
  ],
  ['available < updated', base('Deployment', { available: 2 }), 'waiting', /2 of 3 updated replicas are available/],
  ['deployment done', base('Deployment'), 'done', /successfully rolled out/],
  ['daemonset OnDelete', base('DaemonSet', { updateStrategy: 'OnDelete' }), 'failed', /updateStrategy OnDelete/],
  ['daemonset updating', base('DaemonSet', { updated: 2 }), 'waiting', /2 out of 3 new pods have been updated/],
  ['daemonset not available', base('DaemonSet', { available: 1 }), 'waiting', /1 of 3 updated pods are available/],
  ['daemonset done', base('DaemonSet'), 'done', /successfully rolled out/],
  ['statefulset OnDelete', base('StatefulSet', { updateStrategy: 'OnDelete' }), 'failed', /updateStrategy OnDelete/],
  ['statefulset not ready', base('StatefulSet', { ready: 2 }), 'waiting', /Waiting for 1 pods to be ready/],
  [
    'statefulset partition waiting',
    base('StatefulSet', { partition: 1, updated: 1 }),
    'waiting',
    /1 out of 2 new pods/,
  ],
  [
    'statefulset partition done',
    base('StatefulSet', { partition: 1, updated: 2 }),
    'done',
    /partitioned roll out complete/,
  ],
  [
    'statefulset revisions differ',
    base('StatefulSet', { currentRevision: 'a', updateRevision: 'b' }),
    'waiting',
    /rolling update to complete/,
  ],
  [
    'statefulset done',
    base('StatefulSet', { currentRevision: 'b', updateRevision: 'b' }),
    'done',
    /rolling update complete 3 pods at revision b/,
  ],
]

for (const [name, state, want, msg] of rows) {
  const j = judgeRollout(state)
  const got = j.done ? 'done' : j.failed ? 'failed' : 'waiting'
  t.equal(got, want, name)
  t.match(j.message, msg, `${name}: message`)
}
