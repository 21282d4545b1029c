// A 5xx answer says what kind of failure it was (its code) in a fixed,
// generic message; the detail (the API server's own words, a host name, a
// stack) goes to the log only. A 4xx keeps its message: it tells the
// caller what to fix.

import t from 'tap'
import { Writable } from 'node:stream'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import pino from 'pino'
import { Errors } from '../../src/errors.ts'
import { registerErrorHandling } from '../../src/server/plugins/errors.ts'
import { memoryObjectStore } from '../../src/state/memory.ts'
import type { ObjectStore } from '../../src/kube/types.ts'
import { SECRETS, testApp } from '../fixtures/app.ts'

const DETAIL = 'etcdserver: request timed out; apiserver kube-apiserver-node-7.internal:6443'

const ROWS: { name: string; error: () => Error; status: number; code: string; message: string }[] = [
  {
    name: 'not ready (the store)',
    error: () => Errors.unavailable(`the service state could not be read (${DETAIL}); retry shortly`),
    status: 503,
    code: 'KR_UNAVAILABLE',
    message: 'the service is not ready: its shared state cannot be reached; retry later',
  },
  {
    name: 'the Kubernetes API',
    error: () => Errors.kube(`PATCH deployments/web: ${DETAIL}`),
    status: 500,
    code: 'KR_KUBE',
    message: 'the Kubernetes API failed',
  },
  {
    name: 'RBAC',
    error: () => Errors.kubeForbidden(`deployments "web" is forbidden: User "system:serviceaccount:x" ${DETAIL}`),
    status: 500,
    code: 'KR_KUBE_FORBIDDEN',
    message: 'the Kubernetes API refused the request (RBAC)',
  },
  {
    name: 'git',
    error: () => Errors.git(`git: the remote https://git.internal/${DETAIL} could not be reached`),
    status: 500,
    code: 'KR_GIT',
    message: 'the git remote could not be read',
  },
  {
    name: 'internal with a message',
    error: () => Errors.internal(`bug at ${DETAIL}`),
    status: 500,
    code: 'KR_INTERNAL',
    message: 'internal error',
  },
  {
    name: 'a plain Error',
    error: () => new Error(`TypeError-ish ${DETAIL}`),
    status: 500,
    code: 'KR_INTERNAL',
    message: 'internal error',
  },
  {
    name: 'a 4xx keeps its message',
    error: () => Errors.invalidField('body.build: must be an integer'),
    status: 400,
    code: 'KR_INVALID_FIELD',
    message: 'body.build: must be an integer',
  },
]

for (const row of ROWS) {
  t.test(`${row.name}: ${row.status} { code, generic message }, the detail in the log`, async (t) => {
    const lines: string[] = []
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(c, _e, cb) {
          lines.push(String(c))
          cb()
        },
      }),
    )
    const app = Fastify({ loggerInstance: logger as FastifyBaseLogger })
    t.after(() => app.close())
    registerErrorHandling(app)
    app.get('/x', async () => {
      throw row.error()
    })
    const r = await app.inject({ method: 'GET', url: '/x' })
    t.equal(r.statusCode, row.status)
    t.same(r.json(), { code: row.code, message: row.message })
    if (row.status >= 500) {
      t.notMatch(r.body, /etcdserver|apiserver|internal:/, 'no internal text on the wire')
      t.ok(
        lines.some((l) => l.includes('etcdserver: request timed out')),
        'the detail is logged',
      )
    }
  })
}

t.test('the webhook while the API server fails: 503 with Retry-After and no API server text', async (t) => {
  const memory = memoryObjectStore()
  // The cluster's store as it is while the API server answers with errors.
  const failing: ObjectStore = {
    list: async () => {
      throw Errors.kube(`list ConfigMaps: ${DETAIL}`)
    },
    read: (name) => memory.read(name),
    write: (name, data, version) => memory.write(name, data, version),
    watch: (version, onEvent, signal) => memory.watch(version, onEvent, signal),
  }
  const h = await testApp({ extra: { objects: failing } })
  t.after(() => h.app.close())
  const r = await h.app.inject({
    method: 'POST',
    url: '/webhooks/jenkins',
    headers: { authorization: `Bearer ${SECRETS.webhookToken}`, 'content-type': 'application/json' },
    payload: { job: 'shop-integrity', build: 1, status: 'FAILURE' },
  })
  t.equal(r.statusCode, 503, r.body)
  t.equal(r.headers['retry-after'], '5')
  t.equal(r.json().code, 'KR_UNAVAILABLE')
  t.notMatch(r.body, /etcdserver|apiserver|ConfigMaps/, 'no API server text on the wire')
  t.ok(
    h.logs.some((l) => l.includes('etcdserver')),
    'the detail is in the log',
  )
})
