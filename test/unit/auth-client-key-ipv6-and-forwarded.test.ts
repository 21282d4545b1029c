// Who the client is, for every per-client limit: an IPv6 client is its /64
// (one host can hold a whole /64 and pick a fresh address per request) for
// the failed-auth limit and the connection cap, as for the request limit;
// behind trusted proxies the client is the right-most untrusted hop of
// X-Forwarded-For, and a hop that is not an address is refused (400), not
// used as a key the sender makes up.

import t, { type Test } from 'tap'
import { connect, createServer, type Socket } from 'node:net'
import { testApp, TEST_CONFIG } from '../fixtures/app.ts'

const SITES = TEST_CONFIG.slice(TEST_CONFIG.indexOf('sites:'))
const json = { 'content-type': 'application/json' }
const wrongToken = (i: number) => ({ ...json, authorization: `Bearer wrong-${i}` })

t.test('failed authentications from one IPv6 /64 share one count', async (t) => {
  const h = await testApp({ config: SITES })
  t.after(() => h.app.close())
  const codes: number[] = []
  for (let i = 1; i <= 11; i++) {
    const r = await h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      remoteAddress: `2001:db8:1:2::${i.toString(16)}`,
      headers: wrongToken(i),
      payload: '{}',
    })
    codes.push(r.statusCode)
  }
  t.same(codes, [...Array(10).fill(401), 429], 'eleven addresses of one /64: the 11th failure is refused')
  const other = await h.app.inject({
    method: 'POST',
    url: '/webhooks/jenkins',
    remoteAddress: '2001:db8:1:3::1',
    headers: wrongToken(0),
    payload: '{}',
  })
  t.equal(other.statusCode, 401, 'another /64 has its own count')
})

t.test('failed authentications through a trusted proxy count per forwarded /64', async (t) => {
  const h = await testApp({ config: `service: { trustProxy: ["10.0.0.0/8"] }\n${SITES}` })
  t.after(() => h.app.close())
  const codes: number[] = []
  for (let i = 1; i <= 11; i++) {
    const r = await h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      remoteAddress: '10.0.0.7',
      headers: { ...wrongToken(i), 'x-forwarded-for': `2001:db8:5:6:${i}::1` },
      payload: '{}',
    })
    codes.push(r.statusCode)
  }
  t.same(codes, [...Array(10).fill(401), 429])
})

const XFF_ROWS: { name: string; xff: string; status: number; ip?: string }[] = [
  { name: 'a word', xff: 'not-an-address', status: 400 },
  { name: 'an address with a port', xff: '203.0.113.9:4711', status: 400 },
  { name: 'a bracketed IPv6 address', xff: '[2001:db8::1]', status: 400 },
  { name: 'garbage right of a real address', xff: '203.0.113.9, junk', status: 400 },
  {
    name: 'the right-most untrusted hop wins',
    xff: '198.51.100.1, 203.0.113.9, 10.1.2.3',
    status: 200,
    ip: '203.0.113.9',
  },
  {
    name: 'garbage left of the right-most untrusted hop is not looked at',
    xff: 'junk, 203.0.113.9',
    status: 200,
    ip: '203.0.113.9',
  },
]

for (const row of XFF_ROWS) {
  t.test(`X-Forwarded-For from a trusted proxy: ${row.name}`, async (t) => {
    const h = await testApp({ config: `service: { trustProxy: ["10.0.0.0/8"] }\n${SITES}` })
    t.after(() => h.app.close())
    const r = await h.app.inject({
      method: 'GET',
      url: '/healthz',
      remoteAddress: '10.0.0.7',
      headers: { 'x-forwarded-for': row.xff },
    })
    t.equal(r.statusCode, row.status, r.body)
    if (row.status === 400) {
      t.same(Object.keys(r.json()).sort(), ['code', 'message'])
      t.equal(r.json().code, 'KR_BAD_REQUEST')
      t.match(r.json().message, /X-Forwarded-For/)
      t.notMatch(r.body, /junk|not-an-address/, 'the value is not echoed')
    }
    if (row.ip) {
      // The request limit keys on the client: a 429 names nothing, so look at the log line's client.
      t.ok(
        h.logs.some((l) => l.includes(`"remoteAddress":"${row.ip}"`)),
        `the client is ${row.ip}`,
      )
    }
  })
}

t.test('X-Forwarded-For from an untrusted peer is ignored, whatever it says', async (t) => {
  const h = await testApp({ config: `service: { trustProxy: ["10.0.0.0/8"] }\n${SITES}` })
  t.after(() => h.app.close())
  const r = await h.app.inject({
    method: 'GET',
    url: '/healthz',
    remoteAddress: '192.0.2.1',
    headers: { 'x-forwarded-for': 'junk' },
  })
  t.equal(r.statusCode, 200)
})

/**
 * Connections that reach the app's real HTTP server with a given peer
 * address: a relay accepts on loopback and hands each socket to the app's
 * server as if it came from `addresses[i]`.
 */
async function relay(t: Test, server: import('node:http').Server, addresses: string[]) {
  let n = 0
  const front = createServer((socket) => {
    Object.defineProperty(socket, 'remoteAddress', { value: addresses[n++ % addresses.length] })
    server.emit('connection', socket)
  })
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => front.close(() => resolve())))
  const port = (front.address() as import('node:net').AddressInfo).port
  return (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s))
      s.on('error', reject)
      t.after(() => s.destroy())
    })
}

t.test('the connection cap counts an IPv6 /64 as one client', async (t) => {
  const h = await testApp({ config: `service: { maxConnectionsPerClient: 4 }\n${SITES}` })
  t.after(() => h.app.close())
  const open = await relay(t, h.app.server, [
    '2001:db8:7:8::1',
    '2001:db8:7:8::2',
    '2001:db8:7:8::3',
    '2001:db8:7:8::4',
    '2001:db8:7:8:ffff::5',
  ])
  const sockets: Socket[] = []
  for (let i = 0; i < 4; i++) sockets.push(await open())
  const fifth = await open()
  // Refused at once; a connection left open (the cap not applied) ends the wait after 3 s.
  const answer = await new Promise<string>((resolve) => {
    let data = ''
    const timer = setTimeout(() => resolve(`still open after 3 s: ${data}`), 3000)
    fifth.on('data', (b) => {
      data += b.toString()
    })
    fifth.on('close', () => {
      clearTimeout(timer)
      resolve(data)
    })
    fifth.on('error', () => undefined)
  })
  t.match(answer, /^HTTP\/1\.1 429 /, 'the fifth connection from the /64 is refused')
  t.match(answer, /KR_RATE_LIMITED/)
  // The four first are open and served.
  const first = sockets[0]!
  const served = new Promise<string>((resolve) => {
    let data = ''
    first.on('data', (b) => {
      data += b.toString()
      if (data.includes('\r\n\r\n')) resolve(data)
    })
  })
  first.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(await served, /^HTTP\/1\.1 200 /)
})
