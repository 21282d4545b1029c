// steps(): the synchronous request steps folded into one callback hook
// (server/plugins/hooks.ts) run in order, stop at the first that throws and
// hand Fastify that error, so a bad signature is never followed by a parse.

import t from 'tap'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { steps } from '../../src/server/plugins/hooks.ts'

const request = {} as FastifyRequest
const reply = {} as FastifyReply

t.test('runs every step in order, then calls done() without an error', (t) => {
  const seen: string[] = []
  steps(
    (r) => {
      t.equal(r, request)
      seen.push('a')
    },
    () => {
      seen.push('b')
    },
  )(request, reply, (err?: unknown) => {
    t.same(seen, ['a', 'b'])
    t.equal(err, undefined)
    t.end()
  })
})

t.test('stops at the first step that throws and passes its error on, once', (t) => {
  const seen: string[] = []
  const boom = new Error('bad signature')
  let calls = 0
  steps(
    () => {
      seen.push('auth')
      throw boom
    },
    () => {
      seen.push('parse')
    },
  )(request, reply, (err?: unknown) => {
    calls++
    t.equal(err, boom)
    t.same(seen, ['auth'], 'the step after the failing one never ran')
  })
  t.equal(calls, 1, 'done was called once, synchronously')
  t.end()
})
