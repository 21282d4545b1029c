// What the image runs, without a Docker engine: a temp folder laid out as the
// Dockerfile lays out /app (the files its COPY lines name, filtered by
// .dockerignore; `npm ci --omit=dev` as its deps stage runs it; dist/ built
// by its build stage's RUN lines, with this checkout's dev dependencies
// standing in for that stage's full `npm ci`), then the
// exact entry it names — CMD, and ENTRYPOINT + CMD when tini is installed —
// with Node 24 as `node`. The service answers /healthz and exits 0 on SIGTERM
// with only production dependencies present.

import t from 'tap'
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { request } from 'undici'
import { ROOT } from '../fixtures/process.ts'

interface Instruction {
  cmd: string
  args: string
  flags: Record<string, string>
}

/** The instructions of each stage (comments and `\` continuations handled). */
const stageNames: (string | undefined)[] = []

function stagesOf(text: string): Instruction[][] {
  const stages: Instruction[][] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!
    if (/^\s*(#|$)/.test(line)) continue
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ')
      i++
      if (!/^\s*#/.test(lines[i]!)) line += lines[i]!
    }
    const m = /^\s*(\S+)\s*(.*)$/.exec(line)!
    let args = m[2]!.trim()
    const flags: Record<string, string> = {}
    for (let f = /^--([a-z-]+)(?:=(\S+))?\s*/.exec(args); f; f = /^--([a-z-]+)(?:=(\S+))?\s*/.exec(args)) {
      flags[f[1]!] = f[2] ?? 'true'
      args = args.slice(f[0].length)
    }
    const cmd = m[1]!.toUpperCase()
    if (cmd === 'FROM') {
      stages.push([])
      stageNames.push(/\bAS\s+(\S+)/i.exec(args)?.[1])
    } else stages.at(-1)?.push({ cmd, args, flags })
  }
  return stages
}

function ignoredBy(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!')
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '')
      const source = pattern
        .split('/')
        .map((p) =>
          p === '**'
            ? '.*'
            : p
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
      return { negate, re: new RegExp(`^${source}$`) }
    })
  return (path) => {
    const parts = path.split('/')
    let ignored = false
    for (const r of rules) if (parts.some((_, i) => r.re.test(parts.slice(0, i + 1).join('/')))) ignored = !r.negate
    return ignored
  }
}

const stages = stagesOf(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
const final = stages.at(-1)!
const ignored = ignoredBy(readFileSync(join(ROOT, '.dockerignore'), 'utf8'))
const nodeFirst = [dirname(process.execPath), process.env.PATH ?? '/usr/bin:/bin'].join(delimiter)

/** COPY <src>... <dest> from the build context (not --from) into the folder that stands for WORKDIR. */
function copyContext(stage: Instruction[], app: string): string[] {
  const copied: string[] = []
  for (const i of stage.filter((x) => x.cmd === 'COPY' && !x.flags.from)) {
    const parts = i.args.split(/\s+/)
    const dest = parts.pop()!
    for (const src of parts) {
      const to = parts.length > 1 || dest.endsWith('/') ? join(app, dest, src.split('/').pop()!) : join(app, dest)
      cpSync(join(ROOT, src), to, {
        recursive: true,
        filter: (from) => !ignored(from.slice(ROOT.length).replace(/^\/+/, '')) || from === ROOT,
      })
      copied.push(src)
    }
  }
  return copied
}

/** The caller's environment (proxy, CA bundle, npm cache) less the npm_* settings a parent `npm test` exports. */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v
  env.PATH = nodeFirst
  return env
}

function exec(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: npmEnv() })
    let out = ''
    child.stdout.on('data', (d) => {
      out += String(d)
    })
    child.stderr.on('data', (d) => {
      out += String(d)
    })
    const timer = setTimeout(() => {
      out += `\n(killed after ${timeoutMs} ms)`
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })
}

