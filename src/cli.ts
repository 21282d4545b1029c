// kube-recycler <command>: serve | check | report | status | recycle |
// pause | resume | reset | approve | reject | rbac | help

// Each command loads only its own modules when it runs: `check`, `status`
// and the help start in a fraction of the time without the service's
// (Kubernetes client, Fastify). The table below is the whole CLI: a new
// command is one entry (a line for the top-level help, and the module that
// has its usage text and runs it).
import { ServiceError, UsageError, type CliContext } from './cli/args.ts'
import { VERSION } from './version.ts'
import { ACTIONS, type ActionName } from './cli/action-routes.ts'

interface CommandModule {
  usage: string
  run(ctx: CliContext): Promise<number>
}

interface Command {
  /** What it does, for the top-level help. */
  summary: string
  load(): Promise<CommandModule>
}

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run the service (HOST and PORT set the address)',
    load: async () => {
      const m = await import('./cli/serve.ts')
      return { usage: m.SERVE_USAGE, run: m.serveCommand }
    },
  },
  check: {
    summary: 'run the configured checks once, print a table, write results and JUnit XML',
    load: async () => {
      const m = await import('./cli/check.ts')
      return { usage: m.CHECK_USAGE, run: m.checkCommand }
    },
  },
  report: {
    summary: "send check results to the service's Jenkins webhook, signed",
    load: async () => {
      const m = await import('./cli/report.ts')
      return { usage: m.REPORT_USAGE, run: m.reportCommand }
    },
  },
  status: {
    summary: "a running service's sites as a table (or its JSON)",
    load: async () => {
      const m = await import('./cli/status.ts')
      return { usage: m.STATUS_USAGE, run: m.statusCommand }
    },
  },
  recycle: {
    summary: 'recycle a site now (operator); --wait follows it, the exit code says how it went',
    load: async () => {
      const m = await import('./cli/recycle.ts')
      return { usage: m.RECYCLE_USAGE, run: m.recycleCommand }
    },
  },
  rbac: {
    summary: 'print the least-privilege Role and RoleBinding for each site namespace of a config (kubectl apply -f -)',
    load: async () => {
      const m = await import('./cli/rbac.ts')
      return { usage: m.RBAC_USAGE, run: m.rbacCommand }
    },
  },
  // The operator's brakes (server/routes/operator.ts): one line each, see cli/actions.ts.
  pause: action('pause'),
  resume: action('resume'),
  reset: action('reset'),
  approve: action('approve'),
  reject: action('reject'),
}

function action(name: ActionName): Command {
  return {
    summary: ACTIONS[name].summary,
    load: async () => {
      const m = await import('./cli/actions.ts')
      return { usage: m.actionUsage(name), run: (ctx) => m.actionCommand(name, ctx) }
    },
  }
}

function topUsage(): string {
  const width = 14
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  return `usage: kube-recycler <command> [options]

commands:
${lines.join('\n')}
  ${'help [COMMAND]'.padEnd(width)}  this help, or a command's options (also: COMMAND --help)
  ${'--version'.padEnd(width)}  print the version

Secrets come from the environment only (KUBE_RECYCLER_WEBHOOK_SECRET,
KUBE_RECYCLER_WEBHOOK_TOKEN, KUBE_RECYCLER_RECYCLE_TOKEN), never options.
exit status: 0 ok, 1 failed or refused, 2 bad arguments; see each command's help.
`
}

/** Runs a command; a usage mistake exits 2 with the reason and the command's usage. */
async function runCommand(name: string, command: Command, args: string[]): Promise<number> {
  const m = await command.load()
  const ctx: CliContext = { args, env: process.env, stdout: process.stdout, stderr: process.stderr }
  try {
    return await m.run(ctx)
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`kube-recycler ${name}: ${e.message}\n\n${m.usage}`)
      return 2
    }
    if (e instanceof ServiceError) {
      process.stderr.write(`kube-recycler ${name}: ${(e as Error).message}\n`)
      return 1
    }
    process.stderr.write(`kube-recycler ${name}: failed: ${(e as Error).message}\n`)
    return 1
  }
}

export async function cli(argv: string[]): Promise<number> {
  const [first, ...rest] = argv
  // No command runs the service, as the container always has.
  if (first === undefined) return runCommand('serve', COMMANDS.serve!, [])
  if (first === '--version' || first === '-V' || first === 'version') {
    if (rest.length > 0) {
      process.stderr.write(`kube-recycler: ${first} takes no arguments\n`)
      return 2
    }
    process.stdout.write(`kube-recycler ${VERSION}\n`)
    return 0
  }
  if (first === 'help' || first === '--help' || first === '-h') {
    const [topic, ...extra] = rest
    if (topic === undefined) {
      process.stdout.write(topUsage())
      return 0
    }
    const command = Object.hasOwn(COMMANDS, topic) ? COMMANDS[topic] : undefined
    if (!command || extra.length > 0) {
      process.stderr.write(
        `kube-recycler: ${command ? 'help takes one command' : `no command "${topic}"`}\n\n${topUsage()}`,
      )
      return 2
    }
    process.stdout.write((await command.load()).usage)
    return 0
  }
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined
  if (!command) {
    // Not quoted back whole: a mistyped first argument may be a secret.
    const shown = /^[\w-]{1,32}$/.test(first) ? `"${first}"` : 'given'
    process.stderr.write(`kube-recycler: unknown command ${shown}\n\n${topUsage()}`)
    return 2
  }
  return runCommand(first, command, rest)
}

if (import.meta.main) {
  cli(process.argv.slice(2)).then((code) => {
    if (code >= 0) process.exitCode = code
  })
}
