// The operator's routes through the HTTP API: pause and resume (a site, the
// service), reset, approve, reject and expiry, named operator tokens, bad
// input; two apps on one object store behave as two replicas. And the
// notifications, to a real local HTTP receiver: signed, in order, and a
// receiver that hangs or answers 500 delays nothing.

import t, { type Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { parseOperatorTokens } from '../../src/config/secrets.ts'
import { resolveTargets } from '../../src/notify/targets.ts'
import { memoryObjectStore } from '../../src/state/memory.ts'
import { verifySignature } from '../../src/triggers/signature.ts'
import { ALICE_TOKEN, SECRETS, testApp } from '../fixtures/app.ts'
import { fakeExecutor } from '../fixtures/fake-executor.ts'
import { waitFor } from '../fixtures/wait.ts'

const OP = SECRETS.recycleToken
/** `token` null: no Authorization header at all. */
const op = (app: FastifyInstance, url: string, body?: unknown, token: string | null = ALICE_TOKEN) =>
  app
    .inject({
      method: 'POST',
      url,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    })
    .then((r) => ({ status: r.statusCode, json: r.json() }))
const webhook = (h: Awaited<ReturnType<typeof testApp>>, build: number, status = 'FAILURE', job = 'shop-integrity') => {
  const body = JSON.stringify({ job, build, status })
  return h.app
    .inject({ method: 'POST', url: '/webhooks/jenkins', headers: h.signed(body), payload: body })
    .then((r) => r.json())
}
const status = async (app: FastifyInstance) => (await app.inject({ method: 'GET', url: '/status' })).json()

t.test(
  'bad input: no token 401, unknown site 404, missing reason 400, bad until 400, unknown recycle 404',
  async (t) => {
    const h = await testApp()
    t.teardown(() => h.app.close())
    const rows: [string, unknown, string | null, number, string, RegExp][] = [
      ['/sites/shop/pause', { reason: 'x' }, null, 401, 'KR_UNAUTHORIZED', /missing credentials/],
      ['/pause', { reason: 'x' }, 'not-a-token', 401, 'KR_UNAUTHORIZED', /not valid/],
      ['/sites/shop/reset', undefined, null, 401, 'KR_UNAUTHORIZED', /missing credentials/],
      ['/recycles/rc-x/approve', undefined, null, 401, 'KR_UNAUTHORIZED', /missing credentials/],
      ['/sites/nope/pause', { reason: 'x' }, ALICE_TOKEN, 404, 'KR_UNKNOWN_SITE', /no site named "nope"/],
      ['/sites/nope/resume', undefined, ALICE_TOKEN, 404, 'KR_UNKNOWN_SITE', /no site named "nope"/],
      ['/sites/nope/reset', undefined, ALICE_TOKEN, 404, 'KR_UNKNOWN_SITE', /no site named "nope"/],
      ['/sites/shop/pause', {}, ALICE_TOKEN, 400, 'KR_INVALID_FIELD', /body\.reason/],
      ['/pause', { reason: '' }, ALICE_TOKEN, 400, 'KR_INVALID_FIELD', /body\.reason/],
      [
        '/pause',
        { reason: 'x', until: 'tomorrow' },
        ALICE_TOKEN,
        400,
        'KR_INVALID_FIELD',
        /body\.until: must be an ISO 8601/,
      ],
      [
        '/pause',
        { reason: 'x', until: '2001-01-01T00:00:00Z' },
        ALICE_TOKEN,
        400,
        'KR_INVALID_FIELD',
        /body\.until: must be in the future/,
      ],
      ['/pause', { reason: 'x', extra: 1 }, ALICE_TOKEN, 400, 'KR_INVALID_FIELD', /extra/],
      ['/sites/shop/reset', { reason: 5 }, ALICE_TOKEN, 400, 'KR_INVALID_FIELD', /body\.reason/],
      ['/recycles/rc-x/approve', undefined, ALICE_TOKEN, 404, 'KR_NOT_FOUND', /no recycle with id "rc-x"/],
      ['/recycles/rc-x/reject', undefined, ALICE_TOKEN, 404, 'KR_NOT_FOUND', /no recycle with id "rc-x"/],
    ]
    for (const [url, body, token, code, errCode, msg] of rows) {
      const r = await op(h.app, url, body, token)
      t.equal(r.status, code, `${url} ${JSON.stringify(body)}: ${code}`)
      t.equal(r.json.code, errCode)
      t.match(r.json.message, msg)
    }
    t.equal((await status(h.app)).sites[0].paused, null, 'nothing was paused by the refused requests')
  },
)

t.test('a paused site ignores a failure on every replica, says so, and resumes', async (t) => {
  const objects = memoryObjectStore()
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'ok' } })
  const a = await testApp({ extra: { objects, executor: ex, identity: 'a' } })
  const b = await testApp({ extra: { objects, identity: 'b', isLeader: () => false, executor: fakeExecutor() } })
  t.teardown(async () => {
    await a.app.close()
    await b.app.close()
  })
  const until = new Date(a.clock.now() + 3_600_000).toISOString()
  const p = await op(a.app, '/sites/shop/pause', { reason: 'deploy freeze', until })
  t.equal(p.status, 200)
  t.match(p.json, { site: 'shop', paused: { by: 'alice', reason: 'deploy freeze', until } })
  const seen = await webhook(b, 1)
  t.equal(seen.action, 'none', 'the other replica answers: no recycle')
  t.equal(seen.health, 'failing', 'the verdict is still taken')
  t.match(seen.reason, /^paused: this site is paused by alice since .* until .* \(deploy freeze\)$/)
  t.equal(ex.runs.length, 0)
  for (const h of [a, b]) {
    const s = await status(h.app)
    t.match(s.sites[0].paused, { by: 'alice', reason: 'deploy freeze', until })
    t.equal(s.sites[1].paused, null, 'only that site')
    t.equal(s.service.paused, null)
    t.match(
      (await h.app.inject({ method: 'GET', url: '/metrics' })).body,
      /kube_recycler_paused\{site="shop",scope="site"\} 1/,
    )
    t.match((await h.app.inject({ method: 'GET', url: '/status?format=html' })).body, /paused by alice since/)
  }
  // An operator's recycle still works while paused, and records who.
  const manual = await op(b.app, '/recycle', { site: 'shop', reason: 'by hand' }, OP)
  t.equal(manual.status, 202)
  await ex.waitRuns(1)
  await a.app.core.recycler.idle()
  t.equal(
    a.app.core.recycler.get(manual.json.id)?.by,
    'operator',
    'KUBE_RECYCLER_RECYCLE_TOKEN is the operator named "operator"',
  )
  const r = await op(b.app, '/sites/shop/resume', undefined)
  t.match(r.json, { site: 'shop', paused: null, was: { by: 'alice' } })
  a.clock.advance(11 * 60_000) // past the manual recycle's cooldown
  b.clock.advance(11 * 60_000)
  await webhook(a, 2, 'SUCCESS')
  const after = await webhook(a, 3)
  t.equal(after.action, 'recycle-requested', 'resumed: a failure recycles')
  await ex.waitRuns(2)
  t.match(
    (await a.app.inject({ method: 'GET', url: '/metrics' })).body,
    /kube_recycler_paused\{site="shop",scope="site"\} 0/,
  )
})

