// The test control plane a part on running pods works on: the shipped build
// made first, the cluster started when none runs and stopped after when this
// part started it (unless --keep-cluster), a scratch folder removed after.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { ensureCluster, stopCluster } from '../../test/cluster/lib.ts'
import { startService, type ServiceProcess } from '../../test/fixtures/process.ts'
import { waitFor } from '../../test/fixtures/wait.ts'
import { ensureBuild, shippedCommand } from './shipped.ts'

export async function onCluster<T>(
  part: string,
  o: { log: (m: string) => void; keepCluster: boolean },
  fn: (c: { kubeconfig: string; dir: string }) => Promise<T>,
): Promise<T> {
  await ensureBuild(o.log)
  const cluster = await ensureCluster({ log: (m) => o.log(`cluster: ${m}`) })
  const dir = mkdtempSync(join(tmpdir(), `kr-bench-${part}-`))
  try {
    return await fn({ kubeconfig: cluster.kubeconfig, dir })
  } finally {
    rmSync(dir, { recursive: true, force: true })
    if (cluster.startedNow && !o.keepCluster) await stopCluster({ log: (m) => o.log(`cluster: ${m}`) })
  }
}

/** The shipped build as a `serve` process with `env`, ready (/readyz answers 200) when it returns. */
export async function startShipped(env: Record<string, string>): Promise<ServiceProcess> {
  const shipped = shippedCommand()
  const svc = await startService({ entry: [...shipped.flags, shipped.entry], env, timeoutMs: 30_000 })
  try {
    await waitFor(async () => (await request(`${svc.url}/readyz`)).statusCode === 200, {
      timeoutMs: 30_000,
      intervalMs: 50,
      description: 'kube-recycler ready',
    })
  } catch (e) {
    await svc.stop()
    throw e
  }
  return svc
}
