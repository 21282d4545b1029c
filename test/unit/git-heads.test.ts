// createGitHeads failures that happen before any git process runs (or when
// none can): bad input, no temp dir, no git binary. The real remote is in
// test/integration/git.test.ts.

import t from 'tap'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { createGitHeads } from '../../src/git/heads.ts'

const SECRET = 'unit-secret-9f1c2e'
const lines: string[] = []
const logger = pino({ level: 'trace' }, { write: (s: string) => void lines.push(s) })

t.afterEach(() => {
  for (const line of lines) t.notMatch(line, SECRET, 'no log line holds the token')
})

t.test('a token with a line break is refused at construction, without echoing it', async (t) => {
  t.throws(() => createGitHeads({ logger, token: `${SECRET}\nmore` }), {
    code: 'KR_GIT',
    message: 'git: KUBE_RECYCLER_GIT_TOKEN must be a single line',
  })
})

t.test('bad input is refused before any I/O', async (t) => {
  const tmp = t.testdir({})
  const h = createGitHeads({ logger, token: SECRET, tmpDir: tmp })
  t.teardown(() => h.close())
  await t.rejects(h.headCommit('https://example.invalid/x.git', '-x'), { code: 'KR_GIT', message: /branch name/ })
  await t.rejects(h.headCommit('https://example.invalid/x.git', 'production', { username: 'a:b' }), {
    code: 'KR_GIT',
    message: /username/,
  })
  await t.rejects(h.headCommit('https://example.invalid/x.git', 'production', { username: '' }), { code: 'KR_GIT' })
  await t.rejects(h.headCommit('-oops', 'production'), { code: 'KR_GIT', message: /must not start with "-"/ })
  t.same(readdirSync(tmp), [], 'no temp dir was made')
})

t.test('a temp dir that cannot be made fails clearly, and the next call retries', async (t) => {
  const tmp = t.testdir({})
  const missing = join(tmp, 'does-not-exist')
  const h = createGitHeads({ logger, token: SECRET, tmpDir: missing })
  t.teardown(() => h.close())
  const err = await h.headCommit('https://example.invalid/x.git', 'production').catch((e: unknown) => e)
  t.match(err, { code: 'KR_GIT', message: 'git: could not prepare the askpass directory' })
  t.notMatch(String((err as Error).cause), SECRET)
  await t.rejects(h.headCommit('https://example.invalid/x.git', 'production'), {
    message: 'git: could not prepare the askpass directory',
  })
})

t.test('no git binary on PATH: a clear error', async (t) => {
  const saved = process.env.PATH
  process.env.PATH = t.testdir({})
  t.teardown(() => {
    process.env.PATH = saved
  })
  const h = createGitHeads({ logger, token: SECRET, tmpDir: t.testdir({}) })
  t.teardown(() => h.close())
  const err = await h.headCommit('https://example.invalid/x.git', 'production').catch((e: unknown) => e)
  t.match(err, { code: 'KR_GIT', message: /git binary could not be started/ })
  t.match((err as Error).cause, { kind: 'no-git' })
})
