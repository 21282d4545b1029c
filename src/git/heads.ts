// The newest commit of a branch, read with `git ls-remote` (no clone), cached
// briefly per (repo, branch). This folder is the only place that runs git.
//
// Credentials: the token goes to git through GIT_ASKPASS. The askpass script
// lives in a private 0700 temp dir and reads the token from a 0600 file next
// to it, so the token is in no process argument, no URL, no environment
// variable, no error message and no log line. Git runs with a private HOME
// and no system config, so no credential helper from the host can store the
// token or answer instead of us. The script answers only the prompts for the
// configured remote's own origin, git follows no redirect
// (http.followRedirects=false), and the token is never sent over plain
// http:// except to a loopback address: a remote that answers 302 to another
// host gets nothing (issue 11, point 3).
//
// Processes: git is started in its own process group and the whole group is
// killed when the call ends, in time or not. Killing only git (what
// simple-git's timeout did) left its `git remote-http` helper running,
// re-parented, one per refresh, against a remote that trickles bytes fast
// enough to beat curl's low-speed limit (point 5). So git is spawned here
// with node:child_process rather than through simple-git, which cannot
// start a process group or say the child's pid.

import { spawn } from 'node:child_process'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { Errors, type AppError } from '../errors.ts'
import {
  GitRemoteError,
  checkBranch,
  checkRepoUrl,
  checkTokenTransport,
  classifyFailure,
  displayRepo,
  failureMessage,
  parseHead,
  redact,
  remoteOrigin,
  type GitFailureKind,
} from './remote.ts'

export interface GitHeads {
  /**
   * The sha of `refs/heads/<branch>` on `repo`. Rejects with `Errors.git(...)`
   * (code KR_GIT) when the URL is refused, authentication fails, the remote
   * cannot be reached, or the branch does not exist.
   */
  headCommit(repo: string, branch: string, opts?: { username?: string; cacheMs?: number }): Promise<string>
  /** Aborts running ls-remotes and removes the askpass temp dir. Idempotent. */
  close(): Promise<void>
}

export interface GitHeadsOptions {
  logger: Logger
  /** KUBE_RECYCLER_GIT_TOKEN: the password sent with the username. */
  token?: string
  /** Clock for the cache (ms). */
  now?: () => number
  /** Where the private askpass dir is made (default: the OS temp dir). Must allow exec. */
  tmpDir?: string
  /**
   * Give up on a remote that sends less than 1 KiB/s for this long (default
   * 15000): curl's low-speed limit inside git, then a kill of git 2s later.
   */
  timeoutMs?: number
  /** Cache time when a call does not say (default 30000). */
  cacheMs?: number
}

/** Used when the config gives no username: hosts that take a token as the password accept any name. */
export const DEFAULT_GIT_USERNAME = 'git'
const DEFAULT_CACHE_MS = 30_000
const DEFAULT_TIMEOUT_MS = 15_000
const KILL_GRACE_MS = 2_000
/** http.lowSpeedLimit: slower than this for the whole timeout, curl ends the transfer. */
const LOW_SPEED_BYTES_PER_S = 1000

// Taken from our own environment when set: proxies and CA bundles.
const PASSTHROUGH_ENV = [
  'HTTPS_PROXY',
  'https_proxy',
  'HTTP_PROXY',
  'http_proxy',
  'ALL_PROXY',
  'all_proxy',
  'NO_PROXY',
  'no_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
]

// Git calls it with its prompt as $1: "Username for 'https://host': " or
// "Password for 'https://user@host': ". Only the configured remote's own
// prompts are answered (exact strings, set per run): a prompt for any other
// host (a redirect, a proxy) gets nothing and git fails.
const ASKPASS_SCRIPT = `#!/bin/sh
# kube-recycler GIT_ASKPASS helper (made at runtime, removed on shutdown)
case "$1" in
  "Username for '$KUBE_RECYCLER_GIT_ORIGIN': ") printf '%s\\n' "$KUBE_RECYCLER_GIT_USERNAME" ;;
  "Password for '$KUBE_RECYCLER_GIT_USER_ORIGIN': ") cat "$KUBE_RECYCLER_GIT_TOKEN_FILE" ;;
  *) exit 1 ;;
esac
`

/** Most output one ls-remote may produce; more is a hostile remote (one ref is ~60 bytes). */
const MAX_OUTPUT_BYTES = 1024 * 1024

interface PrivateDir {
  root: string
  home: string
  askpass: string
  tokenFile: string
}

interface CacheEntry {
  sha: string
  at: number
}

