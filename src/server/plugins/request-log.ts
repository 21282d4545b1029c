// Request log lines at the level each route deserves. Fastify logs every
// request twice at info ("incoming request", "request completed"); the
// kubelet's probes and Prometheus' scrapes alone made ~36 such lines a
// minute per pod. A route with `config: { requestLog: 'debug' }` logs them
// at debug instead (LOG_LEVEL=debug shows them); a failure (5xx) stays info,
// and the error handler's own line stays an error.
// A per-route `logLevel` could only silence the route entirely, its own
// warnings included, at every LOG_LEVEL; this keeps the lines, demoted.

import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The level of this route's request lines; default info. */
    requestLog?: 'debug'
  }
}

const demoted = (request: FastifyRequest): boolean => request.routeOptions?.config?.requestLog === 'debug'

export class RouteLevelLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (!demoted(request)) return super.incomingRequest(request, reply, metadata)
    if (this.isLogDisabled(request)) return
    request.log.debug({ req: request }, 'incoming request')
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (error || reply.statusCode >= 500 || !demoted(request))
      return super.requestCompleted(error, request, reply, metadata)
    if (this.isLogDisabled(request)) return
    reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}
