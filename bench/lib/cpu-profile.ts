// A CPU profile of a steady state only (not of start-up and warm-up, which
// `node --cpu-prof` would include): start it when the load is on, stop it
// and write a .cpuprofile when done. Used when BENCH_CPU_PROFILE names a file.

import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'

export async function startCpuProfile(): Promise<(file: string) => Promise<void>> {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 500 })
  await session.post('Profiler.start')
  return async (file) => {
    const { profile } = await session.post('Profiler.stop')
    writeFileSync(file, JSON.stringify(profile))
    session.disconnect()
  }
}
