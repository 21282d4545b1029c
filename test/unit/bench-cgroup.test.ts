// The bench's pod memory limit: a real cgroup, a real node inside it. Node
// must size its heap from the limit (that is why the bench sets one), the
// cage must report what the kernel saw, and a process past the limit must
// be counted as OOM-killed, not missed.

import { spawn } from 'node:child_process'
import t from 'tap'
import { memoryCage, podMemoryLimit } from '../../bench/lib/cgroup.ts'
import { memoryNeeded } from '../../src/config/memory.ts'

const MiB = 1024 * 1024

function runIn(
  cage: { wrap(c: string, a: readonly string[]): { command: string; args: string[] } },
  script: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  const { command, args } = cage.wrap(process.execPath, ['-e', script])
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += String(d)))
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, out })))
}

const first = memoryCage(384 * MiB)
if ('unavailable' in first) {
  t.skip(`no memory cgroup can be made here: ${first.unavailable}`, () => {})
} else {
  first.close()

  t.test('node in the cage sizes its heap from the limit, and the cage saw it', async (t) => {
    const cage = memoryCage(384 * MiB)
    if ('unavailable' in cage) throw new Error(cage.unavailable)
    t.teardown(() => cage.close())
    const r = await runIn(
      cage,
      "const v=require('v8');console.log(JSON.stringify({heap:v.getHeapStatistics().heap_size_limit,constrained:process.constrainedMemory(),pid:process.pid}))",
    )
    t.equal(r.code, 0)
    const seen = JSON.parse(r.out) as { heap: number; constrained: number }
    t.equal(seen.constrained, 384 * MiB, 'the process sees the limit as its own')
    t.ok(seen.heap < 384 * MiB, `V8's heap limit (${Math.round(seen.heap / MiB)} MiB) is under the cgroup's`)
    t.ok((cage.peak() ?? 1) > 0, 'the cgroup counted what the process used')
    t.equal(cage.oomKills(), 0)
  })

  t.test('a process past the limit is counted as OOM-killed', async (t) => {
    const cage = memoryCage(64 * MiB)
    if ('unavailable' in cage) throw new Error(cage.unavailable)
    t.teardown(() => cage.close())
    // Touched pages (not just reserved) in Buffers outside V8's heap, past 64 MiB.
    const r = await runIn(
      cage,
      'const k=[];for(let i=0;i<40;i++)k.push(Buffer.alloc(8*1024*1024,1));console.log(k.length)',
    )
    t.equal(r.signal, 'SIGKILL', 'the kernel killed it')
    t.equal(cage.oomKills(), 1)
    const peak = cage.peak()
    if (peak !== undefined) t.ok(peak <= 64 * MiB && peak > 32 * MiB, `peak ${Math.round(peak / MiB)} MiB at the limit`)
  })
}

t.test("the bench's limit per size is the chart's default, raised to what the start-up check asks", async (t) => {
  t.equal(podMemoryLimit(1), 384 * MiB, "values.yaml's resources.limits.memory")
  t.equal(podMemoryLimit(1000), 384 * MiB, '1,000 sites fit the default')
  t.equal(podMemoryLimit(5000), Math.ceil(memoryNeeded(5000) / MiB) * MiB)
  t.ok(podMemoryLimit(5000) > 1000 * MiB)
})
