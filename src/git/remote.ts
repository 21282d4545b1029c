// Pure helpers for talking to a git remote: which URLs and branch names we
// accept, how `git ls-remote` output is read, how a failure is classified, and
// how secrets are scrubbed from anything git printed. No processes here, so
// every rule is unit-tested (test/unit/git-remote.test.ts).

import { Errors } from '../errors.ts'

/** Why an ls-remote failed. Each kind has one fixed message (see failureMessage). */
export type GitFailureKind = 'auth' | 'not-found' | 'unreachable' | 'tls' | 'timeout' | 'no-git' | 'unknown'

/**
 * The cause attached to an `Errors.git(...)`: the kind, and git's stderr with
 * every secret removed. Safe to log.
 */
export class GitRemoteError extends Error {
  readonly kind: GitFailureKind
  constructor(kind: GitFailureKind, sanitizedDetail: string) {
    super(sanitizedDetail)
    this.name = 'GitRemoteError'
    this.kind = kind
  }
}

const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i
const ALLOWED_PROTOCOLS = new Set(['https:', 'http:', 'ssh:', 'git+ssh:', 'ssh+git:', 'git:', 'file:'])
// scp-like syntax: [user@]host:path (no "//" after the colon, host without "/").
const SCP_LIKE = /^(?:([^@/\s]+)@)?([^@/:\s]+):(?!\/\/)(.+)$/
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * Check a repo URL from the config. Throws Errors.git when it embeds
 * credentials, could be taken for an option, names a remote helper, or is not
 * a URL git understands. The thrown message never repeats a secret.
 */
export function checkRepoUrl(repo: string): void {
  const bad = (why: string): never => {
    throw Errors.git(`git: the repo URL ${why}`)
  }
  if (typeof repo !== 'string' || repo.trim() === '') bad('is empty')
  if (repo !== repo.trim() || CONTROL.test(repo) || /\s/.test(repo)) bad('contains whitespace or control characters')
  if (repo.startsWith('-')) bad('must not start with "-"')

  const scheme = URL_SCHEME.exec(repo)
  if (scheme) {
    let url: URL
    try {
      url = new URL(repo)
    } catch {
      return bad('is not a valid URL')
    }
    if (!ALLOWED_PROTOCOLS.has(url.protocol)) bad(`uses the unsupported scheme "${url.protocol}"`)
    const web = url.protocol === 'https:' || url.protocol === 'http:'
    // Over HTTP(S) even a bare user name may be a token (https://TOKEN@host/...).
    if (url.password !== '' || (web && url.username !== '')) {
      bad(
        `${displayRepo(repo)} embeds credentials (user:password@); ` +
          'put the user name in git.username and the token in KUBE_RECYCLER_GIT_TOKEN',
      )
    }
    return
  }
  if (repo.includes('::')) bad('names a git remote helper ("<transport>::"), which is not allowed')
  const scp = SCP_LIKE.exec(repo)
  if (scp) {
    if (scp[1]?.includes(':')) {
      bad(`${displayRepo(repo)} embeds credentials (user:password@); put the token in KUBE_RECYCLER_GIT_TOKEN`)
    }
    return
  }
  bad('must be a URL (https://host/org/repo.git) or host:path')
}

/**
 * The scheme and host (with the port as written) of an http(s) remote, as
 * git writes them in its credential prompts; undefined for other transports.
 */
