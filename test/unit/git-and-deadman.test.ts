// The production-head seam: the recycle pins what `git ls-remote` says, and a
// remote that cannot be read follows the site's onGitError. Real git, a real
// (closed) port; a fake executor in place of the cluster. Also the
// dead-man's switch: a Jenkins job that stops reporting marks the site stale.

import t from 'tap'
import { closedPort } from '../fixtures/ports.ts'
import { createGitHeads } from '../../src/git/heads.ts'
import type { CommitResolver } from '../../src/recycle/runner.ts'
import { startGitServer } from '../fixtures/git-server.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'
import { SECRETS, testApp } from '../fixtures/app.ts'
import { quietLogger } from '../fixtures/engine.ts'

const op = { authorization: `Bearer ${SECRETS.recycleToken}`, 'content-type': 'application/json' }

function resolver(token: string): { commits: CommitResolver; close(): Promise<void> } {
  const heads = createGitHeads({ logger: quietLogger(), token })
  return {
    commits: {
      headCommit: (site) =>
        heads.headCommit(site.git!.repo, site.git!.branch, { username: site.git!.username, cacheMs: 0 }),
    },
    close: () => heads.close(),
  }
}

t.test('the recycle pins the production head found by ls-remote', async (t) => {
  const git = await startGitServer({ username: 'deploy', password: 'tok-1' })
  t.teardown(() => git.close())
  const repo = await git.createRepo('site')
  const head = await repo.push('release')
  const r = resolver('tok-1')
  t.teardown(() => r.close())
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'ok' } })
  const h = await testApp({
    config: `sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    git: { repo: "${git.url('site')}", username: deploy }\n`,
    extra: { executor: ex, commits: r.commits },
  })
  t.teardown(() => h.app.close())
  // The operator's commit loses to the production head: the branch is the truth.
  const res = await h.app.inject({
    method: 'POST',
    url: '/recycle',
    headers: op,
    payload: { site: 'shop', reason: 'pin', commit: 'abcdef1' },
  })
  t.equal(res.statusCode, 202)
  await h.app.core.recycler.idle()
  t.equal(ex.runs[0]!.commit, head)
  const rec = h.app.core.recycler.get(res.json().id)!
  t.match(
    rec.steps.map((s) => s.message).join('\n'),
    new RegExp(`production head of production is ${head.slice(0, 12)}`),
  )
})

for (const mode of ['skip', 'recycle-unpinned'] as const) {
  t.test(`an unreachable remote follows onGitError: ${mode}`, async (t) => {
    const port = await closedPort()
    const r = resolver('tok-2')
    t.teardown(() => r.close())
    const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'ok' } })
    const h = await testApp({
      config: `sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    git: { repo: "http://127.0.0.1:${port}/site.git" }\n    recycle: { onGitError: ${mode} }\n`,
      extra: { executor: ex, commits: r.commits },
    })
    t.teardown(() => h.app.close())
    const res = await h.app.inject({
      method: 'POST',
      url: '/recycle',
      headers: op,
      payload: { site: 'shop', reason: 'git down' },
    })
    await h.app.core.recycler.idle()
    const rec = h.app.core.recycler.get(res.json().id)!
    if (mode === 'skip') {
      t.equal(rec.state, 'skipped')
      t.match(rec.reason, /^git: .*could not be reached/)
      t.equal(ex.runs.length, 0, 'nothing happens in the cluster')
    } else {
      t.equal(rec.state, 'succeeded')
      t.equal(ex.runs.length, 1)
      t.equal(ex.runs[0]!.commit, undefined, 'recycled without a pin')
      t.match(rec.steps.map((s) => s.message).join('\n'), /recycling unpinned \(onGitError: recycle-unpinned\)/)
    }
    t.notOk(h.logs.join('').includes('tok-2'), 'the token is in no log line')
  })
}

t.test('dead-man switch: Jenkins silent past expectEvery marks the site stale (no restart)', async (t) => {
  const ex = fakeExecutor()
  const h = await testApp({
    config: `sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n    jenkins: { jobs: [j], expectEvery: 90m }\n`,
    extra: { executor: ex },
  })
  t.teardown(() => h.app.close())
  const stale = async () => (await h.app.inject({ method: 'GET', url: '/status' })).json().sites[0].stale
  t.equal(await stale(), false)
  h.clock.advance(91 * 60_000)
  t.equal(await stale(), true, 'no report since start for 91 minutes')
  await h.app.inject({
    method: 'POST',
    url: '/webhooks/jenkins',
    headers: { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' },
    payload: { job: 'j', build: 1, status: 'SUCCESS' },
  })
  t.equal(await stale(), false, 'a report clears it')
  h.clock.advance(89 * 60_000)
  t.equal(await stale(), false)
  h.clock.advance(2 * 60_000)
  t.equal(await stale(), true)
  t.equal(ex.runs.length, 0, 'staleness never restarts')
  const html = (await h.app.inject({ method: 'GET', url: '/status?format=html' })).body
  t.match(html, /unknown · stale|healthy · stale/)
})
