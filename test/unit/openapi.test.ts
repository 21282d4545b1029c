// The OpenAPI document at /docs/json: every operation named, tagged and
// secured; the security schemes are the ones the service really checks (a
// request built from the document's own scheme definitions is accepted);
// the media types are what the routes really send. The UI at /docs is
// served from the package, under a strict CSP. Redocly's lint of the same
// document: test/lint/openapi.test.ts.

import t from 'tap'
import { SECRETS, testApp } from '../fixtures/app.ts'
import { sign } from '../../src/triggers/signature.ts'

interface Operation {
  operationId?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  responses: Record<
    string,
    {
      description: string
      content?: Record<string, { schema: Record<string, unknown> }>
      headers?: Record<string, unknown>
    }
  >
}
interface Spec {
  openapi: string
  info: { license?: { name: string; url?: string } }
  servers?: { url: string }[]
  tags?: { name: string }[]
  components: { securitySchemes: Record<string, { type: string; scheme?: string; in?: string; name?: string }> }
  paths: Record<string, Record<string, Operation>>
}

async function spec(h: Awaited<ReturnType<typeof testApp>>): Promise<Spec> {
  const res = await h.app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  return res.json() as Spec
}

const operations = (s: Spec): [string, Operation][] =>
  Object.entries(s.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]),
  )

t.test('every operation has an operationId, a defined tag, its security and described responses', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const s = await spec(h)
  const ops = operations(s)
  t.same(
    ops.map(([name]) => name).sort(),
    [
      'GET /healthz',
      'GET /metrics',
      'GET /readyz',
      'GET /recycles/{id}',
      'GET /status',
      'POST /pause',
      'POST /recycle',
      'POST /recycles/{id}/approve',
      'POST /recycles/{id}/reject',
      'POST /resume',
      'POST /sites/{site}/pause',
      'POST /sites/{site}/reset',
      'POST /sites/{site}/resume',
      'POST /webhooks/alertmanager',
      'POST /webhooks/jenkins',
    ],
    "the API, and nothing of the UI's own routes",
  )
  const ids = ops.map(([, op]) => op.operationId)
  t.equal(new Set(ids).size, ids.length, 'operationIds are unique')
  const tags = new Set((s.tags ?? []).map((x) => x.name))
  for (const [name, op] of ops) {
    t.match(op.operationId, /^[a-z][A-Za-z]+$/, `${name} has an operationId`)
    t.ok(op.tags?.length && op.tags.every((x) => tags.has(x)), `${name} has a defined tag`)
    t.ok(Array.isArray(op.security), `${name} says its security (an empty list: none)`)
    for (const [status, r] of Object.entries(op.responses)) {
      t.not(r.description, 'Default Response', `${name} ${status} is described`)
      // /readyz's 503 is the probe's own answer ({ status, reason }), not an error.
      if (/^[45]/.test(status) && name !== 'GET /readyz')
        t.same(
          Object.keys((r.content?.['application/json']?.schema as { properties: object }).properties).sort(),
          ['code', 'message'],
          `${name} ${status} is { code, message }`,
        )
    }
  }
  t.same(
    s.servers?.map((x) => x.url),
    ['/', 'http://kube-recycler.kube-recycler.svc:8080'],
  )
  t.equal(s.info.license?.name, 'Apache-2.0')

  const get = (path: string, method: string): Operation => s.paths[path]![method]!
  t.same(Object.keys(get('/metrics', 'get').responses['200']!.content!), ['text/plain'])
  t.same(Object.keys(get('/status', 'get').responses['200']!.content!), ['application/json', 'text/html'])
  t.same(Object.keys(get('/webhooks/jenkins', 'post').responses).sort(), [
    '202',
    '400',
    '401',
    '403',
    '404',
    '413',
    '415',
    '429',
    '500',
    '503',
  ])
  t.ok(get('/webhooks/jenkins', 'post').responses['503']!.headers?.['Retry-After'], '503 says Retry-After')
  t.same(Object.keys(get('/status', 'get').responses).sort(), ['200', '400', '500'], 'no 401 without statusAuth')
  t.same(get('/status', 'get').security, [])
  t.same(get('/recycle', 'post').security, [{ operatorBearer: [] }])
  t.same(get('/webhooks/jenkins', 'post').security, [
    { webhookSignature: [], webhookTimestamp: [] },
    { webhookBearer: [] },
    { webhookBasic: [] },
  ])

  const h2 = await testApp({
    config: 'service: { statusAuth: true }\nsites:\n  - name: shop\n    target: { namespace: shop, name: web }',
  })
  t.teardown(() => h2.app.close())
  const s2 = await spec(h2)
  t.same(
    s2.paths['/status']!.get!.security,
    [{ operatorBearer: [] }],
    'with statusAuth, /status needs the operator token',
  )
  t.ok(s2.paths['/status']!.get!.responses['401'])
})