export function remoteOrigin(repo: string): { scheme: 'http' | 'https'; host: string } | undefined {
  const m = /^(https?):\/\/([^/?#@\s]+)/i.exec(repo)
  if (!m) return undefined
  return { scheme: m[1]!.toLowerCase() as 'http' | 'https', host: m[2]! }
}

/**
 * With a token set, plain http:// is refused (the token would cross the
 * network in clear), except to a loopback address, where it never leaves
 * the host (a sidecar, a port-forward, the tests' git server).
 */
export function checkTokenTransport(repo: string): void {
  const o = remoteOrigin(repo)
  if (!o || o.scheme !== 'http') return
  const host = o.host
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
  const loopback = host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host)
  if (!loopback) {
    throw Errors.git(
      `git: refusing to send KUBE_RECYCLER_GIT_TOKEN over plain http:// to ${o.host}; use an https:// URL in git.repo`,
    )
  }
}

/** The repo URL as it may appear in a message or a log line: no user info at all. */
export function displayRepo(repo: string): string {
  if (URL_SCHEME.test(repo)) {
    try {
      const url = new URL(repo)
      url.username = ''
      url.password = ''
      return url.href
    } catch {
      return repo.replace(/\/\/[^/@]*@/, '//')
    }
  }
  const scp = SCP_LIKE.exec(repo)
  if (scp?.[1]?.includes(':')) return `${scp[2]}:${scp[3]}`
  return repo
}

/**
 * Check a branch name the way `git check-ref-format --branch` would, enough
 * that it cannot be read as an option or a pattern.
 */
export function checkBranch(branch: string): void {
  const ok =
    typeof branch === 'string' &&
    branch !== '' &&
    branch !== '@' &&
    !branch.startsWith('-') &&
    !branch.startsWith('/') &&
    !branch.endsWith('/') &&
    !branch.endsWith('.') &&
    !branch.endsWith('.lock') &&
    !branch.includes('..') &&
    !branch.includes('//') &&
    !branch.includes('@{') &&
    !branch.includes('/.') &&
    !branch.startsWith('.') &&
    !CONTROL.test(branch) &&
    !/[\s~^:?*[\\]/.test(branch)
  if (!ok) throw Errors.git(`git: the branch name ${JSON.stringify(String(branch))} is not valid`)
}

const SHA = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/

/**
 * The sha of `refs/heads/<branch>` in `git ls-remote` output, or undefined.
 * ls-remote matches its patterns by tail (`refs/heads/a/refs/heads/x` matches
 * `refs/heads/x`), so only an exact ref name counts.
 */
export function parseHead(stdout: string, branch: string): string | undefined {
  const want = `refs/heads/${branch}`
  for (const line of stdout.split('\n')) {
    const tab = line.indexOf('\t')
    if (tab < 0) continue
    const sha = line.slice(0, tab).trim()
    const ref = line.slice(tab + 1).trim()
    if (ref === want && SHA.test(sha)) return sha
  }
  return undefined
}

// Git runs with LC_ALL=C, so these are git's and curl's English messages.
const RULES: Array<[GitFailureKind, RegExp]> = [
  ['no-git', /spawn \S*git\S* ENOENT|ENOENT|EACCES/],
  [
    'auth',
    /Authentication failed|could not read (?:Username|Password)|terminal prompts disabled|Invalid username or password|HTTP Basic: Access denied|returned error: 40[13]\b|Permission denied \(publickey|Host key verification failed/i,
  ],
  [
    'not-found',
    /repository '[^']*' not found|Repository not found|returned error: 404\b|does not appear to be a git repository|no such repository/i,
  ],
  ['timeout', /Operation too slow|Operation timed out after|Resolving timed out after/i],
  [
    'tls',
    /SSL certificate problem|server certificate verification failed|SSL_ERROR|certificate verify failed|gnutls_handshake|TLS (?:handshake|connect error)/i,
  ],
  [
    'unreachable',
    /Could not resolve host|Could not resolve hostname|Failed to connect|Couldn't connect|Connection refused|Connection timed out|Operation timed out|Network is unreachable|No route to host|Connection reset|Empty reply from server|Recv failure|Send failure|unable to access|Could not read from remote repository|returned error: 5\d\d\b/i,
  ],
]

export function classifyFailure(stderr: string): GitFailureKind {
  for (const [kind, re] of RULES) if (re.test(stderr)) return kind
  return 'unknown'
}

/** The one message per failure kind. `display` is the repo without user info. */
export function failureMessage(
  kind: GitFailureKind,
  display: string,
  ctx: { hasToken: boolean; timeoutMs: number },
): string {
  switch (kind) {
    case 'auth':
      return ctx.hasToken
        ? `git: authentication failed for ${display} (check git.username and KUBE_RECYCLER_GIT_TOKEN)`
        : `git: authentication failed for ${display}: the remote wants credentials and KUBE_RECYCLER_GIT_TOKEN is not set`
    case 'not-found':
      return `git: the repository ${display} was not found (or the credentials cannot see it)`
    case 'unreachable':
      return `git: the remote ${display} could not be reached`
    case 'tls':
      return `git: the TLS certificate of ${display} could not be verified`
    case 'timeout':
      return `git: the remote ${display} could not be reached: no answer within ${ctx.timeoutMs}ms`
    case 'no-git':
      return 'git: the git binary could not be started (is git installed and on PATH?)'
    case 'unknown':
      return `git: ls-remote of ${display} failed`
  }
}

/**
 * Remove secrets from text git or curl printed: each secret verbatim, its
 * base64 forms (as in an Authorization header), and any URL user info.
 */
export function redact(text: string, secrets: readonly string[], username?: string): string {
  let out = text
  const needles = new Set<string>()
  for (const s of secrets) {
    if (!s) continue
    needles.add(s)
    needles.add(encodeURIComponent(s))
    needles.add(Buffer.from(s).toString('base64').replace(/=+$/, ''))
    if (username !== undefined) needles.add(Buffer.from(`${username}:${s}`).toString('base64').replace(/=+$/, ''))
  }
  // Longest first, so a secret inside a longer needle is not half-replaced.
  for (const n of [...needles].filter((n) => n.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(n).join('***')
  }
  return out
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@')
    .replace(/(Authorization:\s*\S+)\s+\S+/gi, '$1 ***')
}
