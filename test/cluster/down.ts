// npm run cluster:down — stop exactly the processes recorded in run/state.json.
import { stopCluster } from './lib.ts'

try {
  await stopCluster()
} catch (err) {
  process.stderr.write(`[cluster] failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
}
