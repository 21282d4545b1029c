// HTTP request durations by route. The label is the route *pattern*
// (`/recycles/:id`), never the raw URL, so a scanner cannot grow the series;
// a request no route matched is `unmatched`.

import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../../status/metrics.ts'

export function registerHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  // A callback hook: it runs on every answer (no promise per request).
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpSeconds.observe(
      { method: request.method, route: routeLabel(request.routeOptions.url), status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
    done()
  })
}

export function routeLabel(pattern: string | undefined): string {
  return pattern === undefined || pattern === '' ? 'unmatched' : pattern
}
