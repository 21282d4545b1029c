// git credentials and processes against hostile remotes (issue 11, points 3
// and 5), with real git and real local HTTP servers:
// - a remote that answers 302 to another host gets no token there (git
//   follows no redirect, and askpass answers only the configured origin);
// - a token is never sent over plain http:// to a non-loopback host;
// - a remote that trickles bytes forever is cut by the timeout and
//   no git process (git, git remote-http) is left behind.

import t from 'tap'
import { randomUUID } from 'node:crypto'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { createGitHeads, type GitHeadsOptions } from '../../src/git/heads.ts'
import { startGitServer } from '../fixtures/git-server.ts'

type Test = Parameters<Extract<Parameters<typeof t.test>[0], (t: never) => unknown>>[0]

const USER = 'deploy'
const TOKEN = `tok-${randomUUID()}`
const logLines: string[] = []
const logger = pino({ level: 'trace' }, { write: (s: string) => void logLines.push(s) })

const server = await startGitServer({ username: USER, password: TOKEN })
t.teardown(() => server.close())
const site = await server.createRepo('site')

// A git shim first on PATH records each run's environment (to run the
// askpass script exactly as git would), then runs the real git.
const shimDir = mkdtempSync(join(tmpdir(), 'git-shim-harden-'))
t.teardown(() => rmSync(shimDir, { recursive: true, force: true }))
const envLog = join(shimDir, 'env.log')
const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim()
writeFileSync(join(shimDir, 'git'), `#!/bin/sh\nenv -0 > '${envLog}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 })
process.env.PATH = `${shimDir}:${process.env.PATH ?? ''}`

function heads(t: Test, opts: Partial<GitHeadsOptions> = {}) {
  const h = createGitHeads({ logger, token: TOKEN, ...opts })
  t.teardown(() => h.close())
  return h
}

interface Seen {
  method: string
  url: string
  basic?: string
}
async function httpServer(
  t: Test,
  handle: (req: IncomingMessage, res: import('node:http').ServerResponse, seen: Seen[]) => void,
): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = []
  const s = createServer((req, res) => {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '')
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      ...(m ? { basic: Buffer.from(m[1]!, 'base64').toString('utf8') } : {}),
    })
    handle(req, res, seen)
  })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    s.closeAllConnections()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  })
  return { server: s, port: (s.address() as AddressInfo).port, seen }
}

/** Processes on this machine whose command line mentions `needle` (git and its helpers name the URL). */
function processesMentioning(needle: string): string[] {
  const out: string[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
    let cmd: string
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
    } catch {
      continue
    }
    if (cmd.includes(needle)) out.push(`${pid}: ${cmd}`)
  }
  return out
}

t.test('a remote that redirects to another host gets no token there', async (t) => {
  // The thief wants credentials, like a real git host would.
  const thief = await httpServer(t, (_req, res) => {
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="thief"' })
    res.end()
  })
  // "localhost" is another host than "127.0.0.1" for git's credentials.
  const front = await httpServer(t, (req, res) => {
    res.writeHead(302, { Location: `http://localhost:${thief.port}${req.url}` })
    res.end()
  })
  const h = heads(t)
  const err = await h.headCommit(`http://127.0.0.1:${front.port}/site.git`, 'production', { username: USER }).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  )
  t.ok(err, 'the call fails')
  t.equal(err!.code, 'KR_GIT')
  t.ok(front.seen.length > 0, 'git asked the configured remote')
  t.same(
    thief.seen.filter((s) => s.basic !== undefined),
    [],
    'the other host never received credentials',
  )
  t.same(thief.seen, [], 'and git did not follow the redirect at all')
  for (const line of logLines) t.notMatch(line, TOKEN)
})

