// A coordination.k8s.io Lease, read and written with the resourceVersion
// precondition (a 409 means another replica won). client-node ships no
// leader-election helper; this is the small part of one we need.

import type { V1Lease } from '@kubernetes/client-node'
import { ApiException, coordinationApi, type KubeConfig } from './api.ts'
import { Errors } from '../errors.ts'
import { kubeError } from './errors.ts'
import type { LeaseApi, LeaseRecord } from './types.ts'

/**
 * A MicroTime as the API server parses it (six fractional digits). client-node
 * types these fields as Date but sends Date's millisecond ISO form, which the
 * server refuses with a 400; an already formatted string passes through.
 */
export function microTime(ms: number): Date {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date
}

function toRecord(l: V1Lease): LeaseRecord {
  const renew = l.spec?.renewTime ? new Date(l.spec.renewTime).getTime() : undefined
  return {
    ...(l.spec?.holderIdentity ? { holder: l.spec.holderIdentity } : {}),
    ...(renew !== undefined ? { renewTime: renew } : {}),
    durationSeconds: l.spec?.leaseDurationSeconds ?? 15,
    transitions: l.spec?.leaseTransitions ?? 0,
    ...(l.metadata?.resourceVersion ? { resourceVersion: l.metadata.resourceVersion } : {}),
  }
}

export function createLeaseApi(kc: KubeConfig, namespace: string, name: string): LeaseApi {
  const api = coordinationApi(kc)
  return {
    async read() {
      try {
        return toRecord(await api.readNamespacedLease({ name, namespace }))
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return undefined
        throw kubeError(e, `read Lease ${namespace}/${name}`)
      }
    },
    async write(holder, prev, now, durationSeconds) {
      const changed = prev?.holder !== holder
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace, ...(prev?.resourceVersion ? { resourceVersion: prev.resourceVersion } : {}) },
        spec: {
          ...(holder ? { holderIdentity: holder } : {}),
          leaseDurationSeconds: durationSeconds,
          renewTime: microTime(now),
          ...(changed ? { acquireTime: microTime(now) } : {}),
          leaseTransitions: (prev?.transitions ?? 0) + (changed && prev?.holder ? 1 : 0),
        },
      }
      try {
        const out = prev ? await api.replaceNamespacedLease({ name, namespace, body }) : await api.createNamespacedLease({ namespace, body })
        return toRecord(out)
      } catch (e) {
        if (e instanceof ApiException && (e.code === 409)) throw Errors.kubeConflict(`Lease ${namespace}/${name}: another replica wrote it first`)
        throw kubeError(e, `write Lease ${namespace}/${name}`)
      }
    },
  }
}
