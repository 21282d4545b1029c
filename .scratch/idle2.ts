import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs'
import { BENCH_CONFIG } from '../bench/webhook/server.ts'
const dir = mkdtempSync('/tmp/kr-idle-')
writeFileSync(dir + '/config.yaml', BENCH_CONFIG)
for (const pre of [['--import', './.scratch/memreport.mjs']]) for (let i = 0; i < 1; i++) {
  const c = spawn('node_modules/.bin/node', ['--max-semi-space-size=1', ...pre, 'dist/cli.js', 'serve', '--config', dir + '/config.yaml'], { env: { ...process.env, HOME: dir, PORT: '0', KUBE_RECYCLER_WEBHOOK_SECRET: 'x'.repeat(32), KUBE_RECYCLER_RECYCLE_TOKEN: 'y'.repeat(32), LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] })
  await new Promise((r) => setTimeout(r, 4000))
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${c.pid}/status`, 'utf8'))![1]
  console.log(pre.length ? 'no undici' : 'as is', (Number(rss) / 1024).toFixed(1))
  c.kill('SIGTERM')
  await new Promise((r) => c.once('exit', r))
}
