// `kube-recycler serve`: runs the service until SIGTERM/SIGINT. The options
// are parsed like every other command's, so a typo exits 2 instead of
// starting a server with a flag silently ignored.

import { parseOptions, UsageError, type CliContext } from './args.ts'

export const SERVE_USAGE = `usage: kube-recycler serve [--config FILE]

Runs the service: the Jenkins webhook, the operator API, the cron probes,
/status, /metrics and the OpenAPI document at /docs.

  --config FILE   the YAML config (default: KUBE_RECYCLER_CONFIG, then
                  config/example.yaml)

environment:
  HOST, PORT      where to listen (default 0.0.0.0:8080)
  LOG_LEVEL       info (default); debug also logs /healthz, /readyz and /metrics requests
  KUBECONFIG      the cluster (else ~/.kube/config, else in-cluster; none: dry-run)
  POD_NAMESPACE   where the Lease and the state ConfigMaps live
  KUBE_RECYCLER_WEBHOOK_SECRET, KUBE_RECYCLER_WEBHOOK_TOKEN, KUBE_RECYCLER_RECYCLE_TOKEN,
  KUBE_RECYCLER_GIT_TOKEN   the secrets (never options)

Logs are JSON lines on stdout; \`kube-recycler serve | npx pino-pretty\` reads them.

exit status: 0 after SIGTERM/SIGINT, 1 failed to start, 2 bad arguments or config
`

const OPTIONS = {
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Returns -1 while the service runs (the process stays up); main() exits on its own. */
export async function serveCommand(ctx: CliContext): Promise<number> {
  const o = parseOptions(ctx.args, OPTIONS)
  if (o.help) {
    ctx.stdout.write(SERVE_USAGE)
    return 0
  }
  if (o.config === '') throw new UsageError('--config needs a file name')
  const { main } = await import('../main.ts')
  await main({ ...(o.config !== undefined ? { configPath: o.config } : {}), env: ctx.env })
  return -1
}
