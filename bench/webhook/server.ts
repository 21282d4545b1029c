// The two webhook servers, each in a process of its own with the same
// settings (same Node, same flags, same pino logger at level warn writing to
// /dev/null), listening on 127.0.0.1:
//
//   node bench/webhook/server.ts service        → the app from src/app.ts (buildApp), no cluster
//   node bench/webhook/server.ts bare <bytes>   → a bare Fastify POST /webhooks/jenkins answering
//                                                 202 with a JSON body of <bytes> bytes
//
// Each prints `port <N>` once it listens. With BENCH_CPU_PROFILE=<file>,
// SIGUSR2 starts a CPU profile and SIGTERM writes it there before exiting.

import Fastify, { type FastifyBaseLogger } from 'fastify'
import pino from 'pino'
import { buildApp } from '../../src/app.ts'
import { parseConfig } from '../../src/config/load.ts'
import { secretValues, type Secrets } from '../../src/config/secrets.ts'
import { createLogger } from '../../src/logger.ts'
import { startCpuProfile } from '../lib/cpu-profile.ts'

export const BENCH_SECRETS: Secrets = {
  webhookSecret: 'bench-webhook-secret-5d1e0c2b7a',
  recycleToken: 'bench-operator-token-91f4aa03c6',
}

export const JOB = 'shop-integrity'

/** One site fed by one Jenkins job; a rate limit far above what a bench can send. */
export const BENCH_CONFIG = `
service:
  rateLimit: { max: 100000000, window: 1m }
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    jenkins: { jobs: [${JOB}] }
    failureThreshold: 1
`

export function bareBody(bytes: number): string {
  const shell = (pad: string) =>
    JSON.stringify({ site: 'shop', verdict: null, action: 'none', reason: pad, health: 'healthy' })
  return shell('x'.repeat(Math.max(0, bytes - shell('').length)))
}

function logger() {
  return createLogger({
    level: 'warn',
    secrets: secretValues(BENCH_SECRETS),
    destination: pino.destination({ dest: '/dev/null', sync: false }),
  })
}

async function main(mode: string, bytes: number): Promise<void> {
  const log = logger()
  let app
  if (mode === 'service') {
    app = await buildApp({ config: parseConfig(BENCH_CONFIG), secrets: BENCH_SECRETS, logger: log })
  } else if (mode === 'bare') {
    const body = bareBody(bytes)
    app = Fastify({ loggerInstance: log as FastifyBaseLogger })
    app.post('/webhooks/jenkins', async (_req, reply) => {
      reply.code(202).type('application/json; charset=utf-8')
      return body
    })
  } else {
    throw new Error(`unknown mode ${mode} (service | bare <bytes>)`)
  }
  await app.listen({ host: '127.0.0.1', port: 0 })
  const addr = app.server.address()
  process.stdout.write(`port ${typeof addr === 'object' && addr ? addr.port : 0}\n`)
  let profile: ((file: string) => Promise<void>) | undefined
  if (process.env.BENCH_CPU_PROFILE)
    process.on('SIGUSR2', () => {
      void startCpuProfile().then((p) => {
        profile = p
      })
    })
  const stop = () => {
    void (async () => {
      await profile?.(process.env.BENCH_CPU_PROFILE!)
      await app.close()
      process.exit(0)
    })()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

if (import.meta.main) {
  main(process.argv[2] ?? '', Number(process.argv[3] ?? 0)).catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`)
    process.exit(1)
  })
}
