// git's low-speed floor: a remote that trickles its answer below about
// 1 KiB/s is ended by curl inside git (http.lowSpeedLimit=1000 over
// lowSpeedTime), within the bound, rather than held until the backstop
// kill (a floor of 1 byte/s let a remote sending a few bytes a second hold
// every refresh to the end). A real HTTP server trickles; a real git runs.

import t, { type Test } from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { createGitHeads } from '../../src/git/heads.ts'

const logger = pino({ level: 'silent' })

async function trickler(t: Test, bytesPerTick: number, everyMs: number): Promise<string> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-advertisement' })
    const chunk = '0000'.repeat(Math.max(1, Math.round(bytesPerTick / 4)))
    const timer = setInterval(() => res.write(chunk), everyMs)
    res.on('close', () => clearInterval(timer))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/site.git`
}

t.test('a remote trickling 200 bytes/s is ended by the low-speed floor, before the backstop kill', async (t) => {
  const url = await trickler(t, 20, 100) // 200 B/s: far above 1 B/s, below 1 KiB/s
  // lowSpeedTime = 2 s; the backstop kill comes 2 s after it (at 4 s).
  const h = createGitHeads({ logger, timeoutMs: 2000 })
  t.after(() => h.close())
  const started = performance.now()
  const err = await h.headCommit(url, 'production').then(
    () => undefined,
    (e: unknown) => e as Error & { cause?: Error & { kind?: string } },
  )
  const took = performance.now() - started
  t.ok(err, 'the refresh fails')
  t.equal(err?.cause?.kind, 'timeout')
  t.match(
    err?.cause?.message ?? '',
    /Operation too slow/i,
    `curl's low-speed limit ended it, not the kill (${err?.cause?.message})`,
  )
  t.ok(took < 3800, `ended within the bound: ${Math.round(took)} ms (low-speed time 2 s, kill at 4 s)`)
})

t.test('a remote trickling above the floor is still cut by the backstop kill', async (t) => {
  const url = await trickler(t, 40, 10) // ~4 KB/s, forever
  const h = createGitHeads({ logger, timeoutMs: 1000 })
  t.after(() => h.close())
  const started = performance.now()
  const err = await h.headCommit(url, 'production').then(
    () => undefined,
    (e: unknown) => e as Error & { cause?: Error & { kind?: string } },
  )
  const took = performance.now() - started
  t.equal(err?.cause?.kind, 'timeout')
  t.match(err?.cause?.message ?? '', /killed after 3000ms/)
  t.ok(took >= 2900 && took < 6000, `killed after ${Math.round(took)} ms (timeout + 2 s grace)`)
})
