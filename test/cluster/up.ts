// npm run cluster:up — start (or reuse) the local test control plane.
// Progress goes to stderr; the LAST stdout line is `KUBECONFIG=<path>`.
import fs from 'node:fs'
import path from 'node:path'
import { ensureCluster, podRunnerDir } from './lib.ts'

const t0 = Date.now()
try {
  const { kubeconfig, startedNow, state } = await ensureCluster()
  const secs = ((Date.now() - t0) / 1000).toFixed(1)
  process.stderr.write(
    startedNow
      ? `[cluster] started in ${secs}s: apiserver ${state.apiserver}, logs ${state.runDir}/logs\n`
      : `[cluster] already running (apiserver ${state.apiserver}); checked in ${secs}s\n`,
  )
  const servicesFile = path.join(podRunnerDir(), 'services.json')
  let services: Record<string, { address: string; ports: Array<{ port: number; local: number }> }> = {}
  try {
    services = JSON.parse(fs.readFileSync(servicesFile, 'utf8'))
  } catch {
    /* none yet */
  }
  process.stderr.write(
    `[cluster] pods of namespaces labelled kube-recycler.test/run-pods=true run as processes; ` +
      `Service addresses: ${servicesFile} (and annotation kube-recycler.test/address); pod logs: ${path.join(podRunnerDir(), 'pods')}/<namespace>/<pod>.<uid8>/logs/\n`,
  )
  for (const [name, s] of Object.entries(services)) {
    process.stderr.write(
      `[cluster]   service ${name}: ${s.ports.map((p) => `${s.address}:${p.local} (port ${p.port})`).join(', ')}\n`,
    )
  }
  process.stdout.write(`KUBECONFIG=${kubeconfig}\n`)
} catch (err) {
  process.stderr.write(`[cluster] failed: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
}
