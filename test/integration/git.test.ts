// git/heads.ts against a real git smart-HTTP server with Basic auth
// (test/fixtures/git-server.ts). `git` is wrapped by a shim first on PATH
// that records every invocation's argv and environment, so the tests can
// prove the token reaches the server without ever being a process argument.

import t from 'tap'
import { randomUUID } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createHttpServer } from 'node:http'
import pino from 'pino'
import { createGitHeads, type GitHeads, type GitHeadsOptions } from '../../src/git/heads.ts'
import { isAppError } from '../../src/errors.ts'
import { startGitServer } from '../fixtures/git-server.ts'
import { closedPort } from '../fixtures/ports.ts'

type Test = Parameters<Extract<Parameters<typeof t.test>[0], (t: never) => unknown>>[0]

const USER = 'deploy'
// Unique per run, so finding it anywhere can only mean a leak.
const TOKEN = `tok-${randomUUID()}`
const WRONG = `wrong-${randomUUID()}`

const server = await startGitServer({ username: USER, password: TOKEN })
t.teardown(() => server.close())
const site = await server.createRepo('site')

// The git shim: log argv and environment, then run the real git.
// A private dir (not t.testdir, whose path is the same for every run of this file).
const shimDir = mkdtempSync(join(tmpdir(), 'git-shim-'))
t.teardown(() => rmSync(shimDir, { recursive: true, force: true }))
const shimLog = join(shimDir, 'invocations.log')
const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim()
writeFileSync(
  join(shimDir, 'git'),
  `#!/bin/sh\nprintf 'ARGV %s\\n' "$*" >> '${shimLog}'\nenv | sed 's/^/ENV /' >> '${shimLog}'\nexec '${realGit}' "$@"\n`,
  { mode: 0o755 },
)
writeFileSync(shimLog, '')
process.env.PATH = `${shimDir}:${process.env.PATH ?? ''}`
const shimText = (): string => readFileSync(shimLog, 'utf8')
const lsRemoteRuns = (): number =>
  shimText()
    .split('\n')
    .filter((l) => l.startsWith('ARGV ls-remote')).length

// Every log line, at every level.
const logLines: string[] = []
const logger = pino({ level: 'trace' }, { write: (s: string) => void logLines.push(s) })

function heads(t: Test, opts: Partial<GitHeadsOptions> = {}): GitHeads {
  const h = createGitHeads({ logger, token: TOKEN, ...opts })
  t.teardown(() => h.close())
  return h
}

async function gitError(t: Test, p: Promise<unknown>): Promise<Error & { code: string; cause?: unknown }> {
  const err = await p.then(
    () => t.fail('expected a rejection'),
    (e: unknown) => e,
  )
  t.ok(isAppError(err), 'an AppError')
  const e = err as Error & { code: string; cause?: unknown }
  t.equal(e.code, 'KR_GIT')
  return e
}

t.test('finds the head of the production branch', async (t) => {
  const h = heads(t)
  const sha = await h.headCommit(server.url('site'), 'production', { username: USER })
  t.equal(sha, await site.head())
  t.match(sha, /^[0-9a-f]{40}$/)
})

t.test('caches per (repo, branch) and sees a push once the cache expires', async (t) => {
  const repo = await server.createRepo('cached')
  let clock = 1_000_000
  const h = heads(t, { now: () => clock })
  const url = server.url('cached')
  const first = await h.headCommit(url, 'production', { username: USER })
  t.equal(first, await repo.head())
  t.equal(server.advertisements('cached'), 1)

  const pushed = await repo.push('deploy 2')
  t.not(pushed, first)

  clock += 29_999
  t.equal(await h.headCommit(url, 'production', { username: USER }), first, 'still cached inside 30s')
  t.equal(server.advertisements('cached'), 1, 'no request inside the cache window')

  clock += 1
  t.equal(await h.headCommit(url, 'production', { username: USER }), pushed, 'refetched after 30s')
  t.equal(server.advertisements('cached'), 2)

  // A per-call cacheMs wins over the default.
  const third = await repo.push('deploy 3')
  clock += 10
  t.equal(await h.headCommit(url, 'production', { username: USER, cacheMs: 5 }), third)
  t.equal(server.advertisements('cached'), 3)
})

