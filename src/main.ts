// The process: config, logger, the cluster side, the app, listening, and a
// graceful shutdown on SIGTERM/SIGINT. Everything else is in app.ts.

import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import { buildApp } from './app.ts'
import { ConfigError, EXAMPLE_CONFIG_PATH, loadConfigFile } from './config/load.ts'
import { assertServiceSecrets, secretsFromEnv, secretValues } from './config/secrets.ts'
import type { Config, SiteConfig } from './config/types.ts'
import { createLogger } from './logger.ts'
import { findKubeconfig } from './kube/find.ts'
import { systemClock } from './clock.ts'
import { createEngine, namedWorkloads, workloadCacheKeys } from './recycle/engine.ts'
import type { CheckRunner } from './recycle/strategies/canary.ts'
import type { Executor } from './recycle/executor.ts'
import type { Kube } from './kube/types.ts'
import { createLeader, type Leader } from './triggers/leader.ts'
import { createGitHeads } from './git/heads.ts'
import { loadKube } from './kube/load.ts'
import type { CommitResolver } from './recycle/runner.ts'
import { createProber } from './triggers/probe.ts'
import { resolveTargets, targetSecrets } from './notify/targets.ts'
import { checkMemoryAtStart, CGROUP_MEMORY_MAX } from './config/memory.ts'

/**
 * The cluster side, when there is a cluster: a kubeconfig file, or the
 * in-cluster service account. Nothing is asked of the API server here: a
 * replica that cannot reach it starts, is not ready, and keeps trying (the
 * state store's loop); it never falls back to doing less than configured.
 * No cluster configured at all means dry-run (a laptop), said loudly.
 */
export async function connectCluster(opts: {
  env: NodeJS.ProcessEnv
  logger: Logger
  kubeconfig?: string
  identity: string
  /** Runs one check: what a canary-first rollout probes its new pod with. */
  checks?: CheckRunner
  /** The sites: the workloads they name are watched for /status (every replica answers it). */
  sites?: readonly SiteConfig[]
}): Promise<{ executor?: Executor; kube?: Kube; note: string }> {
  const where = findKubeconfig({ env: opts.env, ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) })
  if (!where)
    return { note: 'no Kubernetes cluster configured (no KUBECONFIG, ~/.kube/config or in-cluster service account)' }
  // client-node takes a while to load and its memory stays: only when there
  // is a cluster, and only the parts used (kube/load.ts).
  const { createKube } = await loadKube()
  const kube = createKube({
    logger: opts.logger,
    env: opts.env,
    ...(where.kind === 'file' ? { kubeconfig: where.path } : {}),
  })
  opts.logger.info({ kubeconfig: where.kind === 'file' ? where.path : 'in-cluster' }, 'using the cluster')
  // Stopped with the Kube (kube.close()).
  const named = namedWorkloads(opts.sites ?? [])
  const cache = named.length > 0 ? kube.cacheWorkloads(named, workloadCacheKeys) : undefined
  return {
    kube,
    executor: createEngine({
      kube,
      clock: systemClock,
      logger: opts.logger,
      holder: opts.identity,
      ...(opts.checks ? { checks: opts.checks } : {}),
      ...(cache ? { cache } : {}),
    }),
    note: '',
  }
}

export interface ServeOptions {
  configPath?: string
  env?: NodeJS.ProcessEnv
  /** A kubeconfig file; default KUBECONFIG, ~/.kube/config, then in-cluster. */
  kubeconfig?: string
  /** Defaults to HOST/PORT from the environment, then 0.0.0.0:8080. */
  host?: string
  port?: number
  /** Where the pod's memory limit is read (cgroup files; tests: a fake one). */
  memoryLimitFiles?: readonly string[]
}

export interface Running {
  app: FastifyInstance
  logger: Logger
  config: Config
  url: string
  close(): Promise<void>
}

export function configPathFrom(opts: { configPath?: string; env?: NodeJS.ProcessEnv }): string {
  return opts.configPath ?? opts.env?.KUBE_RECYCLER_CONFIG ?? EXAMPLE_CONFIG_PATH
}

