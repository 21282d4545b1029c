// The pure parts of `status` and `recycle`: the exit code of each outcome,
// the table, the service URL, and text from the service made safe for a
// terminal. The commands against a real service: test/e2e/cli-service.test.ts.

import t from 'tap'
import { printable, serviceUrl } from '../../src/cli/client.ts'
import { UsageError, type CliContext } from '../../src/cli/args.ts'
import { describeRecycle, finished, RECYCLE_EXIT, recycleCommand, recycleExitCode } from '../../src/cli/recycle.ts'
import { ago, jsonForTerminal, renderStatus, statusCommand } from '../../src/cli/status.ts'
import type { RecycleRecord } from '../../src/state/schema.ts'
import type { StatusModel } from '../../src/status/model.ts'
import { SECRETS, testApp } from '../fixtures/app.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'

t.test('recycle: the exit code and the last line, by outcome', async (t) => {
  const rows: [Pick<RecycleRecord, 'state' | 'verification'>, boolean, number][] = [
    // record, finished, exit code
    [{ state: 'pending' }, false, RECYCLE_EXIT.ok],
    [{ state: 'running' }, false, RECYCLE_EXIT.ok],
    [{ state: 'planned' }, true, RECYCLE_EXIT.ok],
    [{ state: 'succeeded' }, true, RECYCLE_EXIT.ok],
    [{ state: 'succeeded', verification: 'pending' }, false, RECYCLE_EXIT.ok],
    [{ state: 'succeeded', verification: 'recovered' }, true, RECYCLE_EXIT.ok],
    [{ state: 'succeeded', verification: 'recycle-did-not-help' }, true, RECYCLE_EXIT.didNotHelp],
    [{ state: 'failed' }, true, RECYCLE_EXIT.failed],
    [{ state: 'skipped' }, true, RECYCLE_EXIT.skipped],
  ]
  for (const [r, done, code] of rows) {
    t.equal(finished(r), done, `${r.state}/${r.verification ?? '-'} finished: ${done}`)
    t.equal(recycleExitCode(r), code, `${r.state}/${r.verification ?? '-'} exits ${code}`)
  }
  t.same(Object.values(RECYCLE_EXIT), [0, 1, 2, 3, 4, 5, 6], 'the codes the usage text lists')
  const base: RecycleRecord = {
    id: 'rc-1',
    site: 'shop',
    target: 'Deployment/shop/web',
    strategy: 'rollout',
    trigger: { source: 'operator', reason: 'x' },
    dryRun: false,
    state: 'succeeded',
    steps: [],
    createdAt: '2026-12-02T04:00:00.000Z',
  }
  t.equal(describeRecycle({ ...base, verification: 'recovered' }), 'rc-1: succeeded, recovered')
  t.equal(describeRecycle({ ...base, state: 'planned', dryRun: true }), 'rc-1: planned (dry-run: nothing changed)')
  t.equal(
    describeRecycle({ ...base, state: 'skipped', reason: 'cooldown: 3 s ago', repeats: 4 }),
    'rc-1: skipped: cooldown: 3 s ago (refused 4 times in a row)',
  )
  t.equal(
    describeRecycle({ ...base, state: 'failed', reason: 'boom\u001b[2J' }),
    'rc-1: failed: boom\\u001b[2J',
    'an escape from the service is shown, not obeyed',
  )
  t.equal(describeRecycle({ ...base, state: 'running', verification: 'pending' }), 'rc-1: running, verifying')
})

