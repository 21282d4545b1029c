// What a hostile client meets below the routes, on real sockets: slow
// requests are cut (issue 11, point 4), one address cannot hold more than
// its share of connections, errors raised before routing answer
// { code, message } without echoing the path and close the connection
// (point 8), the read routes have a rate limit, X-Forwarded-For is believed
// only from the configured proxies, and the HTML page has its security
// headers (point 9).

import t from 'tap'
import { connect, type Socket } from 'node:net'
import { SECRETS, testApp, TEST_CONFIG } from '../fixtures/app.ts'

const SITES = TEST_CONFIG.slice(TEST_CONFIG.indexOf('sites:'))

async function listening(config: string) {
  const h = await testApp({ config })
  const url = await h.app.listen({ host: '127.0.0.1', port: 0 })
  return { ...h, port: Number(new URL(url).port) }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s))
    s.on('error', reject)
  })
}

/** Everything the server sends until it closes the socket, and when that was (ms after the call). */
function untilClosed(s: Socket, limitMs: number): Promise<{ data: string; ms: number; closed: boolean }> {
  const started = Date.now()
  return new Promise((resolve) => {
    let data = ''
    const timer = setTimeout(() => resolve({ data, ms: Date.now() - started, closed: false }), limitMs)
    s.on('data', (b) => {
      data += b.toString('latin1')
    })
    s.on('error', () => undefined)
    s.on('close', () => {
      clearTimeout(timer)
      resolve({ data, ms: Date.now() - started, closed: true })
    })
  })
}

function parse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', ...rest] = raw.split('\r\n\r\n')
  const [line = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const l of lines) {
    const i = l.indexOf(':')
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
  }
  return { status: Number(line.split(' ')[1]), headers, body: rest.join('\r\n\r\n') }
}

t.test('a body trickled at 1 byte/s is cut at the request timeout with 408 { code, message }', async (t) => {
  const h = await listening(`service: { timeouts: { headers: 1s, request: 2s } }\n${SITES}`)
  t.teardown(() => h.app.close())
  const s = await open(h.port)
  t.teardown(() => s.destroy())
  // Authenticated, so the route waits for the body (an unauthenticated one is answered 401 at once).
  s.write(
    `POST /webhooks/jenkins HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRETS.webhookToken}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`,
  )
  const trickle = setInterval(() => {
    if (!s.destroyed) s.write('{')
  }, 1000)
  t.teardown(() => clearInterval(trickle))
  const r = await untilClosed(s, 10_000)
  t.ok(r.closed, `the server closed the connection (after ${r.ms} ms)`)
  t.ok(r.ms < 5000, "within the 2 s request timeout plus Node's check interval")
  const res = parse(r.data)
  t.equal(res.status, 408)
  t.equal(res.headers.connection, 'close')
  t.same(JSON.parse(res.body), {
    code: 'KR_REQUEST_TIMEOUT',
    message: 'the request (headers and body) did not arrive in time; the connection is closed',
  })
})

t.test('headers trickled slowly are cut at the headers timeout', async (t) => {
  const h = await listening(`service: { timeouts: { headers: 1s, request: 5s } }\n${SITES}`)
  t.teardown(() => h.app.close())
  const s = await open(h.port)
  t.teardown(() => s.destroy())
  s.write('GET /status HTTP/1.1\r\n')
  const trickle = setInterval(() => {
    if (!s.destroyed) s.write('X-A: b\r\n')
  }, 300)
  t.teardown(() => clearInterval(trickle))
  const r = await untilClosed(s, 10_000)
  t.ok(r.closed && r.ms < 3500, `closed after ${r.ms} ms`)
  t.equal(parse(r.data).status, 408)
})

t.test('one address holds at most maxConnectionsPerClient connections; more are answered 429 and closed', async (t) => {
  const h = await listening(`service: { maxConnectionsPerClient: 4, timeouts: { idle: 30s } }\n${SITES}`)
  t.teardown(() => h.app.close())
  const held: Socket[] = []
  t.teardown(() => {
    for (const s of held) s.destroy()
  })
  for (let i = 0; i < 4; i++) held.push(await open(h.port))
  const extra: Array<Promise<{ data: string; closed: boolean }>> = []
  for (let i = 0; i < 6; i++) {
    const s = await open(h.port)
    held.push(s)
    extra.push(untilClosed(s, 3000))
  }
  for (const r of await Promise.all(extra)) {
    t.ok(r.closed, 'an extra connection is closed at once')
    const res = parse(r.data)
    t.equal(res.status, 429)
    t.equal(JSON.parse(res.body).code, 'KR_RATE_LIMITED')
  }
  // The first four still work.
  const first = held[0]!
  first.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  const ok = await untilClosed(first, 3000)
  t.equal(parse(ok.data).status, 200, 'a held connection still answers')
  // A closed connection frees its place.
  await new Promise((r) => setTimeout(r, 100))
  const again = await open(h.port)
  held.push(again)
  again.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(parse((await untilClosed(again, 3000)).data).status, 200, 'a new connection is taken once one closed')
})

