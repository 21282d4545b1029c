// Every process the pod runner starts leads its own process group (setsid),
// recorded in `pgids` (one "PGID STARTTIME" a line) the moment it starts, so
// that the runner's stop, or stopCluster after a crashed runner, kills whole
// groups: nginx workers, a shell's children, all of it.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import fs from 'node:fs'

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot): tells a reused pid from ours. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether the recorded group is still the one we started: its leader alive
 * with the recorded start time, or the leader gone but the group alive (the
 * kernel does not hand out a pid that is still some group's id, so a living
 * group with a dead leader is our leader's).
 */
export function isOurGroup(pgid: number, start: string): boolean {
  if (!groupExists(pgid)) return false
  const now = procStartTime(pgid)
  return now === undefined || now === start
}

export function readGroups(file: string): Array<{ pgid: number; start: string }> {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [pgid, start] = l.split(' ')
        return { pgid: Number(pgid), start: start ?? '' }
      })
      .filter((g) => g.pgid > 1)
  } catch {
    return []
  }
}

/** Kills (SIGKILL) every recorded group that is still ours; returns the pgids killed. Used by stopCluster. */
export function killRecordedGroups(file: string): number[] {
  const killed: number[] = []
  for (const g of readGroups(file)) {
    if (!isOurGroup(g.pgid, g.start)) continue
    try {
      process.kill(-g.pgid, 'SIGKILL')
      killed.push(g.pgid)
    } catch {
      /* gone meanwhile */
    }
  }
  return killed
}

export class ProcessGroups {
  readonly #file: string
  readonly #groups = new Map<number, string>()

  constructor(file: string) {
    this.#file = file
  }

  /** Starts `cmd` as the leader of a new process group, recorded until `release`. */
  spawn(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
    const child = spawn(cmd, args, { ...opts, detached: true })
    if (child.pid) {
      this.#groups.set(child.pid, procStartTime(child.pid) ?? '')
      this.#save()
    }
    return child
  }

  /** Signals the whole group; false if it is gone. */
  signal(pgid: number, sig: NodeJS.Signals): boolean {
    try {
      process.kill(-pgid, sig)
      return true
    } catch {
      return false
    }
  }

  alive(pgid: number): boolean {
    return groupExists(pgid)
  }

  /** Kills what is left of the group (a leader's orphans) and forgets it. */
  release(pgid: number): void {
    this.signal(pgid, 'SIGKILL')
    this.#groups.delete(pgid)
    this.#save()
  }

  /** SIGKILL to every group still recorded. */
  killAll(): void {
    for (const pgid of this.#groups.keys()) this.signal(pgid, 'SIGKILL')
    this.#groups.clear()
    this.#save()
  }

  #save(): void {
    const tmp = `${this.#file}.tmp`
    fs.writeFileSync(tmp, [...this.#groups].map(([p, s]) => `${p} ${s}\n`).join(''))
    fs.renameSync(tmp, this.#file)
  }
}
