// A tap run stopped a cluster another tap run had started in the same cache:
// a unit-only run (KUBE_RECYCLER_NO_CLUSTER=1) beside a full `npm test` ran
// its `after:` script, which found the full run's marker and stopped its
// cluster half-way through (seen: the chart tests of a CI run lost their
// control plane). The marker names the tap process that wrote it; only that
// run's `after:` may act on it.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../fixtures/process.ts'

function cache(by: number) {
  const dir = mkdtempSync(join(tmpdir(), 'kr-tap-after-'))
  const run = join(dir, 'run')
  mkdirSync(run, { recursive: true })
  const startedAt = new Date().toISOString()
  // A recorded cluster with no live process: stopping it only removes state.json.
  writeFileSync(
    join(run, 'state.json'),
    JSON.stringify({
      pids: {},
      kubeconfig: '',
      apiserver: 'https://127.0.0.1:1',
      caFile: '',
      startedAt,
      binDir: join(dir, 'bin'),
      runDir: run,
      ports: {},
    }),
  )
  writeFileSync(join(run, 'started-by-tap'), JSON.stringify({ by, startedAt }))
  return { dir, state: join(run, 'state.json'), marker: join(run, 'started-by-tap') }
}

const after = (dir: string) =>
  spawnSync(process.execPath, ['test/cluster/tap-after.ts'], {
    cwd: ROOT,
    env: { ...process.env, KUBE_RECYCLER_CACHE: dir },
    encoding: 'utf8',
  })

t.test("another tap run's after: script leaves the cluster and the marker alone", async (t) => {
  const c = cache(process.pid + 1_000_000)
  t.teardown(() => rmSync(c.dir, { recursive: true, force: true }))
  const r = after(c.dir)
  t.equal(r.status, 0, r.stderr)
  t.ok(existsSync(c.state), 'the cluster is still recorded: nothing was stopped')
  t.ok(existsSync(c.marker), 'the marker stays for the run that wrote it')
})

t.test('the run that started the cluster stops it in its after: script', async (t) => {
  // The after: script's parent is this process, as a tap run's before: and after: share theirs.
  const c = cache(process.pid)
  t.teardown(() => rmSync(c.dir, { recursive: true, force: true }))
  const r = after(c.dir)
  t.equal(r.status, 0, r.stderr)
  t.notOk(existsSync(c.state), 'stopped: state.json removed')
  t.notOk(existsSync(c.marker), 'the marker is consumed')
})
