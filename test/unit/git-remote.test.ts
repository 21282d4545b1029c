// The pure rules of src/git/remote.ts: accepted URLs and branches, reading
// ls-remote output, classifying git's stderr, scrubbing secrets.

import t from 'tap'
import {
  checkBranch,
  checkRepoUrl,
  classifyFailure,
  displayRepo,
  failureMessage,
  parseHead,
  redact,
  type GitFailureKind,
} from '../../src/git/remote.ts'
import { isAppError } from '../../src/errors.ts'

const SECRET = 'ghp_S3cr3tT0ken'

t.test('checkRepoUrl', async (t) => {
  const rows: Array<{ repo: string; ok: boolean; error?: RegExp }> = [
    { repo: 'https://github.com/acme/site.git', ok: true },
    { repo: 'http://127.0.0.1:8080/site.git', ok: true },
    { repo: 'ssh://git@github.com/acme/site.git', ok: true },
    { repo: 'git@github.com:acme/site.git', ok: true },
    { repo: 'github.com:acme/site.git', ok: true },
    { repo: 'file:///srv/git/site.git', ok: true },
    { repo: `https://deploy:${SECRET}@github.com/acme/site.git`, ok: false, error: /embeds credentials/ },
    { repo: `https://${SECRET}@github.com/acme/site.git`, ok: false, error: /embeds credentials/ },
    { repo: `http://deploy@127.0.0.1/site.git`, ok: false, error: /embeds credentials/ },
    { repo: `ssh://git:${SECRET}@github.com/acme/site.git`, ok: false, error: /embeds credentials/ },
    { repo: `git:${SECRET}@github.com:acme/site.git`, ok: false, error: /embeds credentials/ },
    { repo: '', ok: false, error: /is empty/ },
    { repo: ' https://github.com/acme/site.git', ok: false, error: /whitespace/ },
    { repo: 'https://github.com/acme/site.git\n', ok: false, error: /whitespace/ },
    { repo: '--upload-pack=/tmp/pwned', ok: false, error: /must not start with "-"/ },
    { repo: 'ext::sh -c touch% /tmp/pwned', ok: false, error: /whitespace/ },
    { repo: 'ext::sh', ok: false, error: /remote helper/ },
    { repo: 'fd::17', ok: false, error: /remote helper/ },
    { repo: 'ftp://example.com/site.git', ok: false, error: /unsupported scheme "ftp:"/ },
    { repo: '/srv/git/site.git', ok: false, error: /must be a URL/ },
    { repo: 'https://[bad', ok: false, error: /not a valid URL/ },
  ]
  for (const row of rows) {
    if (row.ok) {
      t.doesNotThrow(() => checkRepoUrl(row.repo), row.repo)
      continue
    }
    try {
      checkRepoUrl(row.repo)
      t.fail(`accepted ${JSON.stringify(row.repo)}`)
    } catch (err) {
      t.ok(isAppError(err), 'AppError')
      const e = err as Error & { code: string }
      t.equal(e.code, 'KR_GIT')
      t.match(e.message, row.error!, JSON.stringify(row.repo))
      t.notMatch(e.message, SECRET, 'the message never repeats the secret')
    }
  }
})

t.test('displayRepo strips user info', async (t) => {
  t.equal(displayRepo(`https://deploy:${SECRET}@github.com/acme/site.git`), 'https://github.com/acme/site.git')
  t.equal(displayRepo('https://github.com/acme/site.git'), 'https://github.com/acme/site.git')
  t.equal(displayRepo(`git:${SECRET}@github.com:acme/site.git`), 'github.com:acme/site.git')
  t.equal(displayRepo('git@github.com:acme/site.git'), 'git@github.com:acme/site.git')
})

t.test('checkBranch', async (t) => {
  for (const ok of ['production', 'release/2026-11', 'prod_1', 'feature.x', 'a/b/c']) {
    t.doesNotThrow(() => checkBranch(ok), ok)
  }
  for (const bad of [
    '',
    '-production',
    '--heads',
    'a..b',
    'prod*',
    'pro duction',
    'x:y',
    'x~1',
    'x^',
    'a/',
    '/a',
    'a.lock',
    'a//b',
    '@',
    'x@{1}',
    '.hidden',
    'a/.b',
    'x\ny',
    'x[0]',
    'a\\b',
    'end.',
  ]) {
    t.throws(() => checkBranch(bad), { code: 'KR_GIT', message: /branch name .* is not valid/ }, JSON.stringify(bad))
  }
})

