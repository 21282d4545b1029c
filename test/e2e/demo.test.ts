// `npm run demo` is part of the product: run its story once, on running pods
// (the example site's init containers clone the test git server, nginx
// serves the checkout), and check it ends with the site recovered on the
// production head: /status says so AND every answer of the site's Service
// comes from that commit.

import t from 'tap'
import { spawn } from 'node:child_process'
import { ROOT } from '../fixtures/process.ts'

t.test('npm run demo tells the whole story and recovers', async (t) => {
  const child = spawn(process.execPath, ['scripts/demo.ts', '--once', '--keep-cluster'], {
    cwd: ROOT,
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d) => {
    out += String(d)
  })
  child.stderr.on('data', (d) => {
    out += String(d)
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000)
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  clearTimeout(timer)
  t.equal(code, 0, out.slice(-2000))
  for (const line of [
    /production is at release 1 \(([0-9a-f]{12})\)/,
    /3 pods ran their init container \(git clone of production\) and nginx serves [0-9a-f]{12}/,
    /probes say: shop is healthy/,
    /release 2 \([0-9a-f]{12}\) lands on production and a deploy rolls it out, pinned/,
    /the fix lands on production: release 3 \(([0-9a-f]{12})\)/,
    /the site fails: the new pods serve release 2/,
    /health=failing failures=\d+/,
    /recycle=(running|succeeded)/,
    /the Deployment rolls pinned to ([0-9a-f]{12}) \(the production head\)/,
    /recycle=succeeded\/recovered/,
    /recovered: shop is healthy, running ([0-9a-f]{12}) \(production head \1\)/,
    /event Recycled: /,
    /stopping everything the demo started/,
  ]) {
    t.match(out, line)
  }
  const fix = /the fix lands on production: release 3 \(([0-9a-f]{12})\)/.exec(out)?.[1]
  t.match(
    out,
    new RegExp(`the Service answers from commit\\(s\\) ${fix}\\n`),
    'every answer of the Service comes from the fix',
  )
  t.match(
    out,
    new RegExp(`running ${fix} \\(production head ${fix}\\)`),
    '/status: the running commit is the head, the fix',
  )
})
