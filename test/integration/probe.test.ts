// The probe engine against real HTTP and HTTPS servers on 127.0.0.1, with a
// CA the test makes. Each test starts its own site and prober and tears them
// down; counters on the site (requests, connections, in-flight) are the
// evidence for pooling and the concurrency bound.

import t from 'tap'
import { connect, createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { Writable } from 'node:stream'
import pino from 'pino'
import { createProber } from '../../src/triggers/probe.ts'
import type { Prober, ProberOptions } from '../../src/triggers/probe.ts'
import type { CheckConfig } from '../../src/config/types.ts'
import { LARGE_BYTES, startSite } from '../fixtures/sites.ts'
import type { Site, SiteOptions } from '../fixtures/sites.ts'
import { makePki } from '../fixtures/tls.ts'
import { waitFor } from '../fixtures/wait.ts'
import type { TestPki } from '../fixtures/tls.ts'

type Test = Parameters<Extract<Parameters<typeof t.test>[0], (t: never) => unknown>>[0]

function check(url: string, more: Partial<CheckConfig> = {}): CheckConfig {
  return {
    name: 'home',
    url,
    method: 'GET',
    headers: {},
    timeoutMs: 2000,
    expectStatus: [{ min: 200, max: 299 }],
    tls: { verify: true },
    ...more,
  }
}

async function site(tt: Test, opts?: SiteOptions): Promise<Site> {
  const s = await startSite(opts)
  tt.teardown(() => s.close())
  return s
}

function prober(tt: Test, opts: Partial<ProberOptions> = {}): Prober {
  const p = createProber({ concurrency: 4, ...opts })
  tt.teardown(() => p.close())
  return p
}

/** A TCP server on 127.0.0.1; `onSocket` decides what each connection gets. */
async function tcpServer(
  tt: Test,
  onSocket: (s: Socket) => void,
): Promise<{ port: number; open: () => number; server: Server }> {
  const sockets = new Set<Socket>()
  const server = createServer((sock) => {
    sockets.add(sock)
    sock.on('error', () => {})
    sock.once('close', () => sockets.delete(sock))
    onSocket(sock)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  tt.teardown(() => {
    for (const sock of sockets) sock.destroy()
    return new Promise((r) => server.close(r))
  })
  return { port: (server.address() as AddressInfo).port, open: () => sockets.size, server }
}

let pki: TestPki
t.before(async () => {
  pki = await makePki()
})
t.teardown(() => pki?.cleanup())

t.test('a healthy page passes with status, latency and time', async (tt) => {
  const s = await site(tt)
  const p = prober(tt)
  const before = Date.now()
  const started = performance.now()
  const r = await p.runCheck(check(s.url('/'), { bodyContains: s.marker }))
  const elapsed = performance.now() - started
  const after = Date.now()
  tt.equal(r.ok, true, r.message ?? '')
  tt.equal(r.status, 200)
  tt.equal(r.name, 'home')
  tt.equal(r.url, s.url('/'))
  // A real round trip takes some time, and no more than the call around it.
  tt.type(r.latencyMs, 'number')
  tt.ok(r.latencyMs! > 0 && r.latencyMs! <= elapsed + 0.01, `latency ${r.latencyMs} within the call's ${elapsed} ms`)
  tt.match(r.at, /^\d{4}-\d\d-\d\dT/)
  const at = Date.parse(r.at ?? '')
  // `at` comes from the monotonic clock anchored at process start, so allow it
  // to stray a little from Date.now(); a wrong time is off by far more.
  tt.ok(at >= before - 1000 && at <= after + 1000, `at ${r.at} within a second of the call`)
  tt.equal(r.message, undefined)
  tt.equal(r.warnings, undefined)
})

t.test('a 500 fails and names the status', async (tt) => {
  const s = await site(tt)
  s.set('broken')
  const r = await prober(tt).runCheck(check(s.url('/')))
  tt.equal(r.ok, false)
  tt.equal(r.status, 500)
  tt.equal(r.message, 'expected status 200-299, got 500')
})

t.test('expected status ranges other than 2xx', async (tt) => {
  const s = await site(tt)
  s.set('broken')
  const p = prober(tt)
  const r = await p.runCheck(
    check(s.url('/'), {
      expectStatus: [
        { min: 200, max: 200 },
        { min: 500, max: 503 },
      ],
    }),
  )
  tt.equal(r.ok, true, r.message ?? '')
  s.set('healthy')
  const r2 = await p.runCheck(check(s.url('/'), { expectStatus: [{ min: 301, max: 302 }] }))
  tt.equal(r2.message, 'expected status 301-302, got 200')
})

t.test('a wrong body fails with the start of the body as evidence', async (tt) => {
  const s = await site(tt)
  s.set('wrong-body')
  const r = await prober(tt).runCheck(check(s.url('/'), { bodyContains: s.marker }))
  tt.equal(r.ok, false)
  tt.equal(r.status, 200)
  tt.match(
    r.message,
    /^body does not contain "site-ok-marker"; body starts: "<!doctype html> <html><head><title>Maintenance<\/title>/,
  )
  // The snippet is one printable line of about 120 bytes.
  const snippet = /body starts: "(.*)"$/.exec(r.message!)![1]!
  tt.ok(snippet.length <= 121, `snippet is short (${snippet.length})`)
  tt.notMatch(snippet, /\n/)
})

t.test('bodyMatches: a regex over the body', async (tt) => {
  const s = await site(tt)
  const p = prober(tt)
  const c = check(s.url('/'), { bodyMatches: 'All good\\. site-ok-\\w+' })
  tt.equal((await p.runCheck(c)).ok, true)
  s.set('wrong-body')
  const r = await p.runCheck(c)
  tt.equal(r.ok, false)
  tt.match(r.message, /^body does not match \/All good\\\. site-ok-\\w\+\/; body starts: "<!doctype html>/)
})

t.test('bodyMatches: a catastrophic pattern over a 60 KB body takes linear time (issue 11)', async (tt) => {
  const s = await site(tt)
  const p = prober(tt)
  // V8's backtracking engine never finishes this on a body that ends in a
  // character \w+\s? cannot match (the marker has "-"); RE2 is linear.
  const c = check(s.url('/large?bytes=60000'), { bodyMatches: '^(\\w+\\s?)*$' })
  const started = performance.now()
  const r = await p.runCheck(c)
  const ms = performance.now() - started
  tt.equal(r.ok, false)
  tt.match(r.message, /^body does not match/)
  tt.ok(ms < 3000, `answered in ${Math.round(ms)} ms`)
})

t.test('json path: equal, different, missing, not JSON', async (tt) => {
  const s = await site(tt, { commit: 'abc123' })
  const p = prober(tt)
  const url = s.url('/health.json')

  const equal = await p.runCheck(check(url, { json: { path: '$.commit', equals: 'abc123' } }))
  tt.equal(equal.ok, true, equal.message ?? '')

  s.commit = 'def456'
  const different = await p.runCheck(check(url, { json: { path: '$.commit', equals: 'abc123' } }))
  tt.equal(different.ok, false)
  tt.match(
    different.message,
    /^json \$\.commit is "def456", expected "abc123"; body starts: "\{"status":"ok","commit":"def456"\}"$/,
  )

  const missing = await p.runCheck(check(url, { json: { path: '$.build.version', equals: 3 } }))
  tt.equal(missing.ok, false)
  tt.match(missing.message, /^json \$\.build\.version is missing: no \$\.build \(its parent is an object\)/)

  const wrongType = await p.runCheck(check(url, { json: { path: '$.status', equals: true } }))
  tt.match(wrongType.message, /^json \$\.status is "ok" \(a string\), expected true/)

  const notJson = await p.runCheck(check(s.url('/'), { json: { path: '$.status', equals: 'ok' } }))
  tt.equal(notJson.ok, false)
  tt.match(notJson.message, /^body is not JSON; body starts: "<!doctype html>/)
})

t.test('slower than maxLatencyMs fails with the time and the limit', async (tt) => {
  const s = await site(tt)
  s.set('slow', { delayMs: 250 })
  const r = await prober(tt).runCheck(check(s.url('/'), { maxLatencyMs: 100 }))
  tt.equal(r.ok, false)
  tt.equal(r.status, 200)
  tt.ok(r.latencyMs! >= 240, `latency ${r.latencyMs}`)
  tt.match(r.message, /^took \d+ ms, limit 100 ms$/)
})

t.test('a hanging endpoint costs at most its timeout (headers and body)', async (tt) => {
  const s = await site(tt)
  const p = prober(tt)
  for (const mode of ['hang', 'hang-body'] as const) {
    s.set(mode)
    const t0 = performance.now()
    const r = await p.runCheck(check(s.url('/'), { timeoutMs: 300 }))
    const took = performance.now() - t0
    tt.equal(r.ok, false, mode)
    tt.ok(took >= 295 && took < 300 + 250, `${mode}: returned after ${Math.round(took)} ms`)
    if (mode === 'hang') {
      tt.equal(r.message, 'no response within 300 ms')
      tt.equal(r.status, undefined)
    } else {
      tt.equal(r.message, 'response body not complete within 300 ms (status 200)')
      tt.equal(r.status, 200)
    }
  }
  // The timed-out connections are dropped, not left hanging on the server.
  await waitFor(() => s.openConnections === 0, {
    timeoutMs: 1000,
    intervalMs: 10,
    description: 'no connection left open',
  })
})

t.test('a TLS handshake that never completes costs at most the timeout', async (tt) => {
  // Accepts TCP, reads and ignores the ClientHello.
  const silent = await tcpServer(tt, (sock) => sock.resume())
  const p = createProber({ concurrency: 2 })
  const t0 = performance.now()
  const r = await p.runCheck(check(`https://127.0.0.1:${silent.port}/`, { timeoutMs: 300, tls: { verify: false } }))
  const took = performance.now() - t0
  tt.equal(r.ok, false)
  tt.equal(r.message, 'no connection within 300 ms (TCP connect or TLS handshake)')
  tt.ok(took < 300 + 250, `returned after ${Math.round(took)} ms`)
  // The abandoned handshake is reaped by close() (or by the 10 s connect timeout).
  await p.close()
  await waitFor(() => silent.open() === 0, {
    timeoutMs: 1000,
    intervalMs: 10,
    description: 'the silent connection closed',
  })
})

t.test('a connection that completes after the timeout is dropped, not used', async (tt) => {
  const s = await site(tt, { tls: pki.server })
  // Holds each connection 400 ms, then joins it to the real site.
  const lagging = await tcpServer(tt, (sock) => {
    sock.pause()
    setTimeout(() => {
      const up = connect(s.port, '127.0.0.1')
      up.on('error', () => sock.destroy())
      sock.on('close', () => up.destroy())
      up.on('close', () => sock.destroy())
      sock.pipe(up).pipe(sock)
      sock.resume()
    }, 400)
  })
  const p = prober(tt)
  const r = await p.runCheck(
    check(`https://127.0.0.1:${lagging.port}/`, { timeoutMs: 200, tls: { verify: true, caFile: pki.caFile } }),
  )
  tt.equal(r.message, 'no connection within 200 ms (TCP connect or TLS handshake)')
  // The handshake finishes at ~400 ms; the late request must be aborted before it is sent.
  await new Promise((r) => setTimeout(r, 600))
  tt.equal(s.requests, 0, 'the abandoned request never reached the site')
  await waitFor(() => lagging.open() === 0, {
    timeoutMs: 1000,
    intervalMs: 10,
    description: 'its connection was dropped',
  })
})

t.test('connection refused on a closed port', async (tt) => {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const { port } = srv.address() as AddressInfo
  await new Promise((r) => srv.close(r))
  const r = await prober(tt).runCheck(check(`http://127.0.0.1:${port}/`))
  tt.equal(r.ok, false)
  tt.equal(r.message, `connection refused by 127.0.0.1:${port} (ECONNREFUSED)`)
  tt.equal(r.status, undefined)
})

t.test('a connection reset by the server', async (tt) => {
  const s = await site(tt)
  s.set('reset')
  const r = await prober(tt).runCheck(check(s.url('/')))
  tt.equal(r.ok, false)
  tt.match(r.message, new RegExp(`^connection (closed|reset) by 127\\.0\\.0\\.1:${s.port}`))
})

t.test('a server that does not speak HTTP', async (tt) => {
  const garbage = await tcpServer(tt, (sock) => {
    sock.once('data', () => sock.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'))
  })
  const r = await prober(tt).runCheck(check(`http://127.0.0.1:${garbage.port}/`))
  tt.equal(r.ok, false)
  tt.match(
    r.message,
    new RegExp(
      `^invalid HTTP response from 127\\.0\\.0\\.1:${garbage.port}: Response does not match the HTTP/1\\.1 protocol`,
    ),
  )
})

t.test('TLS', async (tt) => {
  tt.test('a certificate from an unknown CA fails without the CA file', async (t2) => {
    const s = await site(t2, { tls: pki.server })
    const r = await prober(t2).runCheck(check(s.url('/')))
    t2.equal(r.ok, false)
    t2.match(
      r.message,
      /^TLS: the certificate of 127\.0\.0\.1:\d+ is not trusted, self-signed or from an unknown CA \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/,
    )
  })

  tt.test('with caFile it passes; with verify:false it passes', async (t2) => {
    const s = await site(t2, { tls: pki.server })
    const p = prober(t2)
    const withCa = await p.runCheck(
      check(s.url('/'), { tls: { verify: true, caFile: pki.caFile }, bodyContains: s.marker }),
    )
    t2.equal(withCa.ok, true, withCa.message ?? '')
    const noVerify = await p.runCheck(check(s.url('/'), { tls: { verify: false } }))
    t2.equal(noVerify.ok, true, noVerify.message ?? '')
  })

  tt.test('a self-signed certificate fails even with a CA file', async (t2) => {
    const s = await site(t2, { tls: pki.selfSigned })
    const r = await prober(t2).runCheck(check(s.url('/'), { tls: { verify: true, caFile: pki.caFile } }))
    t2.match(r.message, /not trusted, self-signed or from an unknown CA \(DEPTH_ZERO_SELF_SIGNED_CERT\)/)
  })

  tt.test('a certificate for another hostname fails', async (t2) => {
    const s = await site(t2, { tls: pki.wrongHost })
    const r = await prober(t2).runCheck(check(s.url('/'), { tls: { verify: true, caFile: pki.caFile } }))
    t2.equal(r.ok, false)
    t2.match(r.message, /^TLS: the certificate does not match the hostname 127\.0\.0\.1 \(/)
  })

  tt.test('an expired certificate fails', async (t2) => {
    const s = await site(t2, { tls: pki.expired })
    const r = await prober(t2).runCheck(check(s.url('/'), { tls: { verify: true, caFile: pki.caFile } }))
    t2.equal(r.ok, false)
    t2.match(r.message, /^TLS: the certificate of 127\.0\.0\.1:\d+ has expired \(CERT_HAS_EXPIRED\)$/)
  })

  tt.test('an expiring certificate is ok with a warning (alert only)', async (t2) => {
    const s = await site(t2, { tls: pki.expiring })
    const p = prober(t2)
    const tls = { verify: true, caFile: pki.caFile }
    const r = await p.runCheck(check(s.url('/'), { tls, certExpiryWarnDays: 14 }))
    t2.equal(r.ok, true, r.message ?? '')
    t2.equal(r.warnings?.length, 1)
    t2.match(
      r.warnings?.[0],
      new RegExp(
        `^the TLS certificate of 127\\.0\\.0\\.1:${s.port} expires in (1\\.9|2\\.0) days \\(${pki.expiring.notAfter.toISOString().replace(/\./g, '\\.')}\\), within the 14-day warning window$`,
      ),
    )
    // Outside the window, or no window: no warning.
    t2.equal((await p.runCheck(check(s.url('/'), { tls, certExpiryWarnDays: 1 }))).warnings, undefined)
    t2.equal((await p.runCheck(check(s.url('/'), { tls }))).warnings, undefined)
    // The warning rides along with a failure too; it never decides ok.
    s.set('broken')
    const broken = await p.runCheck(check(s.url('/'), { tls, certExpiryWarnDays: 14 }))
    t2.equal(broken.ok, false)
    t2.equal(broken.warnings?.length, 1)
  })

  tt.test('the warning also works with a new connection per probe (TLS session resumption)', async (t2) => {
    const s = await site(t2, { tls: pki.expiring })
    const p = prober(t2, { keepAlive: false })
    const c = check(s.url('/'), { tls: { verify: true, caFile: pki.caFile }, certExpiryWarnDays: 14 })
    for (let i = 0; i < 3; i++) {
      const r = await p.runCheck(c)
      t2.equal(r.ok, true, r.message ?? '')
      t2.equal(r.warnings?.length, 1, `probe ${i}`)
    }
    t2.equal(s.connections, 3)
  })

  tt.test('an unreadable CA file is a failed result, not a throw', async (t2) => {
    const r = await prober(t2).runCheck(
      check('https://127.0.0.1:1/', { tls: { verify: true, caFile: `${pki.dir}/nope.pem` } }),
    )
    t2.equal(r.ok, false)
    t2.match(r.message, /^cannot read the CA file .*nope\.pem: ENOENT$/)
  })
})

t.test('concurrency is bounded across all calls', async (tt) => {
  const s = await site(tt)
  s.set('slow', { delayMs: 100 })
  const p = prober(tt, { concurrency: 3 })
  const checks = Array.from({ length: 10 }, (_, i) => check(s.url(`/page-${i}`), { name: `c${i}` }))
  const results = await p.runChecks(checks)
  tt.equal(s.maxInFlight, 3)
  tt.equal(s.requests, 10)
  tt.same(
    results.map((r) => r.name),
    checks.map((c) => c.name),
    'results in the order of the checks',
  )
  tt.ok(results.every((r) => r.ok))

  // Two callers at once share the same bound.
  s.resetCounters()
  await Promise.all([p.runChecks(checks.slice(0, 5)), p.runChecks(checks.slice(5)), p.runCheck(checks[0]!)])
  tt.equal(s.maxInFlight, 3)
  tt.equal(s.requests, 11)
})

t.test('keep-alive reuses connections; keepAlive:false opens one per probe', async (tt) => {
  const s = await site(tt)
  const c = check(s.url('/'), { bodyContains: s.marker })

  const pooled = prober(tt, { concurrency: 1 })
  for (let i = 0; i < 10; i++) tt.equal((await pooled.runCheck(c)).ok, true)
  tt.equal(s.requests, 10)
  tt.equal(s.connections, 1)

  s.resetCounters()
  const fresh = prober(tt, { concurrency: 1, keepAlive: false })
  for (let i = 0; i < 10; i++) tt.equal((await fresh.runCheck(c)).ok, true)
  tt.equal(s.requests, 10)
  tt.equal(s.connections, 10)
  await fresh.close()
  await pooled.close()
  await waitFor(() => s.openConnections === 0, { timeoutMs: 1000, intervalMs: 10 })
})

t.test('a large body is read to a cap; the connection stays reusable', async (tt) => {
  const s = await site(tt)
  const p = prober(tt, { concurrency: 1 })
  // The marker sits after LARGE_BYTES of filler, beyond the 64 KiB kept.
  const r = await p.runCheck(check(s.url('/large'), { bodyContains: s.marker }))
  tt.equal(r.ok, false)
  tt.match(
    r.message,
    new RegExp(
      `^body does not contain "site-ok-marker" \\(only the first 65536 of ${LARGE_BYTES + s.marker.length}\\+ bytes are checked\\); body starts: "filler line filler line`,
    ),
  )
  const statusOnly = await p.runCheck(check(s.url('/large')))
  tt.equal(statusOnly.ok, true)
  tt.equal(s.connections, 1, 'the big answer was drained, the connection reused')
})

t.test('a body past the read limit is cut: the probe ends, the connection is dropped', async (tt) => {
  const s = await site(tt)
  const p = prober(tt, { concurrency: 1 })
  const r = await p.runCheck(check(s.url('/large?bytes=3000000')))
  tt.equal(r.ok, true, r.message ?? '')
  await waitFor(() => s.openConnections === 0, {
    timeoutMs: 1000,
    intervalMs: 10,
    description: 'the connection was closed rather than drained',
  })
  const again = await p.runCheck(check(s.url('/')))
  tt.equal(again.ok, true)
  tt.equal(s.connections, 2)
})

t.test('many queued checks: all run, in order, within the bound', async (tt) => {
  const s = await site(tt)
  const p = prober(tt, { concurrency: 2 })
  const checks = Array.from({ length: 3000 }, (_, i) => check(s.url(`/health.json?i=${i}`), { name: `c${i}` }))
  const results = await p.runChecks(checks)
  tt.equal(results.length, 3000)
  tt.ok(results.every((r, i) => r.ok && r.name === `c${i}`))
  tt.ok(s.maxInFlight <= 2)
  tt.ok(s.connections <= 2, `connections: ${s.connections}`)
})

t.test('failures are logged at debug with the component', async (tt) => {
  const s = await site(tt)
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      cb()
    },
  })
  const logger = pino({ level: 'debug' }, sink)
  const p = prober(tt, { logger })
  await p.runCheck(check(s.url('/')))
  s.set('broken')
  await p.runCheck(check(s.url('/'), { name: 'front' }))
  await new Promise((r) => setImmediate(r))
  tt.equal(lines.length, 1, 'only the failure is logged')
  tt.match(lines[0], {
    component: 'probe',
    check: 'front',
    status: 500,
    reason: 'expected status 200-299, got 500',
    msg: 'probe failed',
  })
})

t.test('method, headers and body are sent as configured', async (tt) => {
  const s = await site(tt)
  const p = prober(tt)
  const r = await p.runCheck(
    check(s.url('/submit?x=1'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-probe': 'kube-recycler' },
      body: '{"ping":true}',
    }),
  )
  tt.equal(r.ok, true, r.message ?? '')
  tt.equal(s.last?.method, 'POST')
  tt.equal(s.last?.url, '/submit?x=1')
  tt.equal(s.last?.headers['x-probe'], 'kube-recycler')
  tt.equal(s.last?.body, '{"ping":true}')

  const head = await p.runCheck(check(s.url('/'), { method: 'HEAD' }))
  tt.equal(head.ok, true, head.message ?? '')
  tt.equal(s.last?.method, 'HEAD')
})

t.test('a check that cannot run is a failed result', async (tt) => {
  const p = prober(tt)
  const cases: [Partial<CheckConfig> & { url: string }, RegExp][] = [
    [{ url: 'not a url' }, /^invalid URL "not a url"$/],
    [{ url: 'ftp://127.0.0.1/' }, /^unsupported URL scheme "ftp:"/],
    [{ url: 'http://127.0.0.1:1/', bodyMatches: '(' }, /^invalid bodyMatches regex: /],
    [{ url: 'http://127.0.0.1:1/', json: { path: '$..a', equals: 1 } }, /^invalid json\.path: empty name/],
    [
      { url: 'http://127.0.0.1:1/', headers: { 'x-a': 'one\r\ntwo' } },
      /^the request cannot be sent: invalid x-a header/,
    ],
  ]
  for (const [c, re] of cases) {
    const r = await p.runCheck(check(c.url, c))
    tt.equal(r.ok, false)
    tt.match(r.message, re)
  }
})

t.test('close() aborts probes in flight and leaves no socket open', async (tt) => {
  const s = await site(tt)
  const p = createProber({ concurrency: 2 })
  // Idle keep-alive connections, then two hanging probes and one queued.
  await p.runChecks([check(s.url('/')), check(s.url('/'))])
  s.set('hang')
  const pending = p.runChecks([
    check(s.url('/'), { timeoutMs: 10_000 }),
    check(s.url('/'), { timeoutMs: 10_000 }),
    check(s.url('/')),
  ])
  await waitFor(() => s.inFlight === 2, { timeoutMs: 1000, intervalMs: 10 })
  const t0 = performance.now()
  await p.close()
  const results = await pending
  tt.ok(performance.now() - t0 < 1000, 'close does not wait for the hanging probes')
  tt.same(
    results.map((r) => r.ok),
    [false, false, false],
  )
  tt.equal(results[0]!.message, 'the prober was closed during the probe')
  tt.equal(results[2]!.message, 'the prober is closed')
  await waitFor(() => s.openConnections === 0, {
    timeoutMs: 1000,
    intervalMs: 10,
    description: `open connections: ${s.openConnections}`,
  })
  const after = await p.runCheck(check(s.url('/')))
  tt.equal(after.message, 'the prober is closed')
})

t.test('the clock is a parameter', async (tt) => {
  const s = await site(tt)
  let clock = Date.UTC(2030, 0, 1)
  const p = prober(tt, { now: () => (clock += 600) })
  const r = await p.runCheck(check(s.url('/'), { maxLatencyMs: 500 }))
  tt.equal(r.at, '2030-01-01T00:00:00.600Z')
  tt.equal(r.latencyMs, 600)
  tt.equal(r.message, 'took 600 ms, limit 500 ms')
})
