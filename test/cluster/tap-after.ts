// tap `after:` script: stops the cluster only if THIS tap run's before
// script started it. The marker names the tap process that wrote it: another
// tap run in the same cache (a unit-only run beside a full one, say) ends
// without touching a cluster it did not start.
import fs from 'node:fs'
import { readState, stopCluster, tapMarkerPath } from './lib.ts'

const marker = tapMarkerPath()
if (fs.existsSync(marker)) {
  const { by, startedAt } = JSON.parse(fs.readFileSync(marker, 'utf8')) as { by?: number; startedAt: string }
  if (by === process.ppid) {
    fs.rmSync(marker, { force: true })
    // Only stop the very cluster we started (not one someone started since).
    if (readState()?.startedAt === startedAt) await stopCluster()
  }
}
