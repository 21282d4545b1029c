// The newest commit of a branch, read with `git ls-remote` (no clone), cached
// briefly per (repo, branch). This folder is the only place that knows
// simple-git.
//
// Credentials: the token goes to git through GIT_ASKPASS. The askpass script
// lives in a private 0700 temp dir and reads the token from a 0600 file next
// to it, so the token is in no process argument, no URL, no environment
// variable (simple-git's `debug` output prints the child's environment when
// DEBUG=simple-git is set), no error message and no log line. Git runs with a
// private HOME and no system config, so no credential helper from the host
// can store the token or answer instead of us.

import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { GitPluginError, simpleGit } from 'simple-git'
import { Errors, type AppError } from '../errors.ts'
import {
  GitRemoteError,
  checkBranch,
  checkRepoUrl,
  classifyFailure,
  displayRepo,
  failureMessage,
  parseHead,
  redact,
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
   * Give up on a remote that sends nothing for this long (default 15000):
   * curl's low-speed limit inside git, then a kill of git 2s later.
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

// Guarded by simple-git 4 (every GIT_* variable): allowed here, by name.
const ALLOWED_GIT_ENV = [
  'GIT_ASKPASS',
  'GIT_TERMINAL_PROMPT',
  'GIT_CONFIG_NOSYSTEM',
  'GIT_CEILING_DIRECTORIES',
  'GIT_HTTP_LOW_SPEED_LIMIT',
  'GIT_HTTP_LOW_SPEED_TIME',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
]
// Taken from our own environment when set: proxies and CA bundles.
const PASSTHROUGH_ENV = [
  'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'GIT_SSL_CAINFO', 'GIT_SSL_CAPATH',
]

// Git calls it with its prompt as $1: "Username for 'https://host': " or
// "Password for 'https://user@host': ".
const ASKPASS_SCRIPT = `#!/bin/sh
# kube-recycler GIT_ASKPASS helper (made at runtime, removed on shutdown)
case "$1" in
  Username*) printf '%s\\n' "$KUBE_RECYCLER_GIT_USERNAME" ;;
  Password*) cat "$KUBE_RECYCLER_GIT_TOKEN_FILE" ;;
  *) exit 1 ;;
esac
`

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

  function childEnv(d: PrivateDir, username: string): Record<string, string> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: d.home,
      LC_ALL: 'C',
      LANG: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CEILING_DIRECTORIES: d.root,
      // curl gives up by itself on a stalled server. This matters: killing git
      // (what simple-git's timeout does, with SIGINT) does not kill its
      // `git remote-http` helper, which would otherwise sit on the hung
      // connection as an orphan. The kill below stays as the backstop.
      GIT_HTTP_LOW_SPEED_LIMIT: '1',
      GIT_HTTP_LOW_SPEED_TIME: String(Math.max(1, Math.ceil(timeoutMs / 1000))),
    }
    for (const name of PASSTHROUGH_ENV) {
      const v = process.env[name]
      if (v !== undefined && v !== '') env[name] = v
    }
    if (token !== undefined) {
      env.GIT_ASKPASS = d.askpass
      env.KUBE_RECYCLER_GIT_USERNAME = username
      env.KUBE_RECYCLER_GIT_TOKEN_FILE = d.tokenFile
    }
    return env
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
    const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(killAfterMs)])
    const git = simpleGit({
      baseDir: d.home,
      timeout: { block: killAfterMs },
      abort: signal,
      allowEnvironment: ALLOWED_GIT_ENV,
      unsafe: { allowUnsafeAskPass: true },
    }).env(childEnv(d, username))

    const started = performance.now()
    let out: string
    try {
      out = await git.listRemote(['--heads', repo, `refs/heads/${branch}`])
    } catch (err) {
      const ms = Math.round(performance.now() - started)
      let kind: GitFailureKind
      let detail: string
      if (err instanceof GitPluginError && (err.plugin === 'timeout' || err.plugin === 'abort')) {
        if (closing.signal.aborted) throw Errors.git('git: shutting down', { cause: new GitRemoteError('unknown', 'closed') })
        kind = 'timeout'
        detail = err.message
      } else {
        detail = redact(err instanceof Error ? err.message : String(err), secrets, username).trim()
        kind = classifyFailure(detail)
      }
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
        const root = await d.then((x) => x.root, () => undefined)
        if (root !== undefined) await rm(root, { recursive: true, force: true })
      }
    },
  }
}
