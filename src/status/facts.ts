// What /status shows beyond this replica's memory: the production branch head
// (git) and the commit the workload runs (the cluster), refreshed after probe
// ticks and recycles, when a watch sees the workload change, and on /status
// when older than a minute; never blocking a request. A named workload's
// facts come from the executor's watch (no request); a selector's are read.

import type { Logger } from 'pino'
import type { Clock } from '../clock.ts'
import type { SiteConfig } from '../config/types.ts'
import { isAppError } from '../errors.ts'
import type { Executor } from '../recycle/executor.ts'
import type { CommitResolver } from '../recycle/runner.ts'

export interface GitFacts {
  branch: string
  /** Newest commit of the production branch, when it could be read. */
  head?: string
  /** Commit pinned in the workload's pod template. */
  running?: string
  /** Both known and different: the site does not run the production head. */
  drift: boolean
  error?: string
  checkedAt?: string
}

export interface SiteFactsBook {
  get(site: SiteConfig): GitFacts | undefined
  refresh(site: SiteConfig): Promise<void>
  /** Refresh in the background when older than maxAgeMs. */
  refreshIfStale(site: SiteConfig, maxAgeMs?: number): void
  idle(): Promise<void>
}

export function createSiteFacts(opts: {
  executor?: Executor
  commits?: CommitResolver
  clock: Clock
  logger: Logger
}): SiteFactsBook {
  const log = opts.logger.child({ component: 'facts' })
  const book = new Map<string, GitFacts & { at: number }>()
  const running = new Map<string, Promise<void>>()
  const again = new Set<string>()

  async function refresh(site: SiteConfig): Promise<void> {
    const prev = running.get(site.name)
    if (prev) {
      // Asked again mid-read (a watch saw a change): read once more after, or the change waits for the next refresh.
      again.add(site.name)
      return prev
    }
    const p = (async () => {
      const f: GitFacts = { branch: site.git?.branch ?? '', drift: false }
      if (site.git && opts.commits) {
        try {
          f.head = await opts.commits.headCommit(site)
        } catch (e) {
          f.error = isAppError(e) ? e.message : 'the git remote could not be read'
        }
      }
      if (opts.executor?.inspect) {
        try {
          const facts = await opts.executor.inspect(site)
          if (facts.runningCommit) f.running = facts.runningCommit
        } catch (e) {
          const why = isAppError(e) ? e.message : 'the workload could not be read'
          f.error = f.error ? `${f.error}; ${why}` : why
        }
      }
      f.drift = f.head !== undefined && f.running !== undefined && f.head !== f.running
      f.checkedAt = new Date(opts.clock.now()).toISOString()
      book.set(site.name, { ...f, at: opts.clock.now() })
      if (f.drift)
        log.info({ site: site.name, head: f.head, running: f.running }, 'the site does not run the production head')
    })().finally(() => {
      running.delete(site.name)
      if (again.delete(site.name)) void refresh(site).catch(() => undefined)
    })
    running.set(site.name, p)
    return p
  }

  return {
    get(site) {
      const f = book.get(site.name)
      if (!f) return undefined
      const { at: _at, ...rest } = f
      return rest
    },
    refresh,
    refreshIfStale(site, maxAgeMs = 60_000) {
      if (!site.git && !opts.executor?.inspect) return
      const f = book.get(site.name)
      if (!f || opts.clock.now() - f.at > maxAgeMs) void refresh(site).catch(() => undefined)
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running.values()])
    },
  }
}
