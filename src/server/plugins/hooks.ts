// Synchronous request steps run as one callback-style Fastify hook: an async
// hook costs a promise and a turn of Fastify's hook runner per request,
// which on the webhook's hot path is measurable (docs/benchmarks.md).

import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'

/** A step that returns to go on, or throws the answer (an AppError). */
export type SyncStep = (request: FastifyRequest) => void

export function steps(
  ...all: SyncStep[]
): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  return (request, _reply, done) => {
    try {
      for (const step of all) step(request)
    } catch (e) {
      done(e as Error)
      return
    }
    done()
  }
}