t.test('concurrent calls for the same key share one ls-remote', async (t) => {
  const repo = await server.createRepo('concurrent')
  const h = heads(t)
  const before = lsRemoteRuns()
  const shas = await Promise.all(
    Array.from({ length: 8 }, () => h.headCommit(server.url('concurrent'), 'production', { username: USER })),
  )
  const want = await repo.head()
  t.same(shas, Array(8).fill(want))
  t.equal(lsRemoteRuns() - before, 1, 'one git process')
  t.equal(server.advertisements('concurrent'), 1, 'one authorized ref advertisement')
})

t.test('a wrong token fails as an authentication error and leaks nowhere', async (t) => {
  const h = heads(t, { token: WRONG })
  const logsBefore = logLines.length
  const err = await gitError(t, h.headCommit(server.url('site'), 'production', { username: USER }))
  t.match(err.message, /authentication failed/)
  t.match(err.message, server.url('site'))
  t.notMatch(err.message, WRONG)
  t.notMatch(String((err.cause as Error | undefined)?.message), WRONG, 'not in the cause either')
  t.notMatch(JSON.stringify(err, Object.getOwnPropertyNames(err)), WRONG)
  t.ok(logLines.length > logsBefore, 'the failure was logged')
  for (const line of logLines) t.notMatch(line, WRONG, 'no log line holds the token')
  t.notMatch(shimText(), WRONG, 'no git argv or environment holds the token')
  // The server did receive the wrong credentials: they went where they should.
  t.ok(server.requests.some((r) => r.sentCredentials && r.status === 401))
})

t.test('no token against a server that wants one: authentication error naming the missing token', async (t) => {
  const h = heads(t, { token: undefined })
  const err = await gitError(t, h.headCommit(server.url('site'), 'production', { username: USER }))
  t.match(err.message, /authentication failed.*KUBE_RECYCLER_GIT_TOKEN is not set/)
})

t.test('the right token never appears in argv, environment or logs', async (t) => {
  const h = heads(t)
  await h.headCommit(server.url('site'), 'production', { username: USER, cacheMs: 0 })
  const text = shimText()
  t.match(text, /ARGV ls-remote --heads http:\/\/127\.0\.0\.1:\d+\/site\.git refs\/heads\/production/)
  t.match(text, /ENV GIT_ASKPASS=/, 'askpass is in use')
  t.match(text, /ENV GIT_TERMINAL_PROMPT=0/)
  t.notMatch(text, TOKEN)
  t.notMatch(text, Buffer.from(`${USER}:${TOKEN}`).toString('base64'))
  for (const line of logLines) t.notMatch(line, TOKEN)
  t.ok(
    server.requests.some((r) => r.user === USER && r.status === 200),
    'the server saw the credentials',
  )
})

t.test('a missing branch fails naming the branch and the repo', async (t) => {
  const h = heads(t)
  const err = await gitError(t, h.headCommit(server.url('site'), 'staging', { username: USER }))
  t.match(err.message, 'branch "staging" does not exist')
  t.match(err.message, server.url('site'))
})

t.test('a missing repository fails as not found', async (t) => {
  const h = heads(t)
  const err = await gitError(t, h.headCommit(server.url('no-such-repo'), 'production', { username: USER }))
  t.match(err.message, /repository .*no-such-repo\.git was not found/)
})

t.test('an unreachable remote fails clearly and fast', async (t) => {
  const port = await closedPort()
  const h = heads(t)
  const started = Date.now()
  const err = await gitError(t, h.headCommit(`http://127.0.0.1:${port}/site.git`, 'production', { username: USER }))
  t.match(err.message, /could not be reached/)
  t.ok(Date.now() - started < 5000, `failed in ${Date.now() - started}ms`)
})

t.test('a remote that never answers is cut off by the timeout, leaving no process behind', async (t) => {
  const silent = await silentServer(t)
  const h = heads(t, { timeoutMs: 1000 })
  const started = Date.now()
  const err = await gitError(
    t,
    h.headCommit(`http://127.0.0.1:${silent.port}/site.git`, 'production', { username: USER }),
  )
  t.match(err.message, /could not be reached: no answer within 1000ms/)
  t.ok(Date.now() - started < 5000, `failed in ${Date.now() - started}ms`)
  t.ok(silent.accepted() > 0, 'git did connect')
  // Regression: killing git does not kill its `git remote-http` helper, which
  // then held the connection forever. Now curl's low-speed limit ends it.
  t.ok(await silent.drained(5000), 'every connection was closed by the client')
})