t.test('the service URL: --url, then KUBE_RECYCLER_URL, then 127.0.0.1:8080; no credentials or query', async (t) => {
  t.equal(serviceUrl(undefined, {}).href, 'http://127.0.0.1:8080/')
  t.equal(serviceUrl(undefined, { KUBE_RECYCLER_URL: 'https://kr.example/base/' }).href, 'https://kr.example/base')
  t.equal(serviceUrl('http://a:1', { KUBE_RECYCLER_URL: 'http://b:2' }).host, 'a:1', '--url wins')
  for (const [bad, message] of [
    ['kube-recycler:8080', /must be http: or https:/],
    ['not a url', /absolute http\(s\) URL/],
    ['http://u:p@host', /must not contain credentials; set KUBE_RECYCLER_RECYCLE_TOKEN/],
    ['http://host/?x=1', /query string/],
  ] as const) {
    t.throws(() => serviceUrl(bad, {}), { name: 'UsageError', message }, bad)
    t.type(
      (() => {
        try {
          serviceUrl(bad, {})
        } catch (e) {
          return e
        }
      })(),
      UsageError,
    )
  }
})

t.test('printable and jsonForTerminal: control characters from the service are shown escaped', async (t) => {
  t.equal(printable('ok\u001b]0;pwned\u0007 \u009b31m'), 'ok\\u001b]0;pwned\\u0007 \\u009b31m')
  t.equal(printable('two\nlines\ttab'), 'two lines tab')
  t.equal(printable('café ✓'), 'café ✓', 'printable text is untouched')
  const j = jsonForTerminal({ s: 'a\u009bb\u0000' })
  t.equal(j, '{\n  "s": "a\\u009bb\\u0000"\n}')
  t.same(JSON.parse(j), { s: 'a\u009bb\u0000' }, 'still the same JSON')
})

t.test('ago: seconds, minutes, hours, days; a future time is now', async (t) => {
  const now = Date.parse('2026-12-02T12:00:00Z')
  const at = (ms: number) => new Date(now - ms).toISOString()
  t.same(
    [
      ago(at(12_000), now),
      ago(at(5 * 60_000), now),
      ago(at(3 * 3_600_000), now),
      ago(at(3 * 86_400_000), now),
      ago(at(-5000), now),
      ago(undefined, now),
      ago('garbage', now),
    ],
    ['12s ago', '5m ago', '3h ago', '3d ago', '0s ago', '', ''],
  )
})

t.test('the status table: a row per site, then what an operator must know', async (t) => {
  const now = Date.parse('2026-12-02T12:00:00Z')
  const model: StatusModel = {
    service: {
      version: '0.1.0',
      startedAt: '2026-12-02T11:00:00.000Z',
      dryRun: false,
      cluster: 'connected',
      replica: 'kr-a1',
      leader: true,
      ready: true,
      paused: null,
    },
    sites: [
      {
        name: 'shop',
        target: 'Deployment/shop/web',
        strategy: 'rollout',
        health: 'failing',
        consecutiveFailures: 3,
        circuitOpen: true,
        stale: true,
        paused: null,
        mode: 'auto',
        waiting: null,
        lastVerdict: {
          site: 'shop',
          ok: false,
          source: 'jenkins',
          at: '2026-12-02T11:59:30.000Z',
          summary: 'shop-integrity #9 FAILURE: home failed',
          checks: [{ name: 'home', ok: false, warnings: ['the certificate of shop:443 expires in 3 days'] }],
        },
        lastRecycle: {
          id: 'rc-9',
          site: 'shop',
          target: 'Deployment/shop/web',
          strategy: 'rollout',
          trigger: { source: 'probe', reason: 'x' },
          dryRun: false,
          state: 'succeeded',
          verification: 'recycle-did-not-help',
          createdAt: '2026-12-02T11:50:00.000Z',
          url: '/recycles/rc-9',
        },
        note: 'recycle-did-not-help: automatic recycles stopped',
        git: { branch: 'production', head: 'b'.repeat(40), running: 'a'.repeat(40), drift: true },
      },
      {
        name: 'blog\u001b[31m',
        target: 'Deployment/blog/web',
        strategy: 'rollout',
        health: 'healthy',
        consecutiveFailures: 0,
        circuitOpen: false,
        stale: false,
        lastVerdict: null,
        lastRecycle: null,
        paused: null,
        mode: 'auto',
        waiting: null,
      },
    ],
    recent: [],
  }
  t.equal(
    renderStatus(model, now),
    [
      'kube-recycler 0.1.0, replica kr-a1 (leader), cluster connected, ready, up since 2026-12-02T11:00:00.000Z',
      '',
      'SITE            HEALTH                          FAILURES  TARGET               LAST VERDICT                                                  LAST RECYCLE',
      'shop            failing (circuit open) (stale)  3         Deployment/shop/web  FAIL jenkins 30s ago: shop-integrity #9 FAILURE: home failed  rc-9 succeeded, recycle-did-not-help 10m ago',
      'blog\\u001b[31m  healthy                         0         Deployment/blog/web  -                                                             -',
      '',
      'shop: circuit open: automatic recycles stopped (recycle by hand once the cause is fixed)',
      'shop: stale: no Jenkins report yet',
      'shop: drift: runs aaaaaaaaaaaa, the production head is bbbbbbbbbbbb',
      'shop: recycle-did-not-help: automatic recycles stopped',
      'shop: home: the certificate of shop:443 expires in 3 days',
      '',
    ].join('\n'),
  )
  t.match(
    renderStatus({ ...model, service: { ...model.service, dryRun: true, note: 'no cluster' }, sites: [] }, now),
    /^DRY-RUN: no cluster; recycles are planned and recorded, nothing changes in the cluster\n\nno sites configured\n$/m,
  )
})

