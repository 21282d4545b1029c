// A stdout that is not read (a stalled container log pipe, a slow reader)
// must not grow the service's memory: the log's buffer is bounded, the
// lines beyond it dropped and counted, and the count logged once stdout is
// read again. The control, sonic-boom without a bound, keeps every line.

import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from '../fixtures/process.ts'

async function stalled(maxChars: number): Promise<{ grewBytes: number; stdout: string }> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', join(ROOT, 'test', 'fixtures', 'stalled-logger.ts'), String(maxChars)],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  )
  let err = ''
  const reported = new Promise<{ grewBytes: number }>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += String(d)
      const m = /\{"grewBytes":-?\d+\}/.exec(err)
      if (m) resolve(JSON.parse(m[0]) as { grewBytes: number })
    })
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)))
  })
  // stdout is not read until the child has logged everything.
  const { grewBytes } = await reported
  let stdout = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += String(d)))
  child.stdin!.write('read\n')
  await new Promise((r) => child.once('exit', r))
  return { grewBytes, stdout }
}

t.test('a stdout nobody reads keeps at most the bound in memory; the dropped lines are counted', async (t) => {
  const bound = await stalled(1_000_000)
  t.ok(
    bound.grewBytes < 15 * 1024 * 1024,
    `grew ${Math.round(bound.grewBytes / 1024 / 1024)} MB for ~50 MB logged with a 1 MB bound`,
  )
  const notice = bound.stdout
    .split('\n')
    .filter((l) => l.includes('log lines dropped'))
    .map((l) => JSON.parse(l) as { level: string; dropped: number })
  t.equal(notice.length, 1, 'one notice once stdout is read again')
  t.equal(notice[0]?.level, 'warn')
  t.ok((notice[0]?.dropped ?? 0) > 50_000, `it counts the dropped lines (${notice[0]?.dropped})`)
  t.match(bound.stdout, /after the reader came back/, 'logging goes on')

  const control = await stalled(0)
  t.ok(
    control.grewBytes > 40 * 1024 * 1024,
    `the control (no bound) grew ${Math.round(control.grewBytes / 1024 / 1024)} MB: the bound is what keeps memory flat`,
  )
})
