import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync, readdirSync } from 'node:fs'
import { BENCH_CONFIG } from '../bench/webhook/server.ts'
const dir = mkdtempSync('/tmp/kr-snap-')
writeFileSync(dir + '/config.yaml', BENCH_CONFIG)
const c = spawn(process.cwd() + '/node_modules/.bin/node', ['--max-semi-space-size=1', '--heapsnapshot-signal=SIGUSR2', process.cwd() + '/dist/cli.js', 'serve', '--config', dir + '/config.yaml'], { cwd: dir, env: { ...process.env, HOME: dir, PORT: '0', KUBE_RECYCLER_WEBHOOK_SECRET: 'x'.repeat(32), KUBE_RECYCLER_RECYCLE_TOKEN: 'y'.repeat(32), LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] })
await new Promise((r) => setTimeout(r, 3000))
c.kill('SIGUSR2')
await new Promise((r) => setTimeout(r, 8000))
c.kill('SIGTERM')
console.log(dir, readdirSync(dir))
