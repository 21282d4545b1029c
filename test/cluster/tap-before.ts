// tap `before:` script. Starts the test cluster once per tap run unless one
// is already running; leaves a marker so tap-after.ts stops only a cluster
// this run started. Set KUBE_RECYCLER_NO_CLUSTER=1 to skip (unit-only runs).
import fs from 'node:fs'
import { ensureCluster, tapMarkerPath } from './lib.ts'

if (process.env.KUBE_RECYCLER_NO_CLUSTER === '1') {
  process.stderr.write('[cluster] KUBE_RECYCLER_NO_CLUSTER=1: not starting the test cluster\n')
} else {
  try {
    const { startedNow, state } = await ensureCluster()
    if (startedNow) {
      fs.writeFileSync(tapMarkerPath(), JSON.stringify({ by: process.ppid, startedAt: state.startedAt }) + '\n')
    } else {
      fs.rmSync(tapMarkerPath(), { force: true }) // someone else's cluster: never stop it
    }
  } catch (err) {
    // Tests that need the cluster will fail with a clear message from the fixture.
    process.stderr.write(
      `[cluster] could not start the test cluster: ${err instanceof Error ? err.message : String(err)}\n`,
    )
    process.exitCode = 1
  }
}