const RAW_ERRORS: Array<{ name: string; send: string; status: number; code: string; notEcho?: string }> = [
  {
    name: 'a bad request line',
    send: 'GARBAGE /<script>secret-path HTTP/1.1\r\n\r\n',
    status: 400,
    code: 'KR_BAD_REQUEST',
    notEcho: 'secret-path',
  },
  {
    name: 'headers larger than 16 KiB',
    send: `GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    status: 431,
    code: 'KR_HEADERS_TOO_LARGE',
  },
  {
    name: 'a URL larger than 16 KiB',
    send: `GET /${'p'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    status: 431,
    code: 'KR_HEADERS_TOO_LARGE',
    notEcho: 'ppppp',
  },
  {
    name: 'a path segment over 200 characters',
    send: `GET /recycles/${'x'.repeat(300)}-marker HTTP/1.1\r\nHost: x\r\n\r\n`,
    status: 414,
    code: 'KR_URI_TOO_LONG',
    notEcho: 'marker',
  },
  {
    name: 'bad percent-encoding in a parameter',
    send: 'GET /recycles/%E0%A4%A-marker HTTP/1.1\r\nHost: x\r\n\r\n',
    status: 400,
    code: 'KR_BAD_REQUEST',
    notEcho: 'marker',
  },
]

t.test('errors before routing: { code, message }, no echo of the path, Connection: close', async (t) => {
  const h = await listening(`service: { timeouts: { idle: 30s } }\n${SITES}`)
  t.teardown(() => h.app.close())
  for (const row of RAW_ERRORS) {
    const s = await open(h.port)
    t.teardown(() => s.destroy())
    s.write(row.send)
    const r = await untilClosed(s, 3000)
    const res = parse(r.data)
    t.equal(res.status, row.status, `${row.name}: status`)
    t.equal(res.headers.connection, 'close', `${row.name}: Connection: close`)
    t.ok(r.closed, `${row.name}: the socket is closed`)
    const body = JSON.parse(res.body)
    t.same(Object.keys(body).sort(), ['code', 'message'], `${row.name}: { code, message }`)
    t.equal(body.code, row.code, `${row.name}: code`)
    if (row.notEcho) t.notMatch(r.data, row.notEcho, `${row.name}: the path is not echoed`)
  }
})

t.test('the read routes have their own rate limit', async (t) => {
  const h = await testApp({ config: `service: { readRateLimit: { max: 3, window: 1m } }\n${SITES}` })
  t.teardown(() => h.app.close())
  for (const url of ['/status', '/metrics', '/recycles/nope']) {
    const codes: number[] = []
    for (let i = 0; i < 4; i++) codes.push((await h.app.inject({ method: 'GET', url })).statusCode)
    t.equal(codes[3], 429, `${url}: the 4th read in a minute is 429 (${codes.join(',')})`)
  }
  const r = await h.app.inject({ method: 'GET', url: '/status' })
  t.equal(r.json().code, 'KR_RATE_LIMITED')
  t.ok(Number(r.headers['retry-after']) > 0, 'with Retry-After')
  t.equal(
    (await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode,
    200,
    'the service probes are not limited',
  )
})

t.test('trustProxy: X-Forwarded-For is believed only from a listed proxy, and the limits key on it', async (t) => {
  const h = await testApp({
    config: `service: { readRateLimit: { max: 2, window: 1m }, trustProxy: ["10.0.0.0/8"] }\n${SITES}`,
  })
  t.teardown(() => h.app.close())
  const get = (remoteAddress: string, xff?: string) =>
    h.app.inject({ method: 'GET', url: '/status', remoteAddress, headers: xff ? { 'x-forwarded-for': xff } : {} })
  // Through the proxy, two clients have two budgets.
  t.same(
    [
      (await get('10.1.1.1', '203.0.113.5')).statusCode,
      (await get('10.1.1.1', '203.0.113.5')).statusCode,
      (await get('10.1.1.1', '203.0.113.5')).statusCode,
    ],
    [200, 200, 429],
  )
  t.equal((await get('10.1.1.1', '203.0.113.6')).statusCode, 200, 'another client behind the proxy has its own budget')
  // A direct client cannot pick a fresh address with the header.
  t.same(
    [
      (await get('192.0.2.9', '198.51.100.1')).statusCode,
      (await get('192.0.2.9', '198.51.100.2')).statusCode,
      (await get('192.0.2.9', '198.51.100.3')).statusCode,
    ],
    [200, 200, 429],
    "an untrusted peer's X-Forwarded-For is ignored",
  )
})

t.test('the HTML page sends nosniff, a CSP and frame-ancestors', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const r = await h.app.inject({ method: 'GET', url: '/status', headers: { accept: 'text/html' } })
  t.equal(r.statusCode, 200)
  t.match(r.headers['content-type'], /text\/html/)
  t.equal(r.headers['x-content-type-options'], 'nosniff')
  const csp = String(r.headers['content-security-policy'])
  t.match(csp, /default-src 'none'/)
  t.match(csp, /frame-ancestors 'none'/)
  t.match(csp, /script-src 'none'|script-src 'self'/)
  t.equal(r.headers['x-frame-options'], 'DENY')
  const j = await h.app.inject({ method: 'GET', url: '/status' })
  t.equal(j.headers['x-content-type-options'], 'nosniff', 'JSON answers too')
})
