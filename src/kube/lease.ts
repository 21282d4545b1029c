// A coordination.k8s.io Lease, read and written with the resourceVersion
// precondition (a 409 means another replica won). client-node ships no
// leader-election helper; triggers/leader.ts is the election, this is its
// storage.

import type { V1Lease } from '@kubernetes/client-node'
import { ApiException, coordinationApi, type KubeConfig, type Wire } from './api.ts'
import { Errors } from '../errors.ts'
import { kubeError } from './errors.ts'
import type { LeaseApi, LeaseRecord } from './types.ts'

/** A MicroTime as the API server parses it: RFC 3339 with six fractional digits (Date's three are refused with a 400). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

function toRecord(l: Wire<V1Lease>): LeaseRecord {
  return {
    ...(l.spec?.holderIdentity ? { holder: l.spec.holderIdentity } : {}),
    ...(l.spec?.renewTime ? { renewTime: l.spec.renewTime } : {}),
    durationSeconds: l.spec?.leaseDurationSeconds ?? 15,
    transitions: l.spec?.leaseTransitions ?? 0,
    ...(l.metadata?.resourceVersion ? { resourceVersion: l.metadata.resourceVersion } : {}),
  }
}

export function createLeaseApi(kc: KubeConfig, namespace: string, name: string, requestTimeoutMs?: number): LeaseApi {
  const api = coordinationApi(kc, requestTimeoutMs)
  return {
    async read(signal) {
      try {
        return toRecord(await api.readNamespacedLease({ name, namespace, signal }))
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return undefined
        throw kubeError(e, `read Lease ${namespace}/${name}`)
      }
    },
    async write(holder, prev, now, durationSeconds, signal) {
      const changed = prev?.holder !== holder
      const body: Wire<V1Lease> = {
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
        const out = prev
          ? await api.replaceNamespacedLease({ name, namespace, body, signal })
          : await api.createNamespacedLease({ namespace, body, signal })
        return toRecord(out)
      } catch (e) {
        if (e instanceof ApiException && e.code === 409)
          throw Errors.kubeConflict(`Lease ${namespace}/${name}: another replica wrote it first`)
        throw kubeError(e, `write Lease ${namespace}/${name}`)
      }
    },
  }
}
