// pause, resume, reset, approve, reject: the request each sends (method,
// route, operator token, body), seen by a small recording HTTP server, and
// what the command says. The routes come from another branch's API; this
// pins the CLI to the exact paths agreed for it.

import t, { type Test } from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import { ServiceError, UsageError, type CliContext } from '../../src/cli/args.ts'
import { actionCommand, actionUsage } from '../../src/cli/actions.ts'
import { ACTIONS, type ActionName } from '../../src/cli/action-routes.ts'

const TOKEN = 'op-token-actions-77e1'

interface Seen {
  method: string
  url: string
  authorization: string | undefined
  body: unknown
}

async function recorder(t: Test, answer: (req: IncomingMessage) => { status: number; body: unknown }) {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (d) => {
      text += String(d)
    })
    req.on('end', () => {
      seen.push({
        method: req.method!,
        url: req.url!,
        authorization: req.headers.authorization,
        body: text === '' ? undefined : JSON.parse(text),
      })
      const a = answer(req)
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { seen, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }
}

function ctx(args: string[], env: NodeJS.ProcessEnv = { KUBE_RECYCLER_RECYCLE_TOKEN: TOKEN }) {
  const out = { stdout: '', stderr: '' }
  const c: CliContext = {
    args,
    env,
    stdout: {
      write: (s: string) => {
        out.stdout += s
      },
    },
    stderr: {
      write: (s: string) => {
        out.stderr += s
      },
    },
  }
  return { c, out }
}

t.test('each action: its exact route, the operator token, the reason', async (t) => {
  const r = await recorder(t, () => ({ status: 200, body: { ok: true } }))
  const rows: [ActionName, string[], string, string][] = [
    ['pause', ['shop', '--reason', 'INC-9 deploy freeze'], '/sites/shop/pause', 'paused shop'],
    ['pause', [], '/pause', 'paused every site'],
    ['resume', ['shop'], '/sites/shop/resume', 'resumed shop'],
    ['resume', [], '/resume', 'resumed every site'],
    ['reset', ['shop'], '/sites/shop/reset', 'reset shop'],
    ['approve', ['rc-mx5n-1a2b'], '/recycles/rc-mx5n-1a2b/approve', 'approved rc-mx5n-1a2b'],
    ['reject', ['rc-mx5n-1a2b', '--reason', 'not now'], '/recycles/rc-mx5n-1a2b/reject', 'rejected rc-mx5n-1a2b'],
    ['pause', ['a b/../x'], '/sites/a%20b%2F..%2Fx/pause', 'paused a b/../x'],
  ]
  for (const [name, args, path, said] of rows) {
    const { c, out } = ctx([...args, '--url', r.url])
    t.equal(await actionCommand(name, c), 0, `${name} ${args.join(' ')}`)
    t.equal(out.stdout, `${said}\n`)
    const last = r.seen.at(-1)!
    t.same(
      [last.method, last.url, last.authorization],
      ['POST', path, `Bearer ${TOKEN}`],
      `${name} ${args.join(' ')}: POST ${path}`,
    )
    const reason = args.indexOf('--reason')
    t.same(last.body, reason >= 0 ? { reason: args[reason + 1] } : {}, 'the reason, when given')
  }
  const { c, out } = ctx(['shop', '--json', '--url', r.url])
  await actionCommand('pause', c)
  t.equal(out.stdout, 'paused shop\n{\n  "ok": true\n}\n', '--json prints the answer')
})

t.test('refusals and mistakes', async (t) => {
  const r = await recorder(t, () => ({
    status: 404,
    body: { code: 'KR_NOT_FOUND', message: 'no route POST /sites/shop/pause' },
  }))
  await t.rejects(
    actionCommand('pause', ctx(['shop', '--url', r.url]).c),
    new ServiceError('refused (404) KR_NOT_FOUND: no route POST /sites/shop/pause', {
      status: 404,
      code: 'KR_NOT_FOUND',
    }),
    'a service without the API says so',
  )
  await t.rejects(actionCommand('approve', ctx(['--url', r.url]).c), UsageError, 'approve needs an ID')
  await t.rejects(actionCommand('reset', ctx([]).c), { message: 'which site? kube-recycler reset SITE' })
  await t.rejects(actionCommand('pause', ctx(['a', 'b']).c), {
    message: 'unexpected argument: this command takes one SITE and --options',
  })
  await t.rejects(actionCommand('pause', ctx(['--token', 'x']).c), { message: /secrets are never arguments/ })
  t.equal(r.seen.length, 1, 'no request for a usage mistake')
  for (const name of Object.keys(ACTIONS) as ActionName[]) {
    t.match(actionUsage(name), new RegExp(`^usage: kube-recycler ${name} `))
    t.match(actionUsage(name), `POST ${ACTIONS[name].route}`)
  }
})
