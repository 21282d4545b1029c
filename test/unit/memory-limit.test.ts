// The warning at start when the configured sites cannot fit the memory
// limit the pod was given, read from a fake cgroup file.

import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  BASE_BYTES,
  checkMemoryAtStart,
  memoryNeeded,
  memoryWarning,
  PER_SITE_BYTES,
  readMemoryLimit,
} from '../../src/config/memory.ts'

const dir = mkdtempSync(join(tmpdir(), 'kr-cgroup-'))
const cgroup = (name: string, text: string) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}
const MiB = 1024 * 1024

t.test('the limit is read from cgroup v2, then v1; "max", v1 unlimited or no file: none', async (t) => {
  t.equal(readMemoryLimit([cgroup('v2', '268435456\n')]), 256 * MiB)
  t.equal(readMemoryLimit([cgroup('max', 'max\n')]), undefined)
  t.equal(
    readMemoryLimit([join(dir, 'absent'), cgroup('v1', '536870912\n')]),
    512 * MiB,
    'the v1 file when v2 is absent',
  )
  t.equal(readMemoryLimit([cgroup('v1-unlimited', '9223372036854771712\n')]), undefined)
  t.equal(readMemoryLimit([join(dir, 'absent')]), undefined)
  t.equal(readMemoryLimit([cgroup('junk', 'lots\n')]), undefined)
})

t.test('the budget: the process plus what a site adds, with a margin', async (t) => {
  t.equal(memoryNeeded(1000), Math.ceil((BASE_BYTES + 1000 * PER_SITE_BYTES) * 1.25))
  t.ok(memoryNeeded(1000) > BASE_BYTES + 1000 * PER_SITE_BYTES)
  t.equal(memoryWarning(1000, undefined), undefined, 'no limit: nothing to say')
  t.equal(memoryWarning(1000, memoryNeeded(1000)), undefined, 'exactly enough')
  const w = memoryWarning(5000, 256 * MiB)
  t.match(w, /the memory limit \(256 MiB\) is below what 5000 sites need \(~\d+ MiB/)
  t.match(w, /it fits about \d+ sites/)
})

t.test(
  'at start: a warning in the log when the sites do not fit the fake cgroup limit; none when they do',
  async (t) => {
    const lines: Array<{ o: any; m: string }> = []
    const logger = {
      warn: (o: object, m: string) => {
        lines.push({ o, m })
      },
    }
    checkMemoryAtStart(logger, 5000, [cgroup('small', String(256 * MiB))])
    t.equal(lines.length, 1)
    t.equal(lines[0]!.o.memoryLimitBytes, 256 * MiB)
    t.equal(lines[0]!.o.sites, 5000)
    checkMemoryAtStart(logger, 10, [cgroup('big', String(256 * MiB))])
    checkMemoryAtStart(logger, 5000, [cgroup('unlimited', 'max')])
    t.equal(lines.length, 1, '10 sites fit 256 MiB; no limit says nothing')
  },
)
