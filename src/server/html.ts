// The routes that answer JSON by default and an HTML page for a browser
// (/status, /recycles/:id): one way to choose, one way to send the page, and
// one description of both in the OpenAPI.

import type { FastifyReply, FastifyRequest } from 'fastify'
import Type, { type TSchema } from 'typebox'
import { PAGE_SECURITY_HEADERS } from '../status/page.ts'

/** `?format=json|html`, which overrides the Accept header. */
export const FormatQuery = Type.Object(
  { format: Type.Optional(Type.Enum(['json', 'html'], { description: 'overrides the Accept header' })) },
  { additionalProperties: false },
)

/** A 200 that is `json` as JSON, or the page as text/html. */
export function jsonOrPage(description: string, json: TSchema, page: string): Record<string, unknown> {
  return {
    description,
    content: {
      'application/json': { schema: json },
      'text/html': { schema: Type.String({ description: page }) },
    },
  }
}

// True when the Accept header ranks text/html above JSON (a browser); any-type means JSON.
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false
  let html = 0
  let json = 0
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';')
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='))
    const q = qp ? Number(qp.slice(2)) : 1
    if (!Number.isFinite(q)) continue
    if (type === 'text/html') html = Math.max(html, q)
    else if (type === 'application/json') json = Math.max(json, q)
  }
  return html > 0 && html > json
}

/** The page or JSON for this request; says `Vary: Accept` either way. */
export function wantsPage(request: FastifyRequest, reply: FastifyReply): boolean {
  const { format } = request.query as { format?: 'json' | 'html' }
  void reply.header('Vary', 'Accept')
  return format === 'html' || (format === undefined && prefersHtml(request.headers.accept))
}

/** Sends a rendered page: its security headers, never cached, past the JSON serializer. */
export function sendPage(reply: FastifyReply, html: string): FastifyReply {
  return reply
    .headers(PAGE_SECURITY_HEADERS)
    .header('Cache-Control', 'no-store')
    .type('text/html; charset=utf-8')
    .serializer((p: unknown) => p as string)
    .send(html)
}
