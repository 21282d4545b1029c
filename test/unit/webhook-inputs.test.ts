// Table-driven bad (and good) inputs for POST /webhooks/jenkins and
// POST /recycle: each row asserts the exact status, the error code, and that
// the message names the problem. Nothing a caller sends may produce a 5xx.

import t from 'tap'
import { SECRETS, testApp } from '../fixtures/app.ts'

const good = JSON.stringify({ job: 'shop-integrity', build: 7, status: 'SUCCESS' })
const bearer = { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' }
const basic = (user: string, pw: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`,
  'content-type': 'application/json',
})

interface Row {
  name: string
  body?: string | Buffer
  headers?:
    | Record<string, string>
    | 'signed'
    | ((b: string, now: number, signed: (b: string, at?: number) => Record<string, string>) => Record<string, string>)
  status: number
  code?: string
  message?: RegExp
  action?: string
  /** Send the same request once before the row's (for the duplicate row). */
  twice?: boolean
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)

const rows: Row[] = [
  // --- authentication ---
  {
    name: 'no credentials at all',
    body: good,
    headers: { 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /missing credentials/,
  },
  {
    name: 'wrong bearer token',
    body: good,
    headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /token is not valid/,
  },
  {
    name: 'empty bearer token',
    body: good,
    headers: { authorization: 'Bearer ', 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /Authorization must be/,
  },
  {
    name: 'unknown auth scheme',
    body: good,
    headers: { authorization: 'Digest abc', 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /Authorization must be/,
  },
  {
    name: 'basic with wrong password',
    body: good,
    headers: basic('jenkins', 'wrong'),
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /token is not valid/,
  },
  {
    name: 'basic without colon',
    body: good,
    headers: {
      authorization: `Basic ${Buffer.from('jenkins').toString('base64')}`,
      'content-type': 'application/json',
    },
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /Authorization must be/,
  },
  {
    name: 'signature without timestamp',
    body: good,
    headers: (b, _n, s) => ({ ...s(b), 'x-recycler-timestamp': undefined as unknown as string }),
    status: 401,
    code: 'KR_BAD_SIGNATURE',
    message: /Timestamp and X-Recycler-Signature are both required/,
  },
  {
    name: 'timestamp without signature',
    body: good,
    headers: (b, _n, s) => {
      const h = s(b)
      delete h['x-recycler-signature']
      return h
    },
    status: 401,
    code: 'KR_BAD_SIGNATURE',
    message: /both required/,
  },
  {
    name: 'signature not hex',
    body: good,
    headers: (b, _n, s) => ({ ...s(b), 'x-recycler-signature': 'sha256=zz' }),
    status: 401,
    code: 'KR_BAD_SIGNATURE',
    message: /sha256=<64 hex digits>/,
  },
  {
    name: 'signature without sha256= prefix',
    body: good,
    headers: (b, _n, s) => ({ ...s(b), 'x-recycler-signature': s(b)['x-recycler-signature']!.slice(7) }),
    status: 401,
    code: 'KR_BAD_SIGNATURE',
    message: /sha256=/,
  },
  {
    name: 'signature over another body',
    body: good,
    headers: (b, _n, s) => ({ ...s(b + ' '), 'content-type': 'application/json' }),
    status: 401,
    code: 'KR_BAD_SIGNATURE',
    message: /does not match/,
  },
  {
    name: 'signature with the wrong secret',
    body: good,
    headers: (b, now) => {
      const ts = String(Math.floor(now / 1000))
      return {
        'content-type': 'application/json',
        'x-recycler-timestamp': ts,
        'x-recycler-signature': 'sha256=' + '0'.repeat(64),
      }
    },
    status: 401,
    code: 'KR_BAD_SIGNATURE',
    message: /does not match/,
  },
  {
    name: 'stale timestamp (301 s old)',
    body: good,
    headers: (b, now, s) => s(b, Math.floor(now / 1000) - 301),
    status: 401,
    code: 'KR_STALE_SIGNATURE',
    message: /more than 300 s old/,
  },
  {
    name: 'future timestamp (301 s ahead)',
    body: good,
    headers: (b, now, s) => s(b, Math.floor(now / 1000) + 301),
    status: 401,
    code: 'KR_STALE_SIGNATURE',
    message: /in the future/,
  },
  {
    name: 'timestamp not a number',
    body: good,
    headers: (b, _n, s) => ({ ...s(b), 'x-recycler-timestamp': 'yesterday' }),
    status: 401,
    code: 'KR_BAD_SIGNATURE',
    message: /unix seconds/,
  },
  {
    name: 'timestamp in milliseconds is refused',
    body: good,
    headers: (b, now, s) => s(b, now),
    status: 401,
    code: 'KR_BAD_SIGNATURE',
    message: /unix seconds/,
  },
  {
    name: 'bad signature even with malformed JSON is 401 first',
    body: '{nope',
    headers: (b, _n, s) => ({ ...s('{}') }),
    status: 401,
    code: 'KR_BAD_SIGNATURE',
  },
  {
    name: 'unauthenticated malformed JSON is 401, not 400',
    body: '{nope',
    headers: { 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
  },
  // --- content type and size ---
  {
    name: 'text/plain content type',
    body: good,
    headers: { ...bearer, 'content-type': 'text/plain' },
    status: 415,
    code: 'KR_UNSUPPORTED_MEDIA_TYPE',
    message: /application\/json/,
  },
  {
    name: 'form content type',
    body: 'job=x',
    headers: { ...bearer, 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'KR_UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'oversized body (300 KiB)',
    body: JSON.stringify({ job: 'shop-integrity', build: 1, status: 'SUCCESS', url: 'x'.repeat(300 * 1024) }),
    headers: bearer,
    status: 413,
    code: 'KR_BODY_TOO_LARGE',
    message: /larger than the limit/,
  },
  { name: 'empty body', body: '', headers: bearer, status: 400, code: 'KR_INVALID_JSON', message: /empty/ },
  // --- malformed JSON ---
  {
    name: 'truncated JSON',
    body: good.slice(0, 20),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_JSON',
    message: /not valid JSON/,
  },
  {
    name: 'trailing garbage',
    body: good + 'x',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_JSON',
    message: /not valid JSON/,
  },
  {
    name: 'single quotes',
    body: "{'job':'x'}",
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_JSON',
    message: /not valid JSON/,
  },
  {
    name: 'not UTF-8 JSON bytes',
    body: Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_JSON',
    message: /not valid JSON/,
  },
  {
    name: '__proto__ key',
    body: '{"job":"shop-integrity","build":1,"status":"SUCCESS","__proto__":{"admin":true}}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_JSON',
    message: /forbidden key/,
  },
  {
    name: 'constructor.prototype key',
    body: '{"job":"shop-integrity","build":1,"status":"SUCCESS","constructor":{"prototype":{"x":1}}}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_JSON',
    message: /forbidden key/,
  },
  {
    name: 'deeply nested arrays (5000 levels)',
    body: deep(5000),
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body: must be a JSON object/,
  },
  {
    name: 'deeply nested value inside a field',
    body: `{"job":"shop-integrity","build":1,"status":"SUCCESS","checks":${deep(3000)}}`,
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.checks\[0\]/,
  },
  // --- wrong shapes ---
  {
    name: 'a JSON array',
    body: '[]',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body: must be a JSON object/,
  },
  {
    name: 'a JSON string',
    body: '"hi"',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /must be a JSON object/,
  },
  {
    name: 'null',
    body: 'null',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /must be a JSON object/,
  },
  {
    name: 'missing job',
    body: '{"build":1,"status":"SUCCESS"}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.job: is required/,
  },
  {
    name: 'missing build and status',
    body: '{"job":"shop-integrity"}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.build: is required.*body\.status: is required/,
  },
  {
    name: 'build as string',
    body: '{"job":"shop-integrity","build":"7","status":"SUCCESS"}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.build: must be an integer/,
  },
  {
    name: 'negative build',
    body: '{"job":"shop-integrity","build":-1,"status":"SUCCESS"}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.build: must be >= 0/,
  },
  {
    name: 'fractional build',
    body: '{"job":"shop-integrity","build":1.5,"status":"SUCCESS"}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.build: must be an integer/,
  },
  {
    name: 'unknown status',
    body: '{"job":"shop-integrity","build":1,"status":"BROKEN"}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.status: must be one of .*FAILURE/,
  },
  {
    name: 'lowercase status',
    body: '{"job":"shop-integrity","build":1,"status":"failure"}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.status/,
  },
  {
    name: 'unknown top-level field',
    body: '{"job":"shop-integrity","build":1,"status":"SUCCESS","extra":1}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.extra: unknown field/,
  },
  {
    name: 'empty job',
    body: '{"job":"","build":1,"status":"SUCCESS"}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.job: must not be empty/,
  },
  {
    name: 'checks not an array',
    body: '{"job":"shop-integrity","build":1,"status":"FAILURE","checks":{}}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.checks: must be an array/,
  },
  {
    name: 'check without ok',
    body: '{"job":"shop-integrity","build":1,"status":"FAILURE","checks":[{"name":"home"}]}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.checks\[0\]\.ok: is required/,
  },
  {
    name: 'check ok as string',
    body: '{"job":"shop-integrity","build":1,"status":"FAILURE","checks":[{"name":"home","ok":"false"}]}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.checks\[0\]\.ok: must be a boolean/,
  },
  {
    name: 'commit not hex',
    body: '{"job":"shop-integrity","build":1,"status":"FAILURE","commit":"main; rm -rf /"}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.commit: must match/,
  },
  {
    name: 'notification without build.number',
    body: '{"name":"shop-integrity","build":{"phase":"COMPLETED","status":"FAILURE"}}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.build\.number: is required/,
  },
  {
    name: 'notification with unknown phase',
    body: '{"name":"shop-integrity","build":{"number":1,"phase":"DONE","status":"FAILURE"}}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.build\.phase: must be one of/,
  },
  {
    name: 'notification build.scm not an object',
    body: '{"name":"shop-integrity","build":{"number":1,"phase":"COMPLETED","status":"FAILURE","scm":"x"}}',
    headers: bearer,
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.build\.scm: must be an object/,
  },
  // --- unknown sites and jobs ---
  {
    name: 'unknown job',
    body: '{"job":"nobody","build":1,"status":"FAILURE"}',
    headers: bearer,
    status: 404,
    code: 'KR_UNKNOWN_JOB',
    message: /job "nobody"/,
  },
  {
    name: 'unknown site named',
    body: '{"site":"nowhere","job":"shop-integrity","build":1,"status":"FAILURE"}',
    headers: bearer,
    status: 404,
    code: 'KR_UNKNOWN_SITE',
    message: /site named "nowhere"/,
  },
  {
    name: 'notification for an unknown job',
    body: '{"name":"other","build":{"number":1,"phase":"COMPLETED","status":"FAILURE"}}',
    headers: bearer,
    status: 404,
    code: 'KR_UNKNOWN_JOB',
    message: /job "other"/,
  },
  {
    name: 'notification SITE parameter naming an unknown site',
    body: '{"name":"other","build":{"number":1,"phase":"COMPLETED","status":"FAILURE","parameters":{"SITE":"mars"}}}',
    headers: bearer,
    status: 404,
    code: 'KR_UNKNOWN_SITE',
    message: /"mars"/,
  },
  // --- accepted ---
  { name: 'good own payload with bearer', body: good, headers: bearer, status: 202, action: 'none' },
  {
    name: 'good own payload with basic (Notification plugin URL credentials)',
    body: good.replace('"build":7', '"build":70'),
    headers: basic('jenkins', SECRETS.webhookToken),
    status: 202,
    action: 'none',
  },
  {
    name: 'good own payload signed',
    body: good.replace('"build":7', '"build":71'),
    headers: 'signed',
    status: 202,
    action: 'none',
  },
  {
    name: 'signed at the edge of the window (299 s old)',
    body: good.replace('"build":7', '"build":72'),
    headers: (b, now, s) => s(b, Math.floor(now / 1000) - 299),
    status: 202,
    action: 'none',
  },
  {
    name: 'content type with charset',
    body: good.replace('"build":7', '"build":73'),
    headers: { ...bearer, 'content-type': 'application/json; charset=utf-8' },
    status: 202,
    action: 'none',
  },
  {
    name: 'notification STARTED is ignored',
    body: '{"name":"shop-integrity","url":"job/shop/","build":{"number":9,"phase":"STARTED","full_url":"http://j/job/shop/9/"}}',
    headers: bearer,
    status: 202,
    action: 'ignored',
  },
  {
    name: 'notification with extra fields is accepted',
    body: '{"name":"shop-integrity","display_name":"Shop","url":"job/shop/","build":{"number":10,"queue_id":3,"phase":"COMPLETED","status":"SUCCESS","log":"","artifacts":{}}}',
    headers: bearer,
    status: 202,
    action: 'none',
  },
  {
    name: 'the same build again is a duplicate',
    body: good,
    headers: bearer,
    status: 202,
    action: 'duplicate',
    twice: true,
  },
  {
    name: 'ABORTED is ignored',
    body: '{"job":"shop-integrity","build":11,"status":"ABORTED"}',
    headers: bearer,
    status: 202,
    action: 'ignored',
  },
]

// One fresh app per row: no row leans on what an earlier row left behind
// (a dedupe record, an auth-failure count, a log line).
t.test('POST /webhooks/jenkins input table', async (t) => {
  for (const row of rows) {
    await t.test(row.name, async (t) => {
      // Value scrubbing off: the logs must be clean by construction.
      const h = await testApp({ scrubSecretValues: false })
      t.teardown(() => h.app.close())
      const body = row.body ?? good
      const bodyText = typeof body === 'string' ? body : body.toString('latin1')
      const headersFor = () => {
        const headers =
          row.headers === 'signed'
            ? h.signed(bodyText)
            : typeof row.headers === 'function'
              ? row.headers(bodyText, h.clock.now(), h.signed)
              : { ...row.headers }
        for (const k of Object.keys(headers)) if (headers[k] === undefined) delete headers[k]
        return headers
      }
      if (row.twice) {
        const first = await h.app.inject({
          method: 'POST',
          url: '/webhooks/jenkins',
          headers: headersFor(),
          payload: body,
        })
        t.equal(first.statusCode, 202, `first delivery: ${first.body.slice(0, 200)}`)
        t.not(first.json().action, 'duplicate', 'the first delivery is not a duplicate')
      }
      const res = await h.app.inject({ method: 'POST', url: '/webhooks/jenkins', headers: headersFor(), payload: body })
      t.equal(res.statusCode, row.status, `status ${res.statusCode} ${res.body.slice(0, 200)}`)
      const json = res.json() as { code?: string; message?: string; action?: string }
      if (row.code) t.equal(json.code, row.code, 'code')
      if (row.message) t.match(json.message ?? '', row.message, 'message names the problem')
      if (row.status >= 400) t.same(Object.keys(json).sort(), ['code', 'message'], 'error body is { code, message }')
      if (row.action) t.equal(json.action, row.action, 'action')
      // The request was logged, so the checks below look at something.
      t.ok(
        h.logs.some((l) => l.includes('/webhooks/jenkins')),
        'the request was logged',
      )
      const all = h.logs.join('')
      for (const [name, value] of Object.entries(SECRETS))
        if (typeof value === 'string') t.notOk(all.includes(value), `no ${name} in ${h.logs.length} log lines`)
      for (const o of SECRETS.operators) t.notOk(all.includes(o.token), `no token of operator ${o.name} in the logs`)
      const basicValue = Buffer.from(`jenkins:${SECRETS.webhookToken}`).toString('base64')
      t.notOk(all.includes(basicValue), 'no Basic credentials in the logs')
    })
  }
})

const recycleRows: Row[] = [
  {
    name: 'no token',
    body: '{"site":"shop","reason":"x"}',
    headers: { 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /missing credentials/,
  },
  {
    name: 'webhook token is not the operator token',
    body: '{"site":"shop","reason":"x"}',
    headers: { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' },
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /not valid/,
  },
  {
    name: 'basic auth refused',
    body: '{"site":"shop","reason":"x"}',
    headers: basic('op', SECRETS.recycleToken),
    status: 401,
    code: 'KR_UNAUTHORIZED',
    message: /Bearer/,
  },
  {
    name: 'missing reason',
    body: '{"site":"shop"}',
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.reason: is required/,
  },
  {
    name: 'unknown strategy',
    body: '{"site":"shop","reason":"x","strategy":"nuke"}',
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.strategy: must be one of/,
  },
  {
    name: 'dryRun as string',
    body: '{"site":"shop","reason":"x","dryRun":"yes"}',
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.dryRun: must be a boolean/,
  },
  {
    name: 'unknown field',
    body: '{"site":"shop","reason":"x","force":true}',
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /body\.force: unknown field/,
  },
  {
    name: 'unknown site',
    body: '{"site":"mars","reason":"x"}',
    status: 404,
    code: 'KR_UNKNOWN_SITE',
    message: /"mars"/,
  },
  {
    name: 'rollout of a selector target',
    body: '{"site":"pool","reason":"x","strategy":"rollout"}',
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: /needs a named workload/,
  },
  { name: 'malformed JSON', body: '{"site":', status: 400, code: 'KR_INVALID_JSON', message: /not valid JSON/ },
  {
    name: '__proto__',
    body: '{"site":"shop","reason":"x","__proto__":{}}',
    status: 400,
    code: 'KR_INVALID_JSON',
    message: /forbidden key/,
  },
  {
    name: 'wrong content type',
    body: 'site=shop',
    headers: { authorization: `Bearer ${SECRETS.recycleToken}`, 'content-type': 'text/plain' },
    status: 415,
    code: 'KR_UNSUPPORTED_MEDIA_TYPE',
  },
  { name: 'accepted', body: '{"site":"shop","reason":"operator says so"}', status: 202 },
]

t.test('POST /recycle input table', async (t) => {
  for (const row of recycleRows) {
    await t.test(row.name, async (t) => {
      const h = await testApp()
      t.teardown(() => h.app.close())
      const headers = (row.headers as Record<string, string> | undefined) ?? {
        authorization: `Bearer ${SECRETS.recycleToken}`,
        'content-type': 'application/json',
      }
      const res = await h.app.inject({ method: 'POST', url: '/recycle', headers, payload: row.body })
      t.equal(res.statusCode, row.status, res.body.slice(0, 200))
      const json = res.json() as { code?: string; message?: string }
      if (row.code) t.equal(json.code, row.code, 'code')
      if (row.message) t.match(json.message ?? '', row.message, 'message')
    })
  }
})

t.test('unknown routes and methods answer { code, message }', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  const res = await h.app.inject({ method: 'GET', url: '/nope' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { code: 'KR_NOT_FOUND', message: 'no route GET /nope' })
  const r2 = await h.app.inject({ method: 'GET', url: '/recycles/does-not-exist' })
  t.equal(r2.statusCode, 404)
  t.match(r2.json().message, /no recycle with id "does-not-exist"/)
})

t.test('no webhook secret configured: every webhook is 401', async (t) => {
  const h = await testApp({ secrets: {} })
  t.teardown(() => h.app.close())
  for (const headers of [bearer, { 'content-type': 'application/json' }, h.signed(good)]) {
    const res = await h.app.inject({ method: 'POST', url: '/webhooks/jenkins', headers, payload: good })
    t.equal(res.statusCode, 401, res.body)
    // Like a wrong secret: the answer does not reveal the configuration (issue 11).
    t.match(res.json().message, /token is not valid|missing credentials|signature does not match/)
  }
})
