// npm run cluster:down — stop exactly the processes recorded in run/state.json
// (and every pod process of the pod runner). Says what it stopped and what it
// left running; exits 1 if a recorded process was left running.
import { stopCluster } from './lib.ts'

try {
  const report = await stopCluster()
  if (report && report.leftRunning.length > 0) process.exitCode = 1
} catch (err) {
  process.stderr.write(`[cluster] failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
}