t.test('the whole service paused: every site, every replica; a pause with until ends by itself', async (t) => {
  const objects = memoryObjectStore()
  const a = await testApp({ extra: { objects } })
  const b = await testApp({ extra: { objects, isLeader: () => false } })
  t.teardown(async () => {
    await a.app.close()
    await b.app.close()
  })
  const until = new Date(a.clock.now() + 60_000).toISOString()
  t.match((await op(a.app, '/pause', { reason: 'incident 42', until })).json, {
    paused: { by: 'alice', reason: 'incident 42', until },
  })
  const s = await status(b.app)
  t.match(s.service.paused, { by: 'alice', reason: 'incident 42' })
  const blog1 = await webhook(b, 1, 'FAILURE', 'blog-integrity')
  const blog2 = await webhook(b, 2, 'FAILURE', 'blog-integrity')
  t.equal(blog1.reason, '1/2 consecutive failures')
  t.match(blog2.reason, /^paused: the service is paused by alice .*\(incident 42\)$/, 'every site (blog too)')
  t.match((await b.app.inject({ method: 'GET', url: '/status?format=html' })).body, /The service is paused by alice/)
  t.match(
    (await b.app.inject({ method: 'GET', url: '/metrics' })).body,
    /kube_recycler_paused\{site="blog",scope="service"\} 1/,
  )
  b.clock.advance(61_000)
  t.equal((await status(b.app)).service.paused, null, 'past until: not paused')
  t.match(
    (await b.app.inject({ method: 'GET', url: '/metrics' })).body,
    /kube_recycler_paused\{site="blog",scope="service"\} 0/,
    'the gauge too, without a write',
  )
  const after = await webhook(b, 3, 'FAILURE', 'blog-integrity')
  t.equal(
    after.action,
    'planned',
    'the pause is over: the next failure asks for a recycle (planned: this app has no cluster)',
  )
  t.notMatch(after.reason, /paused/)
  t.match((await op(a.app, '/resume', { reason: 'over' })).json, { paused: null })
})