t.test('status and recycle in-process against a listening app (a fake executor): the follow loop', async (t) => {
  const ex = fakeExecutor()
  const h = await testApp({ extra: { executor: ex, sweepEveryMs: 50 } })
  t.teardown(() => h.app.close())
  const url = await h.app.listen({ host: '127.0.0.1', port: 0 })
  const run = async (command: (c: CliContext) => Promise<number>, args: string[]) => {
    const out = { stdout: '', stderr: '' }
    const code = await command({
      args: [...args, '--url', url],
      env: { KUBE_RECYCLER_RECYCLE_TOKEN: SECRETS.recycleToken },
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
    })
    return { code, ...out }
  }
  const s = await run(statusCommand, [])
  t.equal(s.code, 0)
  t.match(s.stdout, /^shop\s+unknown\s+0\s+Deployment\/shop\/web/m)
  t.match((await run(statusCommand, ['--json'])).stdout, /^\{\n {2}"service": \{/)

  // The fake run ends only when the test says: --wait polls until then, printing each step once.
  const following = run(recycleCommand, ['shop', '--reason', 'in-process', '--wait', '--timeout', '30s'])
  await ex.waitRuns(1, 10_000)
  await new Promise((r) => setTimeout(r, 1200))
  ex.finish({ state: 'succeeded', message: 'rolled out (fake)' })
  const r = await following
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^recycle rc-[\w-]+ of shop \(rollout\): pending$/m)
  t.match(r.stdout, /^ {2}\S+ {2}recycle requested by operator: in-process$/m)
  t.match(r.stdout, /^ {2}\S+ {2}rolled out \(fake\)$/m)
  t.match(r.stdout, /^rc-[\w-]+: succeeded$/m)

  // The same site again: the cooldown, at once.
  const again = await run(recycleCommand, ['shop', '--reason', 'again', '--wait'])
  t.equal(again.code, RECYCLE_EXIT.skipped)
  t.match(again.stdout, /: skipped: cooldown/)

  const failing = run(recycleCommand, ['blog', '--reason', 'will fail', '--wait'])
  await ex.waitRuns(2, 10_000)
  ex.finish({ state: 'failed', reason: 'the rollout timed out' })
  const f = await failing
  t.equal(f.code, RECYCLE_EXIT.failed)
  t.match(f.stdout, /^rc-[\w-]+: failed: the rollout timed out$/m)

  const slow = run(recycleCommand, ['pool', '--reason', 'slow', '--wait', '--timeout', '300ms'])
  const w = await slow
  t.equal(w.code, RECYCLE_EXIT.waitTimedOut)
  t.match(w.stderr, /gave up waiting after 0\.3 s; rc-[\w-]+: (pending|running); it goes on in the service/)
  await ex.waitRuns(3, 10_000)
  ex.finish()
})