t.test('parseHead', async (t) => {
  const sha = 'a'.repeat(40)
  const other = 'b'.repeat(40)
  t.equal(parseHead(`${sha}\trefs/heads/production\n`, 'production'), sha)
  t.equal(parseHead('', 'production'), undefined, 'empty output: no such branch')
  // ls-remote matches patterns by tail: only the exact ref counts.
  t.equal(parseHead(`${other}\trefs/heads/x/refs/heads/production\n${sha}\trefs/heads/production\n`, 'production'), sha)
  t.equal(parseHead(`${other}\trefs/heads/x/refs/heads/production\n`, 'production'), undefined)
  t.equal(parseHead(`${sha}\trefs/heads/production\r\n`, 'production'), sha, 'tolerates CRLF')
  t.equal(parseHead(`not-a-sha\trefs/heads/production\n`, 'production'), undefined)
  const sha256 = 'c'.repeat(64)
  t.equal(parseHead(`${sha256}\trefs/heads/main\n`, 'main'), sha256, 'SHA-256 repositories')
})

t.test('classifyFailure on real git/curl messages (LC_ALL=C)', async (t) => {
  const rows: Array<[string, GitFailureKind]> = [
    ["remote: authentication required\nfatal: Authentication failed for 'http://127.0.0.1:1/site.git/'", 'auth'],
    ["fatal: could not read Username for 'https://github.com': terminal prompts disabled", 'auth'],
    ["fatal: unable to access 'https://h/x.git/': The requested URL returned error: 403", 'auth'],
    ['git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.', 'auth'],
    ["fatal: repository 'http://127.0.0.1:1/nope.git/' not found", 'not-found'],
    ['ERROR: Repository not found.\nfatal: Could not read from remote repository.', 'not-found'],
    [
      "fatal: unable to access 'http://127.0.0.1:1/x.git/': Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server",
      'unreachable',
    ],
    ["fatal: unable to access 'https://nope.invalid/x.git/': Could not resolve host: nope.invalid", 'unreachable'],
    ["fatal: unable to access 'https://h/x.git/': The requested URL returned error: 502", 'unreachable'],
    [
      "fatal: unable to access 'http://127.0.0.1:1/x.git/': Operation too slow. Less than 1 bytes/sec transferred the last 1 seconds",
      'timeout',
    ],
    ["fatal: unable to access 'https://h/x.git/': SSL certificate problem: self-signed certificate", 'tls'],
    [
      "fatal: unable to access 'https://h/x.git/': server certificate verification failed. CAfile: none CRLfile: none",
      'tls',
    ],
    ['Error: spawn git ENOENT', 'no-git'],
    ['fatal: something new and strange', 'unknown'],
  ]
  for (const [stderr, kind] of rows) t.equal(classifyFailure(stderr), kind, stderr)
})

t.test('failureMessage: one fixed message per kind', async (t) => {
  const ctx = { hasToken: true, timeoutMs: 15000 }
  const d = 'https://github.com/acme/site.git'
  t.match(failureMessage('auth', d, ctx), /^git: authentication failed for https:\/\/github.com\/acme\/site.git/)
  t.match(failureMessage('auth', d, { ...ctx, hasToken: false }), /KUBE_RECYCLER_GIT_TOKEN is not set/)
  t.match(failureMessage('not-found', d, ctx), /was not found/)
  t.match(failureMessage('unreachable', d, ctx), /could not be reached$/)
  t.match(failureMessage('timeout', d, ctx), /could not be reached: no answer within 15000ms/)
  t.match(failureMessage('tls', d, ctx), /TLS certificate/)
  t.match(failureMessage('no-git', d, ctx), /git binary could not be started/)
  t.match(failureMessage('unknown', d, ctx), /ls-remote of .* failed/)
})

t.test('redact', async (t) => {
  const basic = Buffer.from(`deploy:${SECRET}`).toString('base64')
  const text = [
    `fatal: unable to access 'https://deploy:${SECRET}@github.com/x.git/'`,
    `token ${SECRET} and ${encodeURIComponent(SECRET)}`,
    `Authorization: Basic ${basic}`,
    `plain base64 ${Buffer.from(SECRET).toString('base64')}`,
    'https://someone@host/x.git',
  ].join('\n')
  const out = redact(text, [SECRET], 'deploy')
  t.notMatch(out, SECRET)
  t.notMatch(out, basic.replace(/=+$/, ''))
  t.notMatch(out, Buffer.from(SECRET).toString('base64').replace(/=+$/, ''))
  t.match(out, 'https://***@github.com/x.git/')
  t.match(out, 'https://***@host/x.git')
  t.match(out, 'Authorization: Basic ***')
  t.equal(redact('nothing secret here', [], undefined), 'nothing secret here')
  t.equal(redact('keep me', [''], 'u'), 'keep me', 'an empty secret replaces nothing')
})
