// src/kube/dispatcher.ts: one connection to the API server per process,
// whatever the credential, and still the right credential on every request.
// Against a local HTTPS API server that records each request: with an exec
// credential plugin (a token per request, or client certificates that
// rotate), an OIDC id-token and a token file, every request carries the
// current credential, and all of them came over one connection. The
// control, client-node's own dispatcher on the same kubeconfig, opens a
// connection per request: the gain the wrapper is kept for.

import t, { type Test } from 'tap'
import pino from 'pino'
import { createKube } from '../../src/kube/client.ts'
import { coreApi, coordinationApi, KubeConfig, versionApi } from '../../src/kube/api.ts'
import { shareOneConnectionPool } from '../../src/kube/dispatcher.ts'
import { makePki } from '../fixtures/tls.ts'
import { credentialFiles, fingerprint, recordingApiServer } from '../fixtures/kube-auth.ts'

const logger = pino({ level: 'silent' })
const N = 4

t.test('every request carries the current credential, all over one connection', async (t) => {
  const pki = await makePki()
  t.teardown(() => pki.cleanup())
  const api = await recordingApiServer(t, pki)
  const files = credentialFiles(t)

  /** N pings with the kube side, and (control) N with client-node's own dispatcher: what the server saw of each. */
  async function pings(t: Test, kubeconfig: string) {
    api.reset()
    const before = api.connections()
    const kube = createKube({ kubeconfig, logger, env: {} })
    for (let i = 0; i < N; i++) t.equal(await kube.ping(), 'v1.34.0-recording')
    kube.close()
    const ours = { seen: [...api.seen], connections: api.connections() - before }
    api.reset()
    const before2 = api.connections()
    const kc = new KubeConfig()
    kc.loadFromFile(kubeconfig)
    const plain = versionApi(kc)
    for (let i = 0; i < N; i++) await plain.getCode()
    const theirs = { seen: [...api.seen], connections: api.connections() - before2 }
    return { ours, theirs }
  }

  await t.test('an exec credential plugin, a new token for each request', async (t) => {
    const { ours, theirs } = await pings(t, files.kubeconfig(api.url, pki.caFile, files.exec()))
    t.same(
      ours.seen.map((s) => s.authorization),
      Array.from({ length: N }, (_, i) => `Bearer exec-token-${i + 1}`),
      'the API server saw each token the plugin printed',
    )
    t.equal(ours.connections, 1, `one connection for ${N} requests`)
    t.equal(ours.seen[0]?.protocol, '2.0', 'speaking HTTP/2')
    t.equal(theirs.connections, N, `the control: client-node's own dispatcher opened ${theirs.connections} for ${N}`)
  })

  await t.test('an exec credential plugin whose client certificate rotates', async (t) => {
    const certs = [pki.server, pki.expiring]
    const { ours } = await pings(
      t,
      files.kubeconfig(api.url, pki.caFile, files.exec(certs.map((c) => ({ cert: c.cert, key: c.key })))),
    )
    // The plugin runs for every request and alternates its certificates.
    t.same(
      ours.seen.map((s) => s.clientCert),
      Array.from({ length: N }, (_, i) => fingerprint(certs[i % 2]!.cert)),
      'each request presented the certificate the plugin handed out for it',
    )
    t.equal(ours.connections, N, 'a new connection only because the certificate changed')
  })

  await t.test('an OIDC id-token', async (t) => {
    const oidc = files.oidc()
    const { ours, theirs } = await pings(t, files.kubeconfig(api.url, pki.caFile, oidc.user))
    t.same(
      ours.seen.map((s) => s.authorization),
      Array(N).fill(`Bearer ${oidc.token}`),
      'the API server saw the id-token',
    )
    t.equal(ours.connections, 1, 'one connection')
    t.equal(theirs.connections, N, 'the control: one per request')
  })

  await t.test('a token file', async (t) => {
    const { ours, theirs } = await pings(t, files.kubeconfig(api.url, pki.caFile, files.tokenFile('file-token-1')))
    t.same(
      ours.seen.map((s) => s.authorization),
      Array(N).fill('Bearer file-token-1'),
      "the API server saw the file's token",
    )
    t.equal(ours.connections, 1, 'one connection')
    t.equal(theirs.connections, N, 'the control: one per request')
  })

  await t.test('the pool makes an Agent only when the TLS options change', async (t) => {
    const kc = new KubeConfig()
    kc.loadFromFile(files.kubeconfig(api.url, pki.caFile, files.tokenFile('file-token-2')))
    const pool = shareOneConnectionPool(kc, { pingIntervalMs: 5000 })
    t.teardown(() => pool.close())
    const v = versionApi(kc)
    for (let i = 0; i < N; i++) await v.getCode()
    t.equal(pool.made, 1)
  })

  await t.test('reads over HTTP/2, writes over HTTP/1.1', async (t) => {
    // Writes on the HTTP/2 session hung a 5,000-site service at start
    // (dispatcher.ts): they must not go there.
    api.reset()
    const kc = new KubeConfig()
    kc.loadFromFile(files.kubeconfig(api.url, pki.caFile, files.tokenFile('file-token-3')))
    const pool = shareOneConnectionPool(kc, { pingIntervalMs: 5000 })
    t.teardown(() => pool.close())
    const core = coreApi(kc)
    const lease = coordinationApi(kc)
    t.equal(pool.answeredAgoMs(), undefined, 'nothing answered yet')
    await versionApi(kc).getCode()
    const ago = pool.answeredAgoMs()
    t.ok(ago !== undefined && ago < 1000, `answered ${ago} ms ago: a 2xx stands for the store's ping`)
    await core.readNamespacedConfigMap({ namespace: 'ns', name: 'state' })
    const body = { metadata: { name: 'state' } } as never
    await core.replaceNamespacedConfigMap({ namespace: 'ns', name: 'state', fieldManager: 'kr', body })
    await core.createNamespacedConfigMap({ namespace: 'ns', fieldManager: 'kr', body })
    await lease.replaceNamespacedLease({ namespace: 'ns', name: 'kube-recycler', body })
    await core.deleteNamespacedPod({ namespace: 'ns', name: 'web-1' })
    t.same(
      api.seen.map((s) => `${s.method} ${s.protocol}`),
      ['GET 2.0', 'GET 2.0', 'PUT 1.1', 'POST 1.1', 'PUT 1.1', 'DELETE 1.1'],
    )
    t.equal(
      new Set(api.seen.filter((s) => s.protocol === '2.0').map((s) => s.connection)).size,
      1,
      'one HTTP/2 connection',
    )
    t.equal(pool.made, 1, 'one pool for both')
    t.same(
      pool
        .requests()
        .map((r) => `${r.verb} ${r.resource} ${r.code}`)
        .sort(),
      [
        'DELETE pods 200',
        'GET configmaps 200',
        'GET version 200',
        'POST configmaps 200',
        'PUT configmaps 200',
        'PUT leases 200',
      ],
      'both counted',
    )
  })
})

