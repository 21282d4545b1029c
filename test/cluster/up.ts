// npm run cluster:up — start (or reuse) the local test control plane.
// Progress goes to stderr; the LAST stdout line is `KUBECONFIG=<path>`.
import { ensureCluster } from './lib.ts'

const t0 = Date.now()
try {
  const { kubeconfig, startedNow, state } = await ensureCluster()
  const secs = ((Date.now() - t0) / 1000).toFixed(1)
  process.stderr.write(startedNow
    ? `[cluster] started in ${secs}s: apiserver ${state.apiserver}, logs ${state.runDir}/logs\n`
    : `[cluster] already running (apiserver ${state.apiserver}); checked in ${secs}s\n`)
  process.stdout.write(`KUBECONFIG=${kubeconfig}\n`)
} catch (err) {
  process.stderr.write(`[cluster] failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
}