t.test('a site added to the config while the service is paused is paused too', async (t) => {
  const objects = memoryObjectStore()
  const one = `
service: { rateLimit: { max: 1000, window: 1m } }
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    jenkins: { jobs: [shop-integrity] }
`
  const a = await testApp({ config: one, extra: { objects } })
  t.teardown(() => a.app.close())
  await op(a.app, '/pause', { reason: 'freeze' })
  const b = await testApp({ extra: { objects } }) // shop, blog and pool: blog and pool are new
  t.teardown(() => b.app.close())
  await waitFor(() => b.app.core.store.get('blog').since !== undefined, {
    timeoutMs: 2000,
    intervalMs: 10,
    description: 'blog state written',
  })
  await webhook(b, 1, 'FAILURE', 'blog-integrity')
  const r = await webhook(b, 2, 'FAILURE', 'blog-integrity')
  t.match(r.reason, /^paused: the service is paused by alice/)
  t.match((await status(b.app)).service.paused, { by: 'alice', reason: 'freeze' })
})

t.test('reset: closes the circuit and lifts did-not-help without a recycle, recorded', async (t) => {
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'ok' } })
  const h = await testApp({
    extra: { executor: ex },
    config: `
service: { rateLimit: { max: 1000, window: 1m } }
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    jenkins: { jobs: [shop-integrity] }
    recycle: { cooldown: 0s, maxPerWindow: 1, window: 1h }
`,
  })
  t.teardown(() => h.app.close())
  t.equal((await webhook(h, 1)).action, 'recycle-requested')
  await ex.waitRuns(1)
  await h.app.core.recycler.idle()
  t.match((await webhook(h, 2)).reason, /recycle-did-not-help/)
  await webhook(h, 3, 'SUCCESS')
  t.match((await webhook(h, 4)).reason, /^circuit open/)
  t.equal((await status(h.app)).sites[0].circuitOpen, true)
  const r = await op(h.app, '/sites/shop/reset', { reason: 'DB fixed' })
  t.equal(r.status, 200)
  t.match(r.json, { site: 'shop', reset: { by: 'alice', reason: 'DB fixed' }, circuitOpen: false })
  t.equal(ex.runs.length, 1, 'no pod was restarted by the reset')
  t.match((await status(h.app)).sites[0].lastReset, { by: 'alice' })
  await webhook(h, 5, 'SUCCESS')
  t.equal((await webhook(h, 6)).action, 'recycle-requested', 'the next failure recycles again')
  await ex.waitRuns(2)
})

const APPROVE = `
service: { rateLimit: { max: 1000, window: 1m } }
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    jenkins: { jobs: [shop-integrity] }
    recycle: { mode: approve, approvalTimeout: 10m, cooldown: 0s }
`

