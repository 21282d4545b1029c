// Keeps the kwok nodes of the bench's own control plane Ready: renews a node
// Lease (kube-node-lease/<node>) for each every 10 s, the kubelet's job.
//
// Why: test/cluster starts kwok without node leases, and kwok's own node
// status heartbeat comes about every 45 s, past the controller-manager's
// --node-monitor-grace-period=40s. So every ~45 s all nodes turn NotReady
// for a few seconds, the node lifecycle controller marks their pods NotReady,
// and kwok's pod stages never mark them Ready again: a rollout then waits
// forever (seen: `0 of 10 updated replicas are available`). A renewed Lease
// counts as a heartbeat, so the nodes stay Ready.

import https from 'node:https'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

interface KubeconfigFile {
  clusters: Array<{ cluster: { server: string; 'certificate-authority-data'?: string } }>
  users: Array<{ user: { 'client-certificate-data'?: string; 'client-key-data'?: string } }>
}

// One keep-alive connection of its own, so the recycle bench can tell it
// from the connections of the engine it measures (leaseSockets()).
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 })

/** The sockets this keeper holds open to the API server right now. */
export function leaseSockets(): number {
  let n = 0
  for (const list of [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)]) n += list?.length ?? 0
  return n
}

function request(
  kc: { server: URL; ca: Buffer; cert: Buffer; key: Buffer },
  method: string,
  path: string,
  body: unknown,
  contentType = 'application/json',
): Promise<number> {
  return new Promise((resolve) => {
    const data = Buffer.from(JSON.stringify(body))
    const req = https.request(
      {
        agent,
        host: kc.server.hostname,
        port: kc.server.port,
        method,
        path,
        ca: kc.ca,
        cert: kc.cert,
        key: kc.key,
        headers: { 'content-type': contentType, 'content-length': data.length },
        timeout: 5000,
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
    req.end(data)
  })
}

/** Starts renewing leases for `nodes` with the admin kubeconfig; returns the stop function. */
export function keepNodesAlive(kubeconfigPath: string, nodes: string[], everyMs = 10_000): () => void {
  const file = parse(readFileSync(kubeconfigPath, 'utf8')) as KubeconfigFile
  const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64')
  const kc = {
    server: new URL(file.clusters[0]!.cluster.server),
    ca: b64(file.clusters[0]!.cluster['certificate-authority-data']),
    cert: b64(file.users[0]!.user['client-certificate-data']),
    key: b64(file.users[0]!.user['client-key-data']),
  }
  const base = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases'
  const now = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
  const renew = async () => {
    for (const node of nodes) {
      const status = await request(
        kc,
        'PATCH',
        `${base}/${node}`,
        { spec: { renewTime: now() } },
        'application/merge-patch+json',
      )
      if (status === 404) {
        await request(kc, 'POST', base, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: node, namespace: 'kube-node-lease' },
          spec: { holderIdentity: node, leaseDurationSeconds: 40, renewTime: now() },
        })
      }
    }
  }
  void renew()
  const timer = setInterval(() => {
    void renew()
  }, everyMs)
  return () => clearInterval(timer)
}
