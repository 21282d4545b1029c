// The operator's one-shot actions: pause, resume, reset, approve, reject.
// Each is one POST to the service with the operator token; a new action is
// one entry in ACTIONS (and one line in cli.ts).
//
// DEPENDS ON the pause/approve API built in another branch at the same time
// (POST /sites/{site}/pause|resume|reset, POST /pause|resume, POST
// /recycles/{id}/approve|reject). Against a service without it, the service
// answers 404 `no route POST …`, which the command prints (exit 1).

import { durationOption, parseCommand, refuseSecretOptions, UsageError, type CliContext } from './args.ts'
import { createClient, printable } from './client.ts'
import { jsonForTerminal } from './status.ts'
import { ACTIONS, type Action, type ActionName } from './action-routes.ts'

export type { ActionName }

const argName = (a: Action): 'SITE' | 'ID' => (a.route.includes('{id}') ? 'ID' : 'SITE')
const pathFor = (a: Action, arg: string | undefined): string =>
  arg === undefined ? a.all! : a.route.replace(/\{(site|id)\}/, encodeURIComponent(arg))

export function actionUsage(name: ActionName): string {
  const a: Action = ACTIONS[name]
  const arg = a.all !== undefined ? `[${argName(a)}]` : argName(a)
  return `usage: kube-recycler ${name} ${arg} [--reason TEXT] [--json] [--url URL] [--timeout DURATION]

${a.summary[0]!.toUpperCase()}${a.summary.slice(1)}: POST ${a.route}${a.all !== undefined ? ` (without ${argName(a)}: POST ${a.all})` : ''}.

  --reason TEXT       why (kept with the change)
  --json              print the service's answer
  --url URL           the service (default: KUBE_RECYCLER_URL, then http://127.0.0.1:8080)
  --timeout DURATION  give up after this long (default 10s)

The operator token comes from the environment only: KUBE_RECYCLER_RECYCLE_TOKEN.
Needs a service with the pause/approve API.

exit status: 0 done, 1 refused by the service or unreachable, 2 bad arguments
`
}

const OPTIONS = {
  reason: { type: 'string' },
  json: { type: 'boolean' },
  url: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function actionCommand(name: ActionName, ctx: CliContext): Promise<number> {
  const a: Action = ACTIONS[name]
  refuseSecretOptions(ctx.args, 'KUBE_RECYCLER_RECYCLE_TOKEN')
  const { values: o, positionals } = parseCommand(ctx.args, OPTIONS, { max: 1, names: `one ${argName(a)}` })
  if (o.help) {
    ctx.stdout.write(actionUsage(name))
    return 0
  }
  const arg = positionals[0] || undefined
  if (arg === undefined && a.all === undefined)
    throw new UsageError(`which ${argName(a) === 'ID' ? 'recycle' : 'site'}? kube-recycler ${name} ${argName(a)}`)
  if (o.reason !== undefined && o.reason.trim() === '') throw new UsageError('--reason needs a text')
  const client = createClient(ctx, { url: o.url, timeoutMs: durationOption(o.timeout, '--timeout', 10_000, 600_000) })
  try {
    const answer = await client.post(pathFor(a, arg), o.reason !== undefined ? { reason: o.reason.trim() } : {})
    ctx.stdout.write(`${a.done} ${arg === undefined ? 'every site' : printable(arg)}\n`)
    if (o.json) ctx.stdout.write(`${jsonForTerminal(answer)}\n`)
    return 0
  } finally {
    await client.close()
  }
}
