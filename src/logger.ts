// pino JSON logs. Secrets are redacted by path (headers, known fields) and,
// as a last line of defence, by value: any configured secret that reaches a
// log line inside free text is replaced before the line is written.

import pino, { type DestinationStream, type Logger } from 'pino'

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-recycler-signature"]',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  'secret',
  'password',
  '*.token',
  '*.secret',
  '*.password',
]

/**
 * What the log may hold while stdout is not read (a stalled container log
 * pipe, a slow reader): beyond it, lines are dropped and counted, never
 * kept. Without a bound the buffer grew by every line logged (5,000 sites
 * log ~1,000 lines a second at info: gigabytes within a minute).
 */
export const LOG_BUFFER_CHARS = 16 * 1024 * 1024

/**
 * stdout through sonic-boom, its buffer bounded (LOG_BUFFER_CHARS). Lines
 * that do not fit are dropped; the first line that fits again is preceded
 * by a warning with their number. When the reader of stdout is gone
 * (EPIPE), logs are dropped instead of raising an error that nobody can
 * report anyway.
 */
export function stdoutDestination(opts: { fd?: number; maxChars?: number } = {}): DestinationStream {
  const d = pino.destination({ dest: opts.fd ?? 1, sync: false, maxLength: opts.maxChars ?? LOG_BUFFER_CHARS })
  let broken = false
  let dropped = 0
  d.on('drop', () => dropped++)
  d.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ECONNRESET') broken = true
  })
  return {
    write: (line: string) => {
      if (broken) return
      if (dropped > 0) {
        const n = dropped
        d.write(
          `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), service: 'kube-recycler', dropped: n, msg: 'log lines dropped: stdout was not read as fast as the service logged' })}\n`,
        )
        // Still no room: the count goes on, the notice comes with a later line.
        if (dropped === n) dropped = 0
        else dropped -= 1
      }
      d.write(line)
    },
  }
}

export interface LoggerOptions {
  level?: string
  secrets?: string[]
  destination?: DestinationStream
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const secrets = (opts.secrets ?? []).filter((s) => s.length >= 4)
  const scrub = (line: string): string => {
    let out = line
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[REDACTED]')
    return out
  }
  const dest = opts.destination ?? stdoutDestination()
  const stream: DestinationStream = secrets.length === 0 ? dest : { write: (line: string) => dest.write(scrub(line)) }
  return pino(
    {
      level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: 'kube-recycler' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      // `{ err }` anywhere (Fastify's request errors too): the error with its causes.
      serializers: { err: errorFields },
    },
    stream,
  )
}

const clipText = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`)

/**
 * An error as a log field (the `err` serializer: `log.warn({ err }, …)`): its type,
 * code, message and the chain of causes it wraps, so a line says *why*
 * ("KR_KUBE list configmaps" because "connect ECONNREFUSED 10.0.0.1:443"),
 * not just what. The stack only for an error that is not one of ours (a bug).
 * client-node's ApiException carries response headers in its message: only
 * its name and status are kept.
 */
export function errorFields(e: unknown, depth = 0): unknown {
  if (e === null || typeof e !== 'object') return depth === 0 ? e : { message: clipText(String(e), 500) }
  // Already a log field (`{ code, message }`): as it is.
  if (!(e instanceof Error) && depth === 0) return e
  const err = e as {
    name?: unknown
    code?: unknown
    statusCode?: unknown
    message?: unknown
    stack?: unknown
    cause?: unknown
    constructor?: { name?: string }
  }
  const type = typeof err.name === 'string' && err.name !== 'Error' ? err.name : (err.constructor?.name ?? 'Error')
  if (type === 'ApiException') return { type, ...(typeof err.code === 'number' ? { status: err.code } : {}) }
  const ours = type === 'AppError'
  return {
    type,
    ...(typeof err.code === 'string' || typeof err.code === 'number' ? { code: err.code } : {}),
    message: clipText(typeof err.message === 'string' ? err.message : String(e), 500),
    ...(!ours && depth === 0 && typeof err.stack === 'string' ? { stack: clipText(err.stack, 2000) } : {}),
    ...(err.cause !== undefined && depth < 4 ? { cause: errorFields(err.cause, depth + 1) } : {}),
  }
}
