// A watch asks for bookmarks, and a watch that says nothing for longer than
// its silence bound is taken for dead: it is ended, and its owner reads again
// and watches anew. Against an API server that answers the watch's headers
// and then goes silent (a half-dead connection), both watches of the
// Kubernetes side (the state ConfigMaps', a workload's) start again after
// the bound. Before: no bookmarks, and client-node's own 30 s bound, shorter
// than the interval of the API server's bookmarks (about a minute).

import t from 'tap'
import { createServer } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { createKube } from '../../src/kube/client.ts'
import { makePki } from '../fixtures/tls.ts'
import { quietLogger } from '../fixtures/engine.ts'

const SILENCE_MS = 1500

t.test('a silent watch asks for bookmarks and is started again after its silence bound', async (t) => {
  const pki = await makePki()
  t.teardown(() => pki.cleanup())
  const watches: { path: string; query: URLSearchParams; at: number }[] = []
  const started = performance.now()
  const sockets = new Set<Socket>()
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7', generation: 1 },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: { spec: { containers: [{ name: 'c' }] } },
    },
    status: {},
  }
  const server = createServer(
    { cert: pki.server.cert, key: pki.server.key },
    (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'https://x')
      if (url.searchParams.get('watch') === 'true') {
        watches.push({ path: url.pathname, query: url.searchParams, at: performance.now() - started })
        // The headers, then nothing: no event, no bookmark.
        res.writeHead(200, { 'content-type': 'application/json' })
        res.flushHeaders()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify(
          url.pathname.endsWith('/deployments/web')
            ? deployment
            : { kind: 'List', metadata: { resourceVersion: '7' }, items: [] },
        ),
      )
    },
  )
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  const dir = mkdtempSync(join(tmpdir(), 'kr-watch-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const kubeconfig = join(dir, 'config')
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: x',
      `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${(server.address() as { port: number }).port}", certificate-authority: ${JSON.stringify(pki.caFile)}}}]`,
      'users: [{name: u, user: {token: not-a-secret}}]',
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      '',
    ].join('\n'),
  )
  const kube = createKube({ kubeconfig, logger: quietLogger(), env: {}, watchSilenceMs: SILENCE_MS })
  t.teardown(() => kube.close())

  await t.test('the state ConfigMaps: the watch ends after the silence, so the store lists again', async (t) => {
    const from = performance.now()
    let guard: NodeJS.Timeout | undefined
    const stop = new AbortController()
    const outcome = await Promise.race([
      kube
        .objects('kube-recycler')
        .watch('7', () => undefined, stop.signal)
        .then(() => 'ended'),
      new Promise<string>((resolve) => {
        guard = setTimeout(() => resolve('still open after 10 s'), 10_000)
      }),
    ])
    clearTimeout(guard)
    stop.abort()
    const took = Math.round(performance.now() - from)
    t.comment(`the silent ConfigMap watch ${outcome} after ${took} ms (bound ${SILENCE_MS} ms)`)
    t.equal(outcome, 'ended')
    t.ok(took >= SILENCE_MS - 50 && took < SILENCE_MS + 1000, `after its silence bound: ${took} ms`)
    const w = watches.find((x) => x.path.endsWith('/configmaps'))
    t.equal(w?.query.get('allowWatchBookmarks'), 'true', 'it asked for bookmarks')
  })

  await t.test('a workload: watched again from a fresh read after each silence', async (t) => {
    const stop = new AbortController()
    const before = watches.filter((x) => x.path.endsWith('/deployments')).length
    const states: string[] = []
    const done = kube.watchWorkload(
      { kind: 'Deployment', namespace: 'shop', name: 'web' },
      (s) => states.push(s.resourceVersion),
      stop.signal,
    )
    const from = performance.now()
    while (
      watches.filter((x) => x.path.endsWith('/deployments')).length < before + 2 &&
      performance.now() - from < 10_000
    )
      await new Promise((r) => setTimeout(r, 50))
    stop.abort()
    await done
    const mine = watches.filter((x) => x.path.endsWith('/deployments')).slice(before)
    t.ok(
      mine.length >= 2,
      `watched again after the silence (${mine.length} watches in ${Math.round(performance.now() - from)} ms)`,
    )
    if (mine.length >= 2)
      t.ok(
        mine[1]!.at - mine[0]!.at >= SILENCE_MS - 50,
        `the second ${Math.round(mine[1]!.at - mine[0]!.at)} ms after the first`,
      )
    t.equal(mine[0]?.query.get('allowWatchBookmarks'), 'true', 'it asked for bookmarks')
    t.ok(states.length >= 2, `read again before watching again (${states.length} reads)`)
  })

  await t.test('the workload cache: each silent watch resumes after its bound; close() stops them', async (t) => {
    const ofCache = () => watches.filter((x) => x.path.endsWith('/statefulsets'))
    const refs = ['a', 'b'].map((name) => ({ kind: 'StatefulSet' as const, namespace: 'shop', name }))
    const cache = kube.cacheWorkloads(refs, { annotations: [], templateAnnotations: [] })
    const from = performance.now()
    let settledAt = NaN
    void cache.settled(refs[0]!).then(() => (settledAt = performance.now() - from))
    while (ofCache().length < 4 && performance.now() - from < 10_000) await new Promise((r) => setTimeout(r, 50))
    const seen = ofCache()
    t.ok(seen.length >= 4, `each of the 2 watches started again after the silence (${seen.length} watches)`)
    t.same(
      [...new Set(seen.map((w) => w.query.get('fieldSelector')))].sort(),
      ['metadata.name=a', 'metadata.name=b'],
      'one watch per named workload, by name',
    )
    t.ok(
      seen.every((w) => w.query.get('allowWatchBookmarks') === 'true'),
      'every watch asked for bookmarks',
    )
    const a = seen.filter((w) => w.query.get('fieldSelector') === 'metadata.name=a')
    if (a.length >= 2) t.ok(a[1]!.at - a[0]!.at >= SILENCE_MS - 50, `again ${Math.round(a[1]!.at - a[0]!.at)} ms later`)
    t.equal(cache.get(refs[0]!), undefined, 'never seen: no entry, so its reader falls back to a GET')
    // Silent from the start: a reader waits for no first answer past the bound (5 s), then reads.
    while (Number.isNaN(settledAt) && performance.now() - from < 10_000) await new Promise((r) => setTimeout(r, 50))
    t.ok(
      settledAt >= 4_800 && settledAt <= 6_500,
      `settled() of a watch that never answered resolved after ${Math.round(settledAt)} ms (its bound: 5 s)`,
    )
    let other = false
    await cache.settled({ kind: 'StatefulSet', namespace: 'shop', name: 'not-watched' }).then(() => (other = true))
    t.ok(other, 'settled() of a workload not watched resolves at once')
    await cache.close()
    const after = ofCache().length
    await new Promise((r) => setTimeout(r, SILENCE_MS * 2))
    t.equal(ofCache().length, after, 'no watch after close()')
  })
})