/** Runs argv as the container would (ENV from the Dockerfile, then HOST/PORT for the test); resolves once it listens. */
async function start(argv: string[], app: string, env: Record<string, string>) {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => {
    out += String(d)
  })
  child.stderr.on('data', (d) => {
    out += String(d)
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not listen within 15 s:\n${out}`)), 15_000)
    child.stdout.on('data', () => {
      const m = /"url":"(http:\/\/[^"]+)","msg":"kube-recycler listening"/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`exited with ${code} before listening:\n${out}`))
    })
  })
  return { child, url, exited, output: () => out }
}

t.test('the Dockerfile entry starts the service from a production-only install', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kr-prod-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const app = join(dir, 'app')
  const home = join(dir, 'home')
  mkdirSync(app)
  mkdirSync(home)

  // The deps stage: its COPY lines, then its `npm ci` exactly as written (not `npm cache clean`).
  const deps = stages.find((s) => s.some((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args)))!
  t.same(
    copyContext(deps, app).sort(),
    ['package-lock.json', 'package.json'],
    'the deps stage copies only the manifests',
  )
  const npmCi = deps
    .find((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args))!
    .args.split('&&')
    .map((s) => s.trim())
    .find((s) => s.startsWith('npm ci'))!
  t.match(npmCi, /--omit=dev/, `it runs: ${npmCi}`)
  const started = Date.now()
  const installed = await exec('npm', npmCi.split(/\s+/).slice(1), app, 180_000)
  t.equal(installed.code, 0, `${npmCi} in ${((Date.now() - started) / 1000).toFixed(1)} s`, {
    output: installed.out.slice(-2000),
  })
  t.comment(`${npmCi}: ${((Date.now() - started) / 1000).toFixed(1)} s`)

  // The build stage: its COPY lines into a folder of its own, then its RUN
  // lines but the npm ci (this checkout's node_modules holds typescript).
  const buildAt = stages.findIndex((s) => s.some((i) => i.cmd === 'RUN' && /\bnpm run build\b/.test(i.args)))
  t.ok(buildAt >= 0, 'a stage runs npm run build')
  const buildDir = join(dir, 'build')
  mkdirSync(buildDir)
  t.ok(copyContext(stages[buildAt]!, buildDir).includes('src'), 'the build stage copies src/')
  symlinkSync(join(ROOT, 'node_modules'), join(buildDir, 'node_modules'))
  for (const run of stages[buildAt]!.filter((i) => i.cmd === 'RUN' && !/\bnpm ci\b/.test(i.args))) {
    const built = await exec('sh', ['-c', run.args], buildDir, 120_000)
    t.equal(built.code, 0, `build stage: ${run.args}`, { output: built.out.slice(-2000) })
  }

  // The runtime stage: node_modules comes from the deps stage (already here),
  // what it takes from the build stage (its WORKDIR /app is buildDir), then its own COPY lines.
  for (const i of final.filter((x) => x.cmd === 'COPY' && x.flags.from === stageNames[buildAt])) {
    const [from, to] = i.args.split(/\s+/) as [string, string]
    cpSync(join(buildDir, from.replace(/^\/app\/?/, '')), join(app, to), { recursive: true })
  }
  t.ok(existsSync(join(app, 'dist', 'cli.js')), 'the image holds dist/cli.js')
  const copied = copyContext(final, app)
  t.notOk(copied.includes('src'), `copied ${copied.join(', ')}: no TypeScript source`)
  t.notOk(existsSync(join(app, 'src')), 'no src/ in the image')
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  const missing = Object.keys(pkg.dependencies).filter((d) => !existsSync(join(app, 'node_modules', d, 'package.json')))
  t.same(missing, [], `all ${Object.keys(pkg.dependencies).length} production dependencies are installed`)
  // Every package the lock file marks dev-only (tap, typescript, the `node` package, …) is absent.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>
  }
  const devOnly = Object.entries(lock.packages)
    .filter(([p, v]) => v.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(p))
    .map(([p]) => p)
  t.ok(
    devOnly.includes('node_modules/tap') && devOnly.includes('node_modules/node'),
    `${devOnly.length} dev-only packages in the lock file`,
  )
  t.same(
    devOnly.filter((p) => existsSync(join(app, p))),
    [],
    'none of them is installed',
  )
  t.notOk(existsSync(join(app, 'test')), 'no tests in the image')

  const env: Record<string, string> = { PATH: nodeFirst, HOME: home, TMPDIR: join(dir, 'tmp') }
  mkdirSync(env.TMPDIR!)
  for (const i of final.filter((x) => x.cmd === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '')
  }
  t.equal(env.NODE_ENV, 'production', 'the image sets NODE_ENV=production')
  Object.assign(env, { HOST: '127.0.0.1', PORT: '0' })

  const cmd = JSON.parse(final.find((i) => i.cmd === 'CMD')!.args) as string[]
  const entrypoint = JSON.parse(final.find((i) => i.cmd === 'ENTRYPOINT')?.args ?? '[]') as string[]
  const withNode = (argv: string[]) => argv.map((a) => (a === 'node' ? process.execPath : a))
  const ways: [string, string[]][] = [
    ['CMD', withNode(cmd)],
    ['bin/kube-recycler.js (no src/: runs dist/)', [process.execPath, 'bin/kube-recycler.js', 'serve']],
  ]
  if (entrypoint.length > 0 && existsSync(entrypoint[0]!)) ways.push(['ENTRYPOINT + CMD', [...entrypoint, ...cmd]])
  else t.comment(`${entrypoint[0]} is not installed here: ENTRYPOINT + CMD not run (apt-get install tini)`)

  for (const [label, argv] of ways) {
    const svc = await start(argv, app, env)
    const killed = () => {
      if (svc.child.exitCode === null) svc.child.kill('SIGKILL')
    }
    t.teardown(killed)
    const res = await request(`${svc.url}/healthz`)
    t.equal(res.statusCode, 200, `${label} (${argv.join(' ')}): GET /healthz answers 200`)
    t.same(await res.body.json(), { status: 'ok' }, `${label}: {"status":"ok"}`)
    const metrics = await request(`${svc.url}/metrics`)
    t.equal(metrics.statusCode, 200, `${label}: /metrics`)
    await metrics.body.dump()
    t.match(svc.output(), /DRY-RUN: no Kubernetes cluster configured/, `${label}: no cluster here, so a loud dry-run`)
    const stopping = Date.now()
    svc.child.kill('SIGTERM')
    const code = await Promise.race([svc.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))])
    t.equal(code, 0, `${label}: SIGTERM exits 0 (in ${Date.now() - stopping} ms)`, {
      output: svc.output().slice(-2000),
    })
    t.match(svc.output(), /"signal":"SIGTERM","msg":"shutting down"/, `${label}: the service itself got SIGTERM`)
    t.match(svc.output(), /"msg":"stopped"/, `${label}: closed gracefully ("stopped")`)
    killed()
  }
})
