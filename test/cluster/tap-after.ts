// tap `after:` script: stops the cluster only if tap-before.ts started it.
import fs from 'node:fs'
import { readState, stopCluster, tapMarkerPath } from './lib.ts'

const marker = tapMarkerPath()
if (fs.existsSync(marker)) {
  const { startedAt } = JSON.parse(fs.readFileSync(marker, 'utf8')) as { startedAt: string }
  fs.rmSync(marker, { force: true })
  // Only stop the very cluster we started (not one someone started since).
  if (readState()?.startedAt === startedAt) await stopCluster()
}