t.test('the declared security schemes are what the service checks', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const schemes = (await spec(h)).components.securitySchemes
  t.same(Object.keys(schemes).sort(), [
    'operatorBearer',
    'webhookBasic',
    'webhookBearer',
    'webhookSignature',
    'webhookTimestamp',
  ])
  const body = (build: number) => JSON.stringify({ job: 'shop-integrity', build, status: 'SUCCESS' })
  const hook = (headers: Record<string, string>, payload: string) =>
    h.app.inject({
      method: 'POST',
      url: '/webhooks/jenkins',
      headers: { 'content-type': 'application/json', ...headers },
      payload,
    })

  // Built only from what the document says: header names, schemes.
  const sig = schemes.webhookSignature!
  const ts = schemes.webhookTimestamp!
  t.match([sig.type, sig.in, ts.type, ts.in], ['apiKey', 'header', 'apiKey', 'header'])
  const stamp = String(Math.floor(h.clock.now() / 1000))
  const signed = body(1)
  t.equal(
    (await hook({ [sig.name!]: sign(SECRETS.webhookSecret, stamp, signed), [ts.name!]: stamp }, signed)).statusCode,
    202,
    'HMAC, with the two headers the document names',
  )
  t.equal(
    (await hook({ [sig.name!]: sign(SECRETS.webhookSecret, stamp, signed) }, body(2))).statusCode,
    401,
    'the signature alone is not enough (both are required)',
  )
  t.match([schemes.webhookBearer!.type, schemes.webhookBearer!.scheme], ['http', 'bearer'])
  t.equal((await hook({ authorization: `Bearer ${SECRETS.webhookToken}` }, body(3))).statusCode, 202, 'bearer')
  t.match([schemes.webhookBasic!.type, schemes.webhookBasic!.scheme], ['http', 'basic'])
  t.equal(
    (
      await hook(
        { authorization: `Basic ${Buffer.from(`jenkins:${SECRETS.webhookToken}`).toString('base64')}` },
        body(4),
      )
    ).statusCode,
    202,
    'basic with the token as password',
  )
  t.match([schemes.operatorBearer!.type, schemes.operatorBearer!.scheme], ['http', 'bearer'])
  const recycle = (token: string) =>
    h.app.inject({
      method: 'POST',
      url: '/recycle',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      payload: JSON.stringify({ site: 'shop', reason: 'openapi test', dryRun: true }),
    })
  t.equal((await recycle(SECRETS.recycleToken)).statusCode, 202, 'the operator token')
  t.equal((await recycle(SECRETS.webhookToken)).statusCode, 401, "the webhook token is not the operator's")
})

t.test('the routes send the media types the document declares', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const metrics = await h.app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /^text\/plain/)
  t.match(metrics.body, /^# HELP kube_recycler_/m)
  const html = await h.app.inject({ method: 'GET', url: '/status', headers: { accept: 'text/html' } })
  t.match(html.headers['content-type'], /^text\/html/)
  t.match(html.body, /^<!doctype html>/i)
  const json = await h.app.inject({ method: 'GET', url: '/status' })
  t.match(json.headers['content-type'], /^application\/json/)
  t.match(json.json(), { service: { version: String }, sites: [{ name: 'shop' }, { name: 'blog' }, { name: 'pool' }] })
  const bad = await h.app.inject({ method: 'GET', url: '/status?format=xml' })
  t.equal(bad.statusCode, 400)
  t.same(Object.keys(bad.json()).sort(), ['code', 'message'])
})

t.test('the UI at /docs is served from the package, under a strict CSP', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const page = await h.app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, /default-src 'self'/)
  t.match(csp, /script-src 'self';/, 'no inline or third-party script')
  t.match(csp, /frame-ancestors 'none'/)
  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
  t.ok(assets.length >= 5, `the page loads its assets: ${assets.join(', ')}`)
  for (const a of assets) {
    t.match(a, /^\/docs\/static\//, `${a} is this service's`)
    const r = await h.app.inject({ method: 'GET', url: a })
    t.equal(r.statusCode, 200, `${a} is served`)
  }
  t.match((await h.app.inject({ method: 'GET', url: '/docs/yaml' })).body, /^openapi: 3\.0\.3/)
})
