// The pod status a kubelet would report, from the runner's view of its
// containers (pure). Follows pkg/kubelet/kubelet_pods.go getPhase and the
// condition generators in pkg/kubelet/status/generate.go.

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number
        reason: string
        message?: string
        startedAt: string
        finishedAt: string
        containerID?: string
        signal?: number
      }
    }

export interface ContainerView {
  name: string
  image: string
  imageID: string
  containerID?: string
  state: ContainerState
  lastState: ContainerState | Record<string, never>
  restartCount: number
  ready: boolean
  started: boolean
}

export interface PodView {
  restartPolicy: 'Always' | 'OnFailure' | 'Never'
  initContainers: ContainerView[]
  containers: ContainerView[]
  /** Every init container has succeeded. */
  initialized: boolean
  /** An init container failed for good (restartPolicy Never). */
  initFailed: boolean
  /** Being deleted and every process is gone: the kubelet reports a terminal phase. */
  terminated: boolean
  readinessGates: string[]
  /** Current conditions on the object (for readiness gates set by others). */
  objectConditions: Array<{ type: string; status: string }>
}

export type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed'

export function podPhase(v: PodView): Phase {
  if (v.initFailed) return 'Failed'
  if (!v.initialized && !v.terminated) return 'Pending'
  let waiting = 0
  let running = 0
  let stopped = 0
  let succeeded = 0
  for (const c of v.containers) {
    if ('running' in c.state) running++
    else if ('terminated' in c.state) {
      stopped++
      if (c.state.terminated.exitCode === 0) succeeded++
    } else if ('terminated' in c.lastState) stopped++
    else waiting++
  }
  if (v.terminated) return stopped === succeeded && waiting === 0 ? 'Succeeded' : 'Failed'
  if (waiting > 0) return 'Pending'
  if (running > 0) return 'Running'
  if (stopped > 0) {
    if (v.restartPolicy === 'Always') return 'Running'
    if (stopped === succeeded) return 'Succeeded'
    if (v.restartPolicy === 'Never') return 'Failed'
    return 'Running'
  }
  return 'Pending'
}

export interface Condition {
  type: string
  status: 'True' | 'False'
  reason?: string
  message?: string
  lastTransitionTime?: string
  lastProbeTime: null
}

export function podConditions(v: PodView): Array<Omit<Condition, 'lastTransitionTime' | 'lastProbeTime'>> {
  const phase = podPhase(v)
  const done = phase === 'Succeeded' || phase === 'Failed'
  const out: Array<Omit<Condition, 'lastTransitionTime' | 'lastProbeTime'>> = []
  out.push({ type: 'PodReadyToStartContainers', status: v.terminated ? 'False' : 'True' })
  const pendingInit = v.initContainers
    .filter((c) => !('terminated' in c.state && c.state.terminated.exitCode === 0))
    .map((c) => c.name)
  out.push(
    v.initialized || pendingInit.length === 0
      ? { type: 'Initialized', status: 'True' }
      : {
          type: 'Initialized',
          status: 'False',
          reason: 'ContainersNotInitialized',
          message: `containers with incomplete status: [${pendingInit.join(' ')}]`,
        },
  )
  const unready = v.containers.filter((c) => !c.ready).map((c) => c.name)
  const containersReady = unready.length === 0 && v.initialized
  const cr = done
    ? { type: 'ContainersReady', status: 'False' as const, reason: 'PodCompleted' }
    : containersReady
      ? { type: 'ContainersReady', status: 'True' as const }
      : {
          type: 'ContainersReady',
          status: 'False' as const,
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${unready.join(' ')}]`,
        }
  out.push(cr)
  if (cr.status !== 'True') {
    out.push({ ...cr, type: 'Ready' })
  } else {
    const missing = v.readinessGates.filter((g) => v.objectConditions.find((c) => c.type === g)?.status !== 'True')
    out.push(
      missing.length === 0
        ? { type: 'Ready', status: 'True' }
        : {
            type: 'Ready',
            status: 'False',
            reason: 'ReadinessGatesNotReady',
            message: missing
              .map((g) =>
                v.objectConditions.some((c) => c.type === g)
                  ? `the status of pod readiness gate "${g}" is not "True", but False`
                  : `corresponding condition of pod readiness gate "${g}" does not exist.`,
              )
              .join(', '),
          },
    )
  }
  return out
}

/** Keeps lastTransitionTime across updates: it moves only when a condition's status does. */
export class ConditionClock {
  readonly #seen = new Map<string, { status: string; time: string }>()

  stamp(conds: ReturnType<typeof podConditions>, now: string): Condition[] {
    return conds.map((c) => {
      const prev = this.#seen.get(c.type)
      const time = prev && prev.status === c.status ? prev.time : now
      this.#seen.set(c.type, { status: c.status, time })
      return { ...c, lastProbeTime: null, lastTransitionTime: time }
    })
  }
}

/** The kubelet's restart back-off: the first restart at once, then base, doubling up to max. */
export function backoffDelay(restarts: number, baseMs: number, maxMs: number): number {
  if (restarts <= 1) return 0
  return Math.min(baseMs * 2 ** (restarts - 2), maxMs)
}
