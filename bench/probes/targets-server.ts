// The probes' targets, in their own process (so the prober's CPU figures are
// its own): 1,000 paths on 127.0.0.1 answering 200 with a ~350-byte HTML page,
// at once (`/fast/N`) or after 50 ms (`/slow/N`). Anything else is a 404.
//
//   node bench/probes/targets-server.ts        → prints `port <N>` on stdout
//
// Keep-alive is on (a probe that sends `connection: close` gets its
// connection closed after the answer, as any server does).

import http from 'node:http'

export const PATHS = 1000
export const SLOW_MS = 50
/** The check every contender makes: status 200 and this regex on the body. */
export const BODY_REGEX = '<h1>Page [0-9]+ is up</h1>'

export function page(n: number): Buffer {
  const head = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Page ${n}</title></head><body><header><nav><a href="/">Home</a></nav></header><main><h1>Page ${n} is up</h1><p>`
  const tail = '</p></main><footer>kube-recycler bench</footer></body></html>\n'
  const filler = 'All systems are working as they should on this page. '.repeat(8)
  const body = head + filler.slice(0, Math.max(0, 350 - head.length - tail.length)) + tail
  return Buffer.from(body, 'utf8')
}

function main(): void {
  const pages = Array.from({ length: PATHS }, (_, i) => page(i))
  const headers = (b: Buffer) => ({ 'content-type': 'text/html; charset=utf-8', 'content-length': String(b.length) })
  const pageHeaders = pages.map(headers)
  const notFound = Buffer.from('not found\n')

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/'
    // /fast/N or /slow/N, N in 0..999
    const slash = url.indexOf('/', 1)
    const kind = url.slice(1, slash)
    const n = slash > 0 ? Number(url.slice(slash + 1)) : NaN
    if ((kind !== 'fast' && kind !== 'slow') || !Number.isInteger(n) || n < 0 || n >= PATHS) {
      res.writeHead(404, headers(notFound))
      res.end(notFound)
      return
    }
    const body = pages[n]!
    if (kind === 'fast') {
      res.writeHead(200, pageHeaders[n])
      res.end(body)
    } else {
      setTimeout(() => {
        res.writeHead(200, pageHeaders[n])
        res.end(body)
      }, SLOW_MS)
    }
  })
  server.keepAliveTimeout = 60_000
  server.headersTimeout = 65_000
  server.requestTimeout = 0
  server.maxRequestsPerSocket = 0
  // Many probes connect at once (concurrency 500, a new connection each).
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
    const addr = server.address()
    process.stdout.write(`port ${typeof addr === 'object' && addr ? addr.port : 0}\n`)
  })
  const stop = () => {
    server.closeAllConnections()
    server.close(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

if (import.meta.main) main()