t.test('approve mode: waits; approved by name runs; rejected and expired never run', async (t) => {
  const objects = memoryObjectStore()
  const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'ok' } })
  const a = await testApp({ config: APPROVE, extra: { objects, executor: ex, sweepEveryMs: 20 } })
  const b = await testApp({ config: APPROVE, extra: { objects, executor: fakeExecutor(), isLeader: () => false } })
  b.clock.set(a.clock.now()) // one time for both "replicas" (two manual clocks would be ms apart)
  t.teardown(async () => {
    await a.app.close()
    await b.app.close()
  })
  const w = await webhook(a, 1)
  t.equal(w.action, 'awaiting-approval')
  t.match(w.reason, /^approve mode: waiting for an operator/)
  const id = w.recycle.id
  t.equal(w.recycle.state, 'awaiting-approval')
  await new Promise((r) => setTimeout(r, 100))
  t.equal(ex.runs.length, 0, 'the leader does not run it')
  t.match((await status(b.app)).sites[0].waiting, { id, state: 'awaiting-approval' })
  const ok = await op(b.app, `/recycles/${id}/approve`, { reason: 'looks right' })
  t.equal(ok.status, 200)
  t.match(ok.json, { id, state: 'pending', approval: { decision: 'approved', by: 'alice', reason: 'looks right' } })
  await ex.waitRuns(1)
  await a.app.core.recycler.idle()
  const done = (await a.app.inject({ method: 'GET', url: `/recycles/${id}` })).json()
  t.equal(done.state, 'succeeded')
  t.match(
    done.steps.map((s: { message: string }) => s.message).join('\n'),
    /approved by alice: looks right[\s\S]*started by/,
  )
  t.equal((await op(b.app, `/recycles/${id}/approve`)).status, 409, 'approving twice: 409')

  // A new episode: rejected.
  await webhook(a, 2, 'SUCCESS')
  const w2 = await webhook(a, 3)
  const no = await op(a.app, `/recycles/${w2.recycle.id}/reject`, undefined, OP)
  t.match(no.json, { state: 'rejected', reason: 'rejected by operator', approval: { by: 'operator' } })
  // And one that nobody approves: expires after approvalTimeout.
  await webhook(a, 4, 'SUCCESS')
  const w3 = await webhook(a, 5)
  a.clock.advance(10 * 60_000 + 1)
  b.clock.advance(10 * 60_000 + 1)
  const expired = await waitFor(
    () =>
      a.app.core.recycler.get(w3.recycle.id)?.state === 'expired' ? a.app.core.recycler.get(w3.recycle.id) : undefined,
    { timeoutMs: 2000, intervalMs: 20, description: 'the recycle expired' },
  )
  t.match(expired, { state: 'expired', reason: /not approved before/ })
  t.equal((await op(b.app, `/recycles/${w3.recycle.id}/approve`)).status, 409, 'an expired recycle cannot be approved')
  t.equal(ex.runs.length, 1, 'only the approved one ran')
})

t.test(
  "an approved recycle that never acted gives its start back (the start is the approval's, not the request's)",
  async (t) => {
    const ex = fakeExecutor({ auto: { state: 'skipped', reason: 'never acted' } })
    const h = await testApp({ config: APPROVE, extra: { executor: ex } })
    t.teardown(() => h.app.close())
    const w = await webhook(h, 1)
    h.clock.advance(60_000)
    t.equal((await op(h.app, `/recycles/${w.recycle.id}/approve`)).status, 200)
    await ex.waitRuns(1)
    await h.app.core.recycler.idle()
    t.equal(h.app.core.recycler.get(w.recycle.id)?.state, 'skipped')
    t.same(h.app.core.store.get('shop').starts, [], 'no start left to count against the cooldown and the circuit')
  },
)

t.test('operator tokens file: name: token lines, errors name the line, never the token', async (t) => {
  t.same(parseOperatorTokens('# ops\nalice: aaaaaaaaaaaaaaaaaaaa\n\nbob.smith : bbbbbbbbbbbbbbbbbbbb\n', 'f'), [
    { name: 'alice', token: 'aaaaaaaaaaaaaaaaaaaa' },
    { name: 'bob.smith', token: 'bbbbbbbbbbbbbbbbbbbb' },
  ])
  t.throws(() => parseOperatorTokens('alice: short', 'f'), /^f line 1: must be "name: token"/)
  t.throws(
    () => parseOperatorTokens('a: cccccccccccccccccccc\na: dddddddddddddddddddd', 'f'),
    /f line 2: operator "a" is named twice/,
  )
  try {
    parseOperatorTokens('x cccccccccccccccccccc', 'f')
  } catch (e) {
    t.notMatch((e as Error).message, /cccc/, 'the token is not in the message')
  }
})

interface Got {
  headers: IncomingMessage['headers']
  body: string
}
async function receiver(
  t: Test,
  answer: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => {
    s.end('ok')
  },
) {
  const got: Got[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => {
      body += c
    })
    req.on('end', () => {
      got.push({ headers: req.headers, body })
      answer(req, res)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  )
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got }
}

