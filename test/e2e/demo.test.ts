// `npm run demo` is part of the product: run its story once and check it
// ends with the site recovered on the production head.

import t from 'tap'
import { spawn } from 'node:child_process'
import { ROOT } from '../fixtures/process.ts'

t.test('npm run demo tells the whole story and recovers', async (t) => {
  const child = spawn(process.execPath, ['scripts/demo.ts', '--once', '--keep-cluster'], { cwd: ROOT, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => { out += String(d) })
  child.stderr.on('data', (d) => { out += String(d) })
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  clearTimeout(timer)
  t.equal(code, 0, out.slice(-2000))
  for (const line of [/probes say: shop is healthy/, /the site breaks/, /health=failing failures=2/, /recycle=(running|succeeded)/, /the Deployment rolled onto [0-9a-f]{12} \(the production head\)/, /recycle=succeeded\/recovered/, /recovered: shop is healthy, running ([0-9a-f]{12}) \(production head \1\)/, /event Recycled: /, /stopping everything the demo started/]) {
    t.match(out, line)
  }
})
