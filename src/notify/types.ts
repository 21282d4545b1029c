// What the service tells notification receivers, and the face the rest of
// the service sees: notify() never waits, never throws, never fails the
// action that caused it.

import type { NotifyEvent } from '../config/types.ts'

export type { NotifyEvent }

export interface Notice {
  event: NotifyEvent
  site?: string
  /** One line for a person. */
  message: string
  recycle?: { id: string; state: string; url: string }
  /** The operator who did it (pause, resume, approval). */
  by?: string
}

export interface Notifier {
  /** Queues the notice for every receiver that wants its event; returns at once. */
  notify(n: Notice): void
  /** Resolves when every queue is empty (tests). */
  idle(): Promise<void>
  close(): Promise<void>
}
