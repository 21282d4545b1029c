// The test control plane a part on running pods works on: the shipped build
// made first, the cluster started when none runs and stopped after when this
// part started it (unless --keep-cluster), a scratch folder removed after.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureCluster, stopCluster } from '../../test/cluster/lib.ts'
import { ensureBuild } from './shipped.ts'

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