t.test('a remote that trickles bytes forever is killed by the backstop timeout', async (t) => {
  const trickle = createHttpServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-advertisement' })
    const timer = setInterval(() => res.write('0000'.repeat(10)), 10) // ~4 KB/s: above the 1 KiB/s low-speed floor
    res.on('close', () => clearInterval(timer))
  })
  await new Promise<void>((resolve) => trickle.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    trickle.closeAllConnections()
    await new Promise<void>((resolve) => trickle.close(() => resolve()))
  })
  const port = (trickle.address() as AddressInfo).port
  const h = heads(t, { timeoutMs: 500 })
  const started = Date.now()
  const err = await gitError(t, h.headCommit(`http://127.0.0.1:${port}/site.git`, 'production', { username: USER }))
  const took = Date.now() - started
  t.match(err.message, /could not be reached: no answer within 500ms/)
  t.match((err.cause as { kind?: string } | undefined)?.kind, 'timeout')
  t.ok(took >= 2000 && took < 6000, `killed after ${took}ms (timeout + 2s grace)`)
})

t.test('a URL with embedded credentials is refused before git runs', async (t) => {
  const h = heads(t)
  const before = { runs: lsRemoteRuns(), requests: server.requests.length }
  const withCreds = server.url('site').replace('http://', `http://${USER}:${TOKEN}@`)
  const err = await gitError(t, h.headCommit(withCreds, 'production'))
  t.match(err.message, /embeds credentials/)
  t.notMatch(err.message, TOKEN)
  // Over HTTPS a bare user name may be the token itself.
  const err2 = await gitError(t, h.headCommit(`https://${TOKEN}@example.invalid/site.git`, 'production'))
  t.match(err2.message, /embeds credentials/)
  t.notMatch(err2.message, TOKEN)
  t.equal(lsRemoteRuns(), before.runs, 'no git process')
  t.equal(server.requests.length, before.requests, 'no request')
  for (const line of logLines) t.notMatch(line, TOKEN)
})

t.test('the askpass dir is private and close() removes it', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'git-heads-tmp-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  // Whitespace around the token (a Secret made from a file) is trimmed.
  const h = createGitHeads({ logger, token: `  ${TOKEN}\n`, tmpDir: tmp })
  t.equal(await h.headCommit(server.url('site'), 'production', { username: USER }), await site.head())
  const [dir, ...others] = readdirSync(tmp)
  t.equal(others.length, 0)
  t.ok(dir)
  const root = join(tmp, dir!)
  t.equal(statSync(root).mode & 0o777, 0o700, 'dir is 0700')
  t.equal(statSync(join(root, 'askpass.sh')).mode & 0o777, 0o700, 'script is 0700')
  t.equal(statSync(join(root, 'token')).mode & 0o777, 0o600, 'token file is 0600')
  t.notMatch(readFileSync(join(root, 'askpass.sh'), 'utf8'), TOKEN, 'the script itself holds no token')
  await h.close()
  t.notOk(existsSync(root), 'removed')
  await h.close() // idempotent
  const err = await gitError(t, h.headCommit(server.url('site'), 'production'))
  t.match(err.message, /shutting down/)
})

t.test('close() aborts a running ls-remote', async (t) => {
  const silent = await silentServer(t)
  const h = createGitHeads({ logger, token: TOKEN, timeoutMs: 60_000 })
  const p = h.headCommit(`http://127.0.0.1:${silent.port}/site.git`, 'production')
  const outcome = gitError(t, p)
  await new Promise((r) => setTimeout(r, 300))
  const started = Date.now()
  await h.close()
  const err = await outcome
  t.match(err.message, /shutting down/)
  t.ok(Date.now() - started < 5000, `closed in ${Date.now() - started}ms`)
})

/** A TCP server that accepts connections and never says a word. */
async function silentServer(
  t: Test,
): Promise<{ port: number; accepted(): number; drained(ms: number): Promise<boolean> }> {
  const sockets = new Set<Socket>()
  let accepted = 0
  const server = createTcpServer((socket) => {
    accepted += 1
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    socket.resume() // read (and drop) the request, so a client's FIN is seen
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    async drained(ms) {
      const until = Date.now() + ms
      while (sockets.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
      return sockets.size === 0
    },
  }
}
