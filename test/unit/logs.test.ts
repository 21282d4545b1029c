// What the service logs: probe and scrape requests at debug (so ~36 info
// lines a minute per pod are gone at the default level), every other
// request at info, and errors with the cause they wrap.

import t from 'tap'
import { manualClock } from '../../src/clock.ts'
import { parseConfig } from '../../src/config/load.ts'
import { AppError, Errors } from '../../src/errors.ts'
import type { ObjectStore } from '../../src/kube/types.ts'
import { errorFields } from '../../src/logger.ts'
import { memoryObjectStore } from '../../src/state/memory.ts'
import { createStore } from '../../src/state/store.ts'
import { testApp } from '../fixtures/app.ts'
import { quietLogger } from '../fixtures/engine.ts'

type Line = { level: string; msg: string; reqId?: string; req?: { url: string }; err?: Record<string, any> }
const parse = (logs: string[]): Line[] => logs.map((l) => JSON.parse(l) as Line)

/** The request lines (incoming, completed) of each URL, as `level msg`. */
function requestLines(logs: string[]): Record<string, string[]> {
  const lines = parse(logs)
  const urlOf = new Map(lines.filter((l) => l.req?.url).map((l) => [l.reqId, l.req!.url]))
  const out: Record<string, string[]> = {}
  for (const l of lines) {
    if (!l.reqId || (l.msg !== 'incoming request' && l.msg !== 'request completed')) continue
    const url = urlOf.get(l.reqId) ?? '?'
    ;(out[url] ??= []).push(`${l.level} ${l.msg}`)
  }
  return out
}

t.test('probe, readiness and scrape requests log at debug; the others at info', async (t) => {
  const h = await testApp()
  t.teardown(() => h.app.close())
  for (const url of ['/healthz', '/readyz', '/metrics', '/status', '/docs/json']) {
    t.equal((await h.app.inject({ method: 'GET', url })).statusCode, 200, url)
  }
  t.same(requestLines(h.logs), {
    '/healthz': ['debug incoming request', 'debug request completed'],
    '/readyz': ['debug incoming request', 'debug request completed'],
    '/metrics': ['debug incoming request', 'debug request completed'],
    '/status': ['info incoming request', 'info request completed'],
    '/docs/json': ['info incoming request', 'info request completed'],
  })
})

t.test(
  'a probe that fails is not demoted: its 500 is an error line with the cause, and the completion stays info',
  async (t) => {
    const h = await testApp({
      extra: {
        readiness: () => {
          throw new Error('cannot read readiness', { cause: new Error('disk on fire') })
        },
      },
    })
    t.teardown(() => h.app.close())
    const r = await h.app.inject({ method: 'GET', url: '/readyz' })
    t.equal(r.statusCode, 500)
    t.same(r.json(), { code: 'KR_INTERNAL', message: 'internal error' }, 'nothing of the cause on the wire')
    const failed = parse(h.logs).find((l) => l.msg === 'request failed')
    t.equal(failed?.level, 'error')
    t.match(
      failed?.err,
      {
        type: 'Error',
        message: 'cannot read readiness',
        stack: /^Error: cannot read readiness/,
        cause: { message: 'disk on fire' },
      },
      'the cause is in the log line',
    )
    t.same(requestLines(h.logs)['/readyz'], ['debug incoming request', 'info request completed'])
  },
)

t.test(
  "the err serializer: type, code, message and the causes; stacks only for bugs; never an ApiException's headers",
  async (t) => {
    const net = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' })
    const fetchFailed = new TypeError('fetch failed', { cause: net })
    const wrapped = Errors.kube('list configmaps: ECONNREFUSED', { cause: fetchFailed })
    t.same(
      errorFields(wrapped),
      {
        type: 'AppError',
        code: 'KR_KUBE',
        message: 'list configmaps: ECONNREFUSED',
        cause: {
          type: 'TypeError',
          message: 'fetch failed',
          cause: { type: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.1:443' },
        },
      },
      'our own error: no stack; its causes, without theirs',
    )

    const bug = new RangeError('index out of range')
    const f = errorFields(bug) as Record<string, unknown>
    t.match(
      f,
      { type: 'RangeError', message: 'index out of range', stack: /^RangeError: index out of range\n\s+at / },
      'a bug keeps its stack',
    )

    class ApiException extends Error {
      code = 403
      constructor() {
        super('HTTP-Code: 403 Message: forbidden Headers: {"authorization":"Bearer kube-token-123"}')
      }
    }
    const api = errorFields(
      new AppError('KR_KUBE', 502, 'get deployment: HTTP 500', { cause: new ApiException() }),
    ) as Record<string, unknown>
    t.same(api.cause, { type: 'ApiException', status: 403 })
    t.notOk(JSON.stringify(api).includes('kube-token-123'), 'the headers of an ApiException are never logged')

    const loop = new Error('again') as Error & { cause?: unknown }
    loop.cause = loop
    let depth = 0
    for (let c: any = errorFields(loop); c; c = c.cause) depth++
    t.same(
      errorFields({ code: 'KR_X', message: 'a field already' }),
      { code: 'KR_X', message: 'a field already' },
      'a plain object stays as it is',
    )
    t.equal(depth, 5, 'a cycle of causes is cut off')
    t.equal(errorFields('a string'), 'a string')
    t.equal(
      (errorFields(new Error('x'.repeat(5000))) as { message: string }).message.length,
      500,
      'messages are clipped',
    )
  },
)

t.test('regression: the state store said "could not load the state" without why', async (t) => {
  const config = parseConfig('sites:\n  - name: shop\n    target: { namespace: shop, name: web }\n')
  const real = memoryObjectStore()
  let calls = 0
  const down: ObjectStore = {
    list: () => {
      calls++
      return Promise.reject(
        Errors.kube('list configmaps: ECONNREFUSED', {
          cause: new TypeError('fetch failed', {
            cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }),
          }),
        }),
      )
    },
    read: (n) => real.read(n),
    write: (n, d, v) => real.write(n, d, v),
    watch: (v, cb, s) => real.watch(v, cb, s),
  }
  const logs: string[] = []
  const store = createStore({
    objects: down,
    sites: config.sites,
    clock: manualClock(),
    logger: quietLogger(logs),
    durable: true,
    sleep: (_ms, signal) =>
      new Promise((r) => {
        const i = setTimeout(r, 5)
        signal.addEventListener('abort', () => {
          clearTimeout(i)
          r()
        })
      }),
  })
  store.start()
  t.teardown(() => store.close())
  while (calls < 2) await new Promise((r) => setTimeout(r, 5))
  const line = parse(logs).find((l) => l.msg.startsWith('could not load the state'))
  t.equal(line?.level, 'warn')
  t.match(
    line?.err,
    {
      code: 'KR_KUBE',
      cause: { message: 'fetch failed', cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.1:443' } },
    },
    'the address it could not reach is in the line',
  )
})