/** Starts the service; throws ConfigError for a bad file. */
export async function serve(opts: ServeOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env
  const configPath = configPathFrom({ ...opts, env })
  const config = loadConfigFile(configPath)
  const secrets = secretsFromEnv(env)
  assertServiceSecrets(secrets)
  // Receiver URLs carry secrets: resolved from the environment, redacted by value.
  const notifyProblems: string[] = []
  const notifyTargets = resolveTargets(config.notifications, env, notifyProblems)
  if (notifyProblems.length > 0) throw new ConfigError(configPath, notifyProblems)
  const logger = createLogger({
    secrets: [...secretValues(secrets), ...targetSecrets(notifyTargets)],
    ...(env.LOG_LEVEL ? { level: env.LOG_LEVEL } : {}),
  })
  logger.info({ config: configPath, sites: config.sites.map((s) => s.name) }, 'configuration loaded')
  checkMemoryAtStart(logger, config.sites.length, opts.memoryLimitFiles ?? CGROUP_MEMORY_MAX)
  if (!secrets.webhookSecret && !secrets.webhookToken) {
    logger.warn(
      'no webhook secret or token set (KUBE_RECYCLER_WEBHOOK_SECRET / KUBE_RECYCLER_WEBHOOK_TOKEN): every webhook will be answered 401',
    )
  }
  if (!secrets.recycleToken && !secrets.operators?.length)
    logger.warn(
      'no operator token set (KUBE_RECYCLER_RECYCLE_TOKEN or KUBE_RECYCLER_OPERATOR_TOKENS_FILE): the operator routes will be answered 401',
    )
  else
    logger.info(
      { operators: [...(secrets.recycleToken ? ['operator'] : []), ...(secrets.operators ?? []).map((o) => o.name)] },
      'operator tokens loaded',
    )

  // Unique per process: a restarted container must not take itself for
  // the leader it was before (its old Lease runs out, or was released).
  const identity = `${env.POD_NAME ?? env.HOSTNAME ?? hostname()}-${randomBytes(3).toString('hex')}`
  const prober = createProber({ concurrency: config.service.probeConcurrency, logger })
  const cluster = await connectCluster({
    env,
    logger,
    identity,
    checks: prober,
    sites: config.sites,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
  })
  if (!cluster.executor) {
    logger.warn(`DRY-RUN: ${cluster.note}; recycles are planned and recorded, nothing changes in the cluster`)
  } else if (config.service.dryRun) {
    logger.warn('DRY-RUN: service.dryRun is true; recycles are planned and recorded, nothing changes in the cluster')
  }
  const git = createGitHeads({ logger, ...(secrets.gitToken ? { token: secrets.gitToken } : {}) })
  const commits: CommitResolver = {
    headCommit: (site) =>
      git.headCommit(site.git!.repo, site.git!.branch, { username: site.git!.username, cacheMs: site.git!.cacheMs }),
  }
  // With a cluster, the holder of the Lease is the one replica that probes
  // on the schedule and runs recycles; `off` makes this process lead alone.
  const namespace = env.POD_NAMESPACE ?? config.service.namespace
  let leader: Leader | undefined
  if (cluster.kube && config.service.leaderElection !== 'off') {
    leader = createLeader({
      lease: cluster.kube.lease(namespace, 'kube-recycler'),
      identity,
      clock: systemClock,
      logger,
      durationSeconds: Math.round(config.service.leaseDurationMs / 1000),
    })
  }
  let app: FastifyInstance
  try {
    app = await buildApp({
      config,
      secrets,
      logger,
      defaultMetrics: true,
      commits,
      prober,
      schedule: true,
      identity,
      notifyTargets,
      ...(leader ? { isLeader: () => leader.isLeader() } : {}),
      ...(cluster.kube
        ? {
            objects: cluster.kube.objects(namespace),
            heartbeatObjects: cluster.kube.objects(namespace, 'heartbeat'),
            ping: (signal: AbortSignal) => cluster.kube!.ping(signal),
            answeredAgoMs: () => cluster.kube!.answeredAgoMs(),
            writeSlots: cluster.kube.writeConnections,
            kubeRequests: () => cluster.kube!.requestCounts(),
          }
        : {}),
      ...(cluster.executor ? { executor: cluster.executor } : { note: cluster.note }),
    })
  } catch (e) {
    await git.close()
    await prober.close()
    throw e
  }
  if (leader) leader.start()
  if (cluster.kube)
    void app.core.store
      .loaded()
      .then(() => logger.info({ namespace, identity }, 'connected to the cluster: the service state is loaded'))
  // The askpass dir (with the token file) goes when the app is closed; the
  // Lease is released (after the recycles in flight were let go) so another
  // replica takes over and adopts them at once.
  app.addHook('onClose', async () => {
    await leader?.stop()
    await git.close()
    cluster.kube?.close()
  })

  const host = opts.host ?? env.HOST ?? '0.0.0.0'
  const port = opts.port ?? (env.PORT !== undefined && env.PORT !== '' ? Number(env.PORT) : 8080)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError('PORT', [`PORT: must be a port number, got ${JSON.stringify(env.PORT)}`])
  const url = await app.listen({ host, port })
  logger.info({ url }, 'kube-recycler listening')
  let closing: Promise<void> | undefined
  return {
    app,
    logger,
    config,
    url,
    close: () => (closing ??= app.close()),
  }
}

/** The process entry: exits non-zero with every bad config field named. */
export async function main(opts: ServeOptions = {}): Promise<void> {
  let running: Running
  try {
    running = await serve(opts)
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kube-recycler: ${e.message}\n`)
      process.exit(2)
    }
    process.stderr.write(`kube-recycler: failed to start: ${(e as Error).message}\n`)
    process.exit(1)
  }
  // close-with-grace exits when the close is done or after 10 s. The
  // watchdog is the last word: an orphaned process whose stdout is gone must
  // still go when told to, whatever an exit handler does.
  closeWithGrace(
    { delay: 10_000, logger: { error: (m: unknown) => running.logger.error(String(m)) } },
    async ({ signal, err }) => {
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 15_000).unref()
      if (err) running.logger.error({ err }, 'shutting down after an error')
      else running.logger.info({ signal }, 'shutting down')
      await running.close()
      running.logger.info('stopped')
    },
  )
}
