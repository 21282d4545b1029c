// The service as it ships: `npm start`'s command (the compiled dist/ build
// and its V8 flags, the same as the image's CMD; test/unit/dockerfile.test.ts
// holds them equal). The bench builds dist/ once and runs exactly that.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT, run } from './proc.ts'

/** `node <flags> dist/cli.js serve` → { flags, entry }. */
export function shippedCommand(): { flags: string[]; entry: string } {
  const start =
    (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
      .start ?? ''
  const argv = start.split(/\s+/)
  if (argv[0] !== 'node' || argv.at(-1) !== 'serve')
    throw new Error(`npm start is not "node … <entry> serve": ${start}`)
  return { flags: argv.slice(1, -2), entry: argv.at(-2)! }
}

let built: Promise<void> | undefined

/** Compiles dist/ (npm run build) once per bench run. */
export function ensureBuild(log: (m: string) => void): Promise<void> {
  built ??= (async () => {
    const t0 = performance.now()
    const r = await run('npm', ['run', 'build', '--silent'], { timeoutMs: 600_000 })
    if (r.code !== 0) throw new Error(`npm run build failed: ${r.stderr.slice(-2000)}${r.stdout.slice(-2000)}`)
    log(`built dist/ (npm run build) in ${Math.round(performance.now() - t0)} ms`)
  })()
  return built
}