t.test(
  'notifications: a real receiver gets each event, signed; slack gets links; a hanging and a 500 receiver delay nothing',
  async (t) => {
    const good = await receiver(t)
    const slack = await receiver(t)
    const hang = await receiver(t, () => {
      /* never answers */
    })
    const fail = await receiver(t, (_q, s) => {
      s.statusCode = 500
      s.end('no')
    })
    const env = { GOOD: good.url, SLACK: slack.url, HANG: hang.url, FAIL: fail.url, KEY: 'notify-key-0123456789' }
    const problems: string[] = []
    const config = `
service: { rateLimit: { max: 1000, window: 1m }, publicUrl: "https://recycler.example.com" }
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    jenkins: { jobs: [shop-integrity] }
    recycle: { cooldown: 0s }
notifications:
  - { name: good, urlEnv: GOOD, secretEnv: KEY }
  - { name: chat, format: slack, urlEnv: SLACK, events: [recycle-succeeded] }
  - { name: hang, urlEnv: HANG, secretEnv: KEY, timeout: 100ms }
  - { name: fail, urlEnv: FAIL, secretEnv: KEY }
`
    const { parseConfig } = await import('../../src/config/load.ts')
    const targets = resolveTargets(parseConfig(config).notifications, env, problems)
    t.same(problems, [])
    const ex = fakeExecutor({ auto: { state: 'succeeded', message: 'rolled 2 pods' } })
    const h = await testApp({ config, extra: { executor: ex, notifyTargets: targets, notifyBackoffMs: 50 } })
    t.teardown(() => h.app.close())
    const t0 = Date.now()
    const w = await webhook(h, 1)
    t.equal(w.action, 'recycle-requested')
    await ex.waitRuns(1)
    t.ok(
      Date.now() - t0 < 1000,
      `the run started ${Date.now() - t0} ms after the verdict despite a hanging and a failing receiver`,
    )
    await h.app.core.recycler.idle()
    await op(h.app, '/sites/shop/pause', { reason: 'calm down' })
    await op(h.app, '/sites/shop/resume', undefined)
    await webhook(h, 2, 'SUCCESS')
    await h.app.core.notifier.idle()
    const events = good.got.map((g) => JSON.parse(g.body).event)
    t.same(
      events,
      ['site-failing', 'recycle-requested', 'recycle-succeeded', 'paused', 'resumed', 'site-recovered'],
      'every event, in order, once',
    )
    for (const g of good.got) {
      const v = verifySignature({
        secret: env.KEY,
        timestamp: g.headers['x-recycler-timestamp'] as string,
        signature: g.headers['x-recycler-signature'] as string,
        body: Buffer.from(g.body),
        nowMs: Date.now(),
      })
      t.same(v, { ok: true }, `${JSON.parse(g.body).event}: a valid signature`)
    }
    const ok = JSON.parse(good.got[2]!.body)
    t.match(ok, {
      event: 'recycle-succeeded',
      site: 'shop',
      recycle: { id: w.recycle.id, state: 'succeeded' },
      recycleUrl: `https://recycler.example.com/recycles/${w.recycle.id}`,
      statusUrl: 'https://recycler.example.com/status',
    })
    t.match(JSON.parse(good.got[3]!.body), { event: 'paused', by: 'alice' })
    t.equal(slack.got.length, 1, 'slack: only the events it asked for')
    t.match(
      JSON.parse(slack.got[0]!.body).text,
      new RegExp(
        `^kube-recycler: \\*shop\\* recycle-succeeded: rolled 2 pods \\(<https://recycler.example.com/status\\|status> · <https://recycler.example.com/recycles/${w.recycle.id}\\|${w.recycle.id}>\\)$`,
      ),
    )
    t.ok(fail.got.length >= 8, `the 500 receiver was retried (${fail.got.length} attempts)`)
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body
    t.match(metrics, /kube_recycler_notifications_total\{receiver="fail",result="failed"\} 6/)
    t.match(metrics, /kube_recycler_notifications_total\{receiver="good",result="sent"\} 6/)
    t.match(metrics, /kube_recycler_notifications_total\{receiver="hang",result="failed"\} [1-6]/)
    const logs = h.logs.join('')
    for (const u of [good.url, slack.url, hang.url, fail.url])
      t.notOk(logs.includes(u.replace('/hook', '')), 'no receiver URL in the logs')
    t.match(logs, /notification not delivered: the receiver answered 500/)
    t.match(
      logs,
      /notification not delivered: the receiver no answer within 100 ms|notification not delivered: the receiver/,
    )
  },
)

