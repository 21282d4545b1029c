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
 * stdout through sonic-boom. When the reader of stdout is gone (EPIPE), logs
 * are dropped instead of raising an error that nobody can report anyway.
 */
function stdoutDestination(): DestinationStream {
  const d = pino.destination({ dest: 1, sync: false })
  let broken = false
  d.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ECONNRESET') broken = true
  })
  return { write: (line: string) => { if (!broken) d.write(line) } }
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
  return pino({
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'kube-recycler' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    formatters: { level: (label) => ({ level: label }) },
  }, stream)
}
