import { NODE, ROOT, startChild } from '../bench/lib/proc.ts'
import { shippedCommand } from '../bench/lib/shipped.ts'
import { drive } from '../bench/webhook/index.ts'
import { spawn } from 'node:child_process'
import path from 'node:path'
for (const mode of ['bare', 'service']) {
  const child = await startChild(NODE, [...shippedCommand().flags, path.join(ROOT, 'bench/webhook/server.ts'), mode, '354'])
  await drive(child.port, { connections: 10, durationS: 1, status: 'SUCCESS' })
  const st = spawn('strace', ['-f', '-c', '-o', `/tmp/strace-${mode}.txt`, '-p', String(child.pid)], { stdio: 'ignore' })
  await new Promise((r) => setTimeout(r, 500))
  const d = await drive(child.port, { connections: 10, durationS: 3, status: 'SUCCESS' })
  st.kill('SIGINT'); await new Promise((r) => st.once('exit', r))
  console.log(mode, 'requests', d.requests)
  await child.stop()
}