export function createGitHeads(opts: GitHeadsOptions): GitHeads {
  const log = opts.logger.child({ component: 'git' })
  const now = opts.now ?? Date.now
  const token = opts.token !== undefined && opts.token.trim() !== '' ? opts.token.trim() : undefined
  if (token !== undefined && /[\r\n\0]/.test(token)) {
    throw Errors.git('git: KUBE_RECYCLER_GIT_TOKEN must be a single line')
  }
  const secrets = token !== undefined ? [token] : []
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const defaultCacheMs = opts.cacheMs ?? DEFAULT_CACHE_MS
  const cache = new Map<string, CacheEntry>()
  const inflight = new Map<string, Promise<string>>()
  const closing = new AbortController()
  let dir: Promise<PrivateDir> | undefined
  let closed = false

  function privateDir(): Promise<PrivateDir> {
    dir ??= (async () => {
      const root = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'kube-recycler-git-')) // mode 0700
      const home = join(root, 'home')
      const askpass = join(root, 'askpass.sh')
      const tokenFile = join(root, 'token')
      try {
        await mkdir(home, { mode: 0o700 })
        await writeFile(askpass, ASKPASS_SCRIPT, { mode: 0o700, flag: 'wx' })
        if (token !== undefined) await writeFile(tokenFile, `${token}\n`, { mode: 0o600, flag: 'wx' })
      } catch (err) {
        await rm(root, { recursive: true, force: true })
        throw err
      }
      return { root, home, askpass, tokenFile }
    })()
    dir.catch(() => {
      dir = undefined
    })
    return dir
  }

  function childEnv(d: PrivateDir, repo: string, username: string): Record<string, string> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: d.home,
      LC_ALL: 'C',
      LANG: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CEILING_DIRECTORIES: d.root,
      // No transport helpers (ext::, fd::) even if a URL slipped through.
      GIT_ALLOW_PROTOCOL: 'http:https:ssh:git:file',
      // curl gives up by itself on a server slower than about 1 KiB/s over
      // the timeout (an ls-remote answer is a few hundred bytes, sent at
      // once); the group kill below is the backstop for one that trickles
      // faster than that forever. A floor of 1 byte/s let a remote sending
      // a few bytes a second hold every refresh until the kill.
      GIT_HTTP_LOW_SPEED_LIMIT: String(LOW_SPEED_BYTES_PER_S),
      GIT_HTTP_LOW_SPEED_TIME: String(Math.max(1, Math.ceil(timeoutMs / 1000))),
      // Config through the environment (git >= 2.31): never follow a
      // redirect, so the credentials go to the configured host or nowhere.
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.followRedirects',
      GIT_CONFIG_VALUE_0: 'false',
    }
    for (const name of PASSTHROUGH_ENV) {
      const v = process.env[name]
      if (v !== undefined && v !== '') env[name] = v
    }
    if (token !== undefined) {
      const origin = remoteOrigin(repo)
      env.GIT_ASKPASS = d.askpass
      env.KUBE_RECYCLER_GIT_USERNAME = username
      env.KUBE_RECYCLER_GIT_TOKEN_FILE = d.tokenFile
      // An origin we cannot name (scp-like ssh) gets no answers at all.
      env.KUBE_RECYCLER_GIT_ORIGIN = origin ? `${origin.scheme}://${origin.host}` : '\n'
      env.KUBE_RECYCLER_GIT_USER_ORIGIN = origin ? `${origin.scheme}://${username}@${origin.host}` : '\n'
    }
    return env
  }

  /**
   * Runs `git ls-remote` in its own process group. Resolves with stdout on
   * exit 0; rejects with { kind, detail } otherwise. Whatever happens, the
   * whole group is killed before this settles, so no helper outlives it.
   */
  function runLsRemote(args: string[], env: Record<string, string>, cwd: string, killAfterMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
      const out: Buffer[] = []
      let outBytes = 0
      let err = ''
      let ended: 'timeout' | 'closed' | 'too-much' | undefined
      // The group's id is git's pid. After git is reaped the id stays taken
      // while any helper of the group lives (those are what we kill); a
      // fresh process could only get it after the pid counter wraps.
      const killGroup = (): void => {
        if (child.pid === undefined) return
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {
          // ESRCH: the group is gone already.
        }
      }
      const stop = (why: 'timeout' | 'closed' | 'too-much'): void => {
        ended ??= why
        killGroup()
      }
      const timer = setTimeout(() => stop('timeout'), killAfterMs)
      const onAbort = (): void => stop('closed')
      closing.signal.addEventListener('abort', onAbort, { once: true })
      if (closing.signal.aborted) onAbort() // close() came while the dir was being made
      child.stdout.on('data', (b: Buffer) => {
        outBytes += b.length
        if (outBytes > MAX_OUTPUT_BYTES) return stop('too-much')
        out.push(b)
      })
      child.stderr.on('data', (b: Buffer) => {
        err = (err + b.toString('utf8')).slice(-16_384)
      })
      child.on('error', (e: NodeJS.ErrnoException) => {
        err += `spawn git ${e.code ?? 'error'}`
      })
      child.on('close', (code) => {
        clearTimeout(timer)
        closing.signal.removeEventListener('abort', onAbort)
        // git is gone; anything it left in its group goes too.
        killGroup()
        if (ended === 'closed') return reject({ kind: 'closed', detail: 'closed' })
        if (ended === 'timeout') return reject({ kind: 'timeout', detail: `killed after ${killAfterMs}ms` })
        if (ended === 'too-much')
          return reject({ kind: 'unknown', detail: `more than ${MAX_OUTPUT_BYTES} bytes of output` })
        if (code === 0) return resolve(Buffer.concat(out).toString('utf8'))
        reject({ kind: undefined, detail: err })
      })
    })
  }

  function fail(kind: GitFailureKind, display: string, detail: string): AppError {
    const message = failureMessage(kind, display, { hasToken: token !== undefined, timeoutMs })
    return Errors.git(message, { cause: new GitRemoteError(kind, detail) })
  }

  async function lsRemote(repo: string, branch: string, username: string): Promise<string> {
    const display = displayRepo(repo)
    let d: PrivateDir
    try {
      d = await privateDir()
    } catch (err) {
      throw Errors.git('git: could not prepare the askpass directory', {
        cause: new Error(redact(String(err), secrets, username)),
      })
    }
    // The backstop kill comes a little after curl's own low-speed limit.
    const killAfterMs = timeoutMs + KILL_GRACE_MS
    const started = performance.now()
    let out: string
    try {
      out = await runLsRemote(
        ['ls-remote', '--heads', repo, `refs/heads/${branch}`],
        childEnv(d, repo, username),
        d.home,
        killAfterMs,
      )
    } catch (failure) {
      const ms = Math.round(performance.now() - started)
      const f = failure as { kind: GitFailureKind | 'closed' | undefined; detail: string }
      if (f.kind === 'closed')
        throw Errors.git('git: shutting down', { cause: new GitRemoteError('unknown', 'closed') })
      const detail = redact(f.detail, secrets, username).trim()
      const kind = f.kind ?? classifyFailure(detail)
      log.warn({ repo: display, branch, kind, ms, stderr: detail.slice(0, 2000) }, 'git ls-remote failed')
      throw fail(kind, display, detail)
    }
    const ms = Math.round(performance.now() - started)
    const sha = parseHead(out, branch)
    if (sha === undefined) {
      log.warn({ repo: display, branch, ms }, 'git branch not found')
      throw Errors.git(`git: branch "${branch}" does not exist in ${display}`)
    }
    log.debug({ repo: display, branch, sha, ms }, 'git ls-remote')
    return sha
  }

  return {
    async headCommit(repo, branch, callOpts = {}) {
      if (closed) throw Errors.git('git: shutting down')
      checkRepoUrl(repo)
      if (token !== undefined) checkTokenTransport(repo)
      checkBranch(branch)
      const username = callOpts.username ?? DEFAULT_GIT_USERNAME
      if (username === '' || /[:\r\n\0]/.test(username)) {
        throw Errors.git('git: the username must be non-empty and contain no ":" or line breaks')
      }
      const cacheMs = callOpts.cacheMs ?? defaultCacheMs
      const key = `${repo}\n${branch}`

      const hit = cache.get(key)
      if (hit !== undefined && now() - hit.at < cacheMs) {
        log.trace({ repo: displayRepo(repo), branch, sha: hit.sha }, 'git head from cache')
        return hit.sha
      }
      const running = inflight.get(key)
      if (running !== undefined) return running

      const at = now()
      const p = lsRemote(repo, branch, username)
        .then((sha) => {
          cache.set(key, { sha, at })
          return sha
        })
        .finally(() => inflight.delete(key))
      inflight.set(key, p)
      return p
    },

    async close() {
      if (closed) return
      closed = true
      closing.abort()
      await Promise.allSettled([...inflight.values()])
      const d = dir
      dir = undefined
      if (d !== undefined) {
        const root = await d.then(
          (x) => x.root,
          () => undefined,
        )
        if (root !== undefined) await rm(root, { recursive: true, force: true })
      }
    },
  }
}
