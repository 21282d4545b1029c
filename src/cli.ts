// kube-recycler serve | check | report | rbac

// Each command loads only its own modules: `check` and `report` start in
// about half the time without the service's (Kubernetes client, Fastify).
import { UsageError, type CliContext } from './cli/args.ts'

const USAGE = `usage: kube-recycler <command> [options]

commands:
  serve [--config FILE]     run the service (default config: config/example.yaml,
                            or KUBE_RECYCLER_CONFIG; HOST and PORT set the address)
  check --config FILE [--site NAME]... [--json FILE] [--junit FILE] [--concurrency N]
                            run the configured checks once, print a table, write
                            the results (JSON) and JUnit XML; exit 1 if a check fails
  report --url URL --results FILE [--job NAME] [--build N] [--site NAME] [--status STATUS]
                            send check results to the service's Jenkins webhook, signed
                            with KUBE_RECYCLER_WEBHOOK_SECRET (or the bearer
                            KUBE_RECYCLER_WEBHOOK_TOKEN); exit non-zero if refused

  rbac --config FILE [--service-namespace NS]
                            print the least-privilege Role and RoleBinding for
                            each site namespace of the config (kubectl apply -f -)

\`kube-recycler <command> --help\` shows a command's options.
`

/** Runs a one-shot command; a usage mistake exits 2 with the reason. */
async function oneShot(name: string, run: (ctx: CliContext) => Promise<number>, args: string[]): Promise<number> {
  const ctx: CliContext = { args, env: process.env, stdout: process.stdout, stderr: process.stderr }
  try {
    return await run(ctx)
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`kube-recycler ${name}: ${e.message}\n(see kube-recycler ${name} --help)\n`)
      return 2
    }
    process.stderr.write(`kube-recycler ${name}: failed: ${(e as Error).message}\n`)
    return 1
  }
}

export async function cli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  const flag = (name: string): string | undefined => {
    const i = rest.indexOf(name)
    if (i >= 0) return rest[i + 1]
    const eq = rest.find((a) => a.startsWith(`${name}=`))
    return eq?.slice(name.length + 1)
  }
  switch (command) {
    case 'serve':
    case undefined: {
      const configPath = flag('--config')
      const { main } = await import('./main.ts')
      await main(configPath ? { configPath } : {})
      return -1 // keeps running
    }
    case 'check':
      return oneShot('check', (await import('./cli/check.ts')).checkCommand, rest)
    case 'report':
      return oneShot('report', (await import('./cli/report.ts')).reportCommand, rest)
    case 'rbac':
      return oneShot('rbac', (await import('./cli/rbac.ts')).rbacCommand, rest)
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return 0
    default:
      process.stderr.write(`kube-recycler: unknown command "${command}"\n${USAGE}`)
      return 2
  }
}

if (import.meta.main) {
  cli(process.argv.slice(2)).then((code) => { if (code >= 0) process.exitCode = code })
}