t.test('notification targets: URLs only from the environment or a file, problems named by path', async (t) => {
  const { parseConfig } = await import('../../src/config/load.ts')
  const base = 'sites:\n  - name: a\n    target: { kind: Deployment, namespace: a, name: web }\n'
  t.throws(
    () => parseConfig(`${base}notifications:\n  - { name: x }\n`),
    /notifications\[0\]: give exactly one of urlEnv or urlFile/,
  )
  t.throws(
    () => parseConfig(`${base}notifications:\n  - { name: x, urlEnv: A, events: [nonsense] }\n`),
    /notifications\[0\]\.events\[0\]: must be one of/,
  )
  const problems: string[] = []
  resolveTargets(
    parseConfig(
      `${base}notifications:\n  - { name: x, urlEnv: MISSING, secretEnv: K }\n  - { name: y, urlFile: /nonexistent/url }\n  - { name: z, urlEnv: BAD, format: slack }\n`,
    ).notifications,
    { K: 'k', BAD: 'ftp://x' },
    problems,
  )
  t.same(problems, [
    'notifications[0].urlEnv: the environment variable MISSING is not set',
    'notifications[1].urlFile: cannot read /nonexistent/url (ENOENT)',
    'notifications[1]: format json is signed: give secretEnv or secretFile',
    'notifications[2]: the URL from BAD must be an http(s) URL',
  ])
})

t.test('OpenAPI: the operator routes are documented, with operationId and tag', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const doc = (await h.app.inject({ method: 'GET', url: '/docs/json' })).json()
  const want: [string, string][] = [
    ['/pause', 'pauseService'],
    ['/resume', 'resumeService'],
    ['/sites/{site}/pause', 'pauseSite'],
    ['/sites/{site}/resume', 'resumeSite'],
    ['/sites/{site}/reset', 'resetSite'],
    ['/recycles/{id}/approve', 'approveRecycle'],
    ['/recycles/{id}/reject', 'rejectRecycle'],
  ]
  for (const [path, id] of want) {
    t.equal(doc.paths[path]?.post?.operationId, id, `${path}: ${id}`)
    t.same(doc.paths[path]?.post?.tags, ['operator'])
    t.same(doc.paths[path]?.post?.security, [{ operatorBearer: [] }])
  }
  t.ok(
    doc.paths['/pause'].post.requestBody.content['application/json'].schema.required.includes('reason'),
    'reason is required',
  )
  const s = doc.paths['/status'].get.responses['200'].content['application/json'].schema
  t.ok(s.properties.service.properties.paused, '/status documents service.paused')
})

t.test(
  'the notifier owns its work: close() ends a hanging delivery and its retries at once, a full queue drops the oldest',
  async (t) => {
    const { createNotifier } = await import('../../src/notify/queue.ts')
    const { createMetrics } = await import('../../src/status/metrics.ts')
    const { createLogger } = await import('../../src/logger.ts')
    const { systemClock } = await import('../../src/clock.ts')
    const hang = await receiver(t, () => {
      /* never answers */
    })
    const metrics = createMetrics()
    const n = createNotifier({
      targets: [{ name: 'hang', format: 'json', url: hang.url, secret: 'k', events: 'all', timeoutMs: 60_000 }],
      clock: systemClock,
      logger: createLogger({ level: 'silent' }),
      counter: metrics.notifications,
      maxQueue: 2,
    })
    for (let i = 0; i < 4; i++) n.notify({ event: 'paused', message: `n${i}` })
    await new Promise((r) => setTimeout(r, 100))
    t.equal(hang.got.length, 1, 'one delivery in flight')
    t.match(
      await metrics.registry.metrics(),
      /kube_recycler_notifications_total\{receiver="hang",result="dropped"\} 1/,
      'four notices, one in flight, a queue of two: one dropped',
    )
    const t0 = Date.now()
    await n.close()
    t.ok(Date.now() - t0 < 1000, `closed in ${Date.now() - t0} ms though the receiver hangs with a 60 s timeout`)
    n.notify({ event: 'resumed', message: 'after close' })
    await new Promise((r) => setTimeout(r, 100))
    t.equal(hang.got.length, 1, 'nothing is sent after close')
  },
)
