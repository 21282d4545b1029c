// An ObjectStore in memory, with the same optimistic concurrency as the
// cluster's ConfigMaps. The store of a service without a cluster (the
// README's `npm start` on a laptop: dry-run), and of unit tests, where two
// app instances sharing one of these behave as two replicas.

import { Errors } from '../errors.ts'
import type { ObjectEvent, ObjectStore, StoredObject } from '../kube/types.ts'

export interface MemoryObjectStore extends ObjectStore {
  /** Writes so far (tests count them). */
  readonly writes: number
}

export function memoryObjectStore(): MemoryObjectStore {
  const items = new Map<string, StoredObject>()
  const watchers = new Set<(e: ObjectEvent) => void>()
  let revision = 0
  let writes = 0
  return {
    get writes() {
      return writes
    },
    async list() {
      return { items: new Map(items), version: String(revision) }
    },
    async read(name) {
      return items.get(name)
    },
    async write(name, data, version) {
      const cur = items.get(name)
      if ((cur?.version ?? undefined) !== version)
        throw Errors.kubeConflict(`${name}: written by another replica first`)
      const next = { data, version: String(++revision) }
      items.set(name, next)
      writes++
      // Delivered after the writer has its answer, as a watch event would be.
      queueMicrotask(() => {
        for (const w of watchers) w({ name, object: next })
      })
      return next.version
    },
    watch(_version, onEvent, signal) {
      return new Promise<void>((resolve) => {
        if (signal.aborted) return resolve()
        watchers.add(onEvent)
        signal.addEventListener(
          'abort',
          () => {
            watchers.delete(onEvent)
            resolve()
          },
          { once: true },
        )
      })
    },
  }
}
