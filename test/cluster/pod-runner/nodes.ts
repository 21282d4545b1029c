// The runner's own nodes: registered like a kubelet registers, kept Ready by
// renewing their Lease and heartbeating their Ready condition, and tainted so
// that only pods of opted-in namespaces (which get the toleration from the
// namespace's defaultTolerations) land on them.
import type { Api } from './api.ts'
import { RUN_PODS_LABEL, RUN_PODS_TAINT } from './opt-in.ts'

const LEASE_SECONDS = 40

function readyCondition(now: string, since: string) {
  return {
    type: 'Ready',
    status: 'True',
    reason: 'KubeletReady',
    message: 'pod runner is posting ready status',
    lastHeartbeatTime: now,
    lastTransitionTime: since,
  }
}

function pressure(type: string, reason: string, now: string, since: string) {
  return { type, status: 'False', reason, message: 'pod runner', lastHeartbeatTime: now, lastTransitionTime: since }
}

function conditions(now: string, since: string) {
  return [
    pressure('MemoryPressure', 'KubeletHasSufficientMemory', now, since),
    pressure('DiskPressure', 'KubeletHasNoDiskPressure', now, since),
    pressure('PIDPressure', 'KubeletHasSufficientPID', now, since),
    readyCondition(now, since),
  ]
}

export class Nodes {
  readonly #api: Api
  readonly #names: string[]
  readonly #hostIP: string
  readonly #version: string
  readonly #log: (m: string) => void
  readonly #since = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  #timer: NodeJS.Timeout | undefined

  constructor(api: Api, names: string[], hostIP: string, version: string, log: (m: string) => void) {
    this.#api = api
    this.#names = names
    this.#hostIP = hostIP
    this.#version = version
    this.#log = log
  }

  async register(): Promise<void> {
    const now = this.#since
    for (const name of this.#names) {
      const node = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
          labels: {
            'kubernetes.io/hostname': name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'node-role.kubernetes.io/worker': '',
            type: 'pod-runner',
            [RUN_PODS_LABEL]: 'true',
          },
        },
        spec: { taints: [RUN_PODS_TAINT] },
        status: {
          allocatable: { cpu: '32', memory: '256Gi', pods: '250', 'ephemeral-storage': '100Gi' },
          capacity: { cpu: '32', memory: '256Gi', pods: '250', 'ephemeral-storage': '100Gi' },
          addresses: [
            { type: 'InternalIP', address: this.#hostIP },
            { type: 'Hostname', address: name },
          ],
          conditions: conditions(now, now),
          nodeInfo: {
            kubeletVersion: this.#version,
            kubeProxyVersion: this.#version,
            operatingSystem: 'linux',
            architecture: 'amd64',
            containerRuntimeVersion: 'pod-runner://1',
          },
        },
      }
      const res = await this.#api.request('POST', '/api/v1/nodes', node)
      if (res.status !== 201 && res.status !== 409)
        throw new Error(`register node ${name}: HTTP ${res.status} ${res.body}`)
    }
    await this.heartbeat()
    this.#timer = setInterval(() => void this.heartbeat(), 10_000)
  }

  async heartbeat(): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
    const micro = new Date().toISOString().replace('Z', '000Z')
    for (const name of this.#names) {
      try {
        await this.#api.request(
          'PATCH',
          `/api/v1/nodes/${name}/status`,
          { status: { conditions: conditions(now, this.#since) } },
          'application/strategic-merge-patch+json',
        )
        const leasePath = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`
        const spec = { holderIdentity: name, leaseDurationSeconds: LEASE_SECONDS, renewTime: micro }
        const res = await this.#api.request('PATCH', leasePath, { spec }, 'application/merge-patch+json')
        if (res.status === 404) {
          await this.#api.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace: 'kube-node-lease' },
            spec,
          })
        }
      } catch (err) {
        this.#log(`heartbeat ${name}: ${(err as Error).message}`)
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer)
  }
}
