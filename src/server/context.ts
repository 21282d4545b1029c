// What routes are given: the parts of the service they call. Built once by
// app.ts from its options; routes never construct services themselves.

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { Secrets } from '../config/secrets.ts'
import type { Config } from '../config/types.ts'
import type { Operator } from '../recycle/operator.ts'
import type { Recycler } from '../recycle/service.ts'
import type { Readiness, StateStore } from '../state/store.ts'
import type { Heartbeat } from '../state/heartbeat.ts'
import type { Metrics } from '../status/metrics.ts'
import type { Intake } from '../triggers/intake.ts'
import type { Scheduler } from '../triggers/schedule.ts'
import type { SiteFactsBook } from '../status/facts.ts'
import type { Silencer } from '../alerts/silencer.ts'

export type { Readiness }

export interface AppContext {
  config: Config
  secrets: Secrets
  logger: Logger
  clock: Clock
  version: string
  startedAt: string
  /** This replica's name (as the Lease knows it). */
  identity: string
  isLeader(): boolean
  store: StateStore
  /** The leader's heartbeat: when an unchanged site's verdict was last said again. */
  heartbeat: Heartbeat
  metrics: Metrics
  recycler: Recycler
  operator: Operator
  intake: Intake
  facts: SiteFactsBook
  scheduler?: Scheduler
  /** Silences in Alertmanager while recycling (the config's alertmanager.url). */
  silencer?: Silencer
  readiness(): Readiness
  /** Say loudly on /status why the service does not act on the cluster. */
  mode: { cluster: 'connected' | 'none'; note?: string }
}