t.test('a Lease write does not wait behind a burst of other writes', async (t) => {
  // At a 5,000-site start each site's first verdict is a write, and the
  // HTTP/1.1 pool queues them: a leader's renewal queued behind them would
  // miss its deadline and cost the leadership. The API server answers every
  // ConfigMap write after 300 ms (busy) and a Lease write at once.
  const pki = await makePki()
  const files = credentialFiles(t)
  const api = await recordingApiServer(t, pki, (method, path) =>
    method !== 'GET' && path.includes('/configmaps') ? 300 : 0,
  )
  const kc = new KubeConfig()
  kc.loadFromFile(files.kubeconfig(api.url, pki.caFile, files.tokenFile('file-token-4')))
  const pool = shareOneConnectionPool(kc, { pingIntervalMs: 5000 })
  t.teardown(() => pool.close())
  const core = coreApi(kc)
  const lease = coordinationApi(kc)
  const body = { metadata: { name: 'x' } } as never
  const done: string[] = []
  // Three rounds of the write pool's connections, all queued before the Lease write.
  const writes = Array.from({ length: 24 }, (_, i) =>
    core
      .replaceNamespacedConfigMap({ namespace: 'ns', name: `site-${i}`, fieldManager: 'kr', body })
      .then(() => done.push('configmap')),
  )
  await new Promise((r) => setImmediate(r))
  const t0 = performance.now()
  await lease.replaceNamespacedLease({ namespace: 'ns', name: 'kube-recycler', body })
  const leaseMs = performance.now() - t0
  done.push('lease')
  await Promise.all(writes)
  t.equal(done[0], 'lease', 'the Lease write was answered before any ConfigMap write')
  t.ok(leaseMs < 300, `the Lease write took ${Math.round(leaseMs)} ms, not a turn in the queue (≥ 300 ms)`)
  const leaseConn = api.seen.find((s) => s.path.includes('/leases/'))!.connection
  t.notOk(
    api.seen.some((s) => s.path.includes('/configmaps/') && s.connection === leaseConn),
    'on a connection of its own',
  )
  t.equal(api.seen.find((s) => s.path.includes('/leases/'))!.protocol, '1.1', 'over HTTP/1.1, as every write')
})