t.test("askpass answers only the configured origin's prompts", async (t) => {
  const h = heads(t)
  t.equal(await h.headCommit(server.url('site'), 'production', { username: USER }), await site.head())
  const env = Object.fromEntries(
    readFileSync(envLog, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )
  t.equal(env.GIT_CONFIG_COUNT, '1')
  t.equal(env.GIT_CONFIG_KEY_0, 'http.followRedirects')
  t.equal(env.GIT_CONFIG_VALUE_0, 'false')
  const ask = (prompt: string) => spawnSync(env.GIT_ASKPASS!, [prompt], { env, encoding: 'utf8' })
  const origin = `http://127.0.0.1:${server.port}`
  t.equal(ask(`Username for '${origin}': `).stdout, `${USER}\n`)
  t.equal(ask(`Password for 'http://${USER}@127.0.0.1:${server.port}': `).stdout, `${TOKEN}\n`)
  for (const prompt of [
    `Password for 'http://${USER}@localhost:${server.port}': `,
    `Password for 'https://${USER}@127.0.0.1:${server.port}': `,
    `Password for 'http://${USER}@127.0.0.1:${server.port + 1}': `,
    `Password for 'http://${USER}@evil.example': `,
    `Username for 'http://evil.example': `,
    `Password for 'http://${USER}@127.0.0.1:${server.port}/': `,
    'Password*',
  ]) {
    const r = ask(prompt)
    t.equal(r.status, 1, `refused: ${prompt}`)
    t.equal(r.stdout, '', `nothing printed for: ${prompt}`)
  }
})

t.test('a token is never sent over plain http:// to a remote host; loopback and https are fine', async (t) => {
  const h = heads(t)
  const err = await h.headCommit('http://git.example.invalid/shop/site.git', 'production', { username: USER }).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  )
  t.equal(err?.code, 'KR_GIT')
  t.equal(
    err?.message,
    'git: refusing to send KUBE_RECYCLER_GIT_TOKEN over plain http:// to git.example.invalid; use an https:// URL in git.repo',
  )
  t.equal(
    await h.headCommit(server.url('site'), 'production', { username: USER }),
    await site.head(),
    'http to 127.0.0.1 works',
  )
  // Without a token there is nothing to leak: plain http is the operator's choice.
  const anon = createGitHeads({ logger })
  t.teardown(() => anon.close())
  const e2 = await anon.headCommit('http://git.example.invalid/shop/site.git', 'production').then(
    () => undefined,
    (e: unknown) => e as Error,
  )
  t.notMatch(e2?.message ?? '', /refusing/, 'no token: not refused for the scheme')
})

t.test('a remote trickling bytes forever is cut, and no git process is left behind', async (t) => {
  const trickle = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-advertisement' })
    // ~4 KB/s: above the 1 KiB/s low-speed floor even on a loaded machine,
    // so only the backstop kill can end it (a slower remote is ended by curl
    // first: git-low-speed-floor.test.ts).
    const timer = setInterval(() => res.write('0'.repeat(40)), 10)
    res.on('close', () => clearInterval(timer))
  })
  const h = heads(t, { timeoutMs: 1000 })
  const url = `http://127.0.0.1:${trickle.port}/site.git`
  for (let round = 0; round < 2; round++) {
    const started = Date.now()
    const err = await h.headCommit(url, 'production', { username: USER, cacheMs: 0 }).then(
      () => undefined,
      (e: unknown) => e as Error & { cause?: { kind?: string } },
    )
    const took = Date.now() - started
    t.match(err?.message, /could not be reached: no answer within 1000ms/)
    t.equal(err?.cause?.kind, 'timeout')
    t.ok(took >= 2500 && took < 8000, `round ${round}: killed after ${took} ms (timeout + 2 s grace)`)
    // The kill is synchronous with the rejection; give the kernel a moment to reap.
    await new Promise((r) => setTimeout(r, 300))
    t.same(
      processesMentioning(`127.0.0.1:${trickle.port}`),
      [],
      `round ${round}: no git or git-remote-http left running`,
    )
  }
})
