// Scratch: interleaved CPU/request of bench servers (service | bare), optional profile.
import { NODE, ROOT, procCpuMs, startChild } from '../bench/lib/proc.ts'
import { shippedCommand } from '../bench/lib/shipped.ts'
import { drive } from '../bench/webhook/index.ts'
import path from 'node:path'
const variants = (process.argv[2] ?? 'service,bare').split(',')
const runs = Number(process.argv[3] ?? 3)
const bytes = 354
const res: Record<string, number[]> = {}
for (let r = 0; r < runs; r++) for (const v of variants) {
  const [mode, ...env] = v.split(':')
  const extraEnv = Object.fromEntries(env.map((e) => e.split('=')))
  const prof = process.env.PROF ? `/tmp/prof-${v.replace(/[^a-z0-9]/gi, '_')}.cpuprofile` : undefined
  const child = await startChild(NODE, [...shippedCommand().flags, path.join(ROOT, 'bench/webhook/server.ts'), mode === 'bare' ? 'bare' : 'service', String(bytes)], { env: { ...process.env, ...extraEnv, ...(prof ? { BENCH_CPU_PROFILE: prof } : {}) } } as any)
  await drive(child.port, { connections: 10, durationS: 1, status: 'SUCCESS' })
  if (prof) process.kill(child.pid, 'SIGUSR2')
  const c0 = procCpuMs(child.pid)
  const d = await drive(child.port, { connections: 10, durationS: 4, status: 'SUCCESS' })
  const us = (procCpuMs(child.pid) - c0) * 1000 / d.requests
  ;(res[v] ??= []).push(us)
  console.log(v, Math.round(d.requests / d.seconds), 'req/s', us.toFixed(1), 'µs/req', d.other ? `other ${d.other}` : '')
  await child.stop()
}
for (const [v, a] of Object.entries(res)) console.log(v, 'median', a.sort((x, y) => x - y)[a.length >> 1].toFixed(1))
