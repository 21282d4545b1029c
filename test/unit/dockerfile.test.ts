// The Dockerfile, without a Docker engine: linted by dockerlinter (the
// hadolint rules, ported to JavaScript; ShellCheck on the RUN lines when
// `shellcheck` is installed), and its key properties asserted: multi-stage on
// Node 24, dependencies installed before the sources are copied, production
// dependencies only, a non-root numeric user, an exec-form entry that gets
// SIGTERM, and a .dockerignore that lets in exactly what the image copies.
// test/e2e/production-install.test.ts runs the entry it names.

import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, relative } from 'node:path'
import { ROOT } from '../fixtures/process.ts'

/** The version the tests run when the devDependency is not installed yet. */
const LINTER = 'dockerlinter@2.0.0'

interface Instruction {
  line: number
  cmd: string
  args: string
  flags: Record<string, string>
}
interface Stage {
  name?: string
  image: string
  instructions: Instruction[]
}

/** Enough of the Dockerfile grammar for this file: comments, `\` continuations, flags, ARG defaults. */
function parseDockerfile(text: string): { stages: Stage[]; globalArgs: Record<string, string> } {
  const instructions: Instruction[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!
    if (/^\s*(#|$)/.test(line)) continue
    const start = i + 1
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
    instructions.push({ line: start, cmd: m[1]!.toUpperCase(), args, flags })
  }
  const globalArgs: Record<string, string> = {}
  const stages: Stage[] = []
  for (const ins of instructions) {
    if (ins.cmd === 'FROM') {
      const [image, as, name] = ins.args.split(/\s+/)
      const resolved = image!.replace(/\$\{?(\w+)\}?/g, (_, v: string) => globalArgs[v] ?? '')
      stages.push({ image: resolved, instructions: [], ...(as?.toUpperCase() === 'AS' && name ? { name } : {}) })
    } else if (stages.length === 0) {
      if (ins.cmd === 'ARG') {
        const [k, v] = ins.args.split('=')
        globalArgs[k!] = v ?? ''
      }
    } else {
      stages.at(-1)!.instructions.push(ins)
    }
  }
  return { stages, globalArgs }
}

/** Docker's .dockerignore rules: last matching pattern wins; a pattern matching a parent directory matches its files. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!')
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '')
      const source = pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
      return { negate, re: new RegExp(`^${source}$`) }
    })
  return (path) => {
    const parts = path.split('/')
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    let ignored = false
    for (const r of rules) if (candidates.some((c) => r.re.test(c))) ignored = !r.negate
    return ignored
  }
}

const execForm = (args: string): string[] | undefined => {
  try {
    const v = JSON.parse(args) as unknown
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined
  } catch {
    return undefined
  }
}

const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
const { stages, globalArgs } = parseDockerfile(text)
const final = stages.at(-1)!
const deps = stages.find((s) => s.instructions.some((i) => i.cmd === 'RUN' && /\bnpm ci\b[^&]*--omit=dev/.test(i.args)))

function run(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = {
      ...process.env,
      PATH: [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter),
      npm_config_yes: 'true',
    }
    const child = spawn(cmd, args, { cwd, env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += String(d)
    })
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

interface Finding {
  lineNumber: number
  code: string
  level: string
  message: string
}

async function lint(file: string): Promise<{ findings: Finding[]; how: string }> {
  // ShellCheck writes its temp scripts into the working directory: a scratch one.
  const cwd = mkdtempSync(join(tmpdir(), 'kr-dockerlint-'))
  try {
    const shell = process.env.PATH?.split(delimiter).some((d) => existsSync(join(d, 'shellcheck'))) ? 'sh' : 'none'
    const args = ['-f', file, '-s', shell, '-j', '-e', 'info']
    const local = join(ROOT, 'node_modules', 'dockerlinter', 'bin', 'dockerfilelinter.js')
    // --ignore-scripts: its postinstall downloads ShellCheck from GitHub, which is not reachable here.
    const r = existsSync(local)
      ? await run(process.execPath, [local, ...args], cwd)
      : await run(
          'npm',
          ['exec', '--yes', '--ignore-scripts', `--package=${LINTER}`, '--', 'dockerlinter', ...args],
          cwd,
        )
    const how = `${existsSync(local) ? 'dockerlinter (devDependency)' : `npm exec ${LINTER}`}, shellcheck ${shell === 'sh' ? 'on' : 'off (not installed)'}`
    const out = r.stdout.trim()
    if (r.code !== 0 && !out.startsWith('[')) throw new Error(`dockerlinter failed (${r.code}): ${r.stderr}${r.stdout}`)
    return { findings: out === '' ? [] : (JSON.parse(out) as Finding[]), how }
  } finally {
    rmSync(cwd, { recursive: true, force: true })
  }
}

t.test('dockerlinter: no finding at any level', async (t) => {
  const { findings, how } = await lint(join(ROOT, 'Dockerfile'))
  t.comment(`linted with ${how}`)
  t.same(
    findings,
    [],
    'the Dockerfile lints clean (hadolint rules: pinned tags, apt hygiene, exec form, last USER not root, …)',
  )

  // The linter really reads a Dockerfile: a bad one is flagged with the rules we rely on.
  const dir = mkdtempSync(join(tmpdir(), 'kr-dockerfile-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(
    join(dir, 'Dockerfile'),
    'FROM node\nRUN apt-get update && apt-get install git\nCOPY . /app\nUSER root\nCMD node src/cli.ts serve\n',
  )
  const bad = (await lint(join(dir, 'Dockerfile'))).findings.map((f) => f.code)
  for (const code of ['EF0004', 'ER0002', 'ER0009', 'ER0010', 'EU0001', 'EJ0002'])
    t.ok(bad.includes(code), `control: a bad Dockerfile gets ${code}`)
})

t.test('multi-stage on a Node 24 base', async (t) => {
  t.ok(stages.length >= 2, `${stages.length} stages`)
  for (const s of stages)
    t.match(
      s.image,
      /^node:24(\.\d+)*-[a-z0-9-]+(@sha256:[0-9a-f]{64})?$/,
      `${s.name ?? 'stage'} FROM ${s.image}: Node 24, an explicit variant`,
    )
  t.match(globalArgs, { NODE_IMAGE: /^node:24/ }, 'the base image is one ARG, to pin by digest')
  t.equal(final.name, 'runtime')
})

t.test('dependencies: manifests copied first, npm ci --omit=dev', async (t) => {
  t.ok(deps, 'a stage runs npm ci --omit=dev')
  const ins = deps!.instructions
  const firstCopy = ins.findIndex((i) => i.cmd === 'COPY')
  const npmCi = ins.findIndex((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args))
  t.equal(
    ins[firstCopy]!.args.split(/\s+/).slice(0, -1).sort().join(' '),
    'package-lock.json package.json',
    'only package.json and package-lock.json are copied …',
  )
  t.ok(firstCopy < npmCi, '… before npm ci (the layer is reused until they change)')
  t.notOk(
    ins.slice(0, npmCi).some((i) => i.cmd === 'COPY' && /\bsrc\b/.test(i.args)),
    'no source copied before npm ci',
  )
  t.match(ins[npmCi]!.args, /npm ci\b[^&]*--omit=dev/, 'production dependencies only')
  t.notOk(
    final.instructions.some((i) => i.cmd === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args)),
    'the final stage installs nothing from npm',
  )
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
    devDependencies: Record<string, string>
  }
  t.ok(
    pkg.devDependencies.node,
    'the `node` npm package is a devDependency, so --omit=dev leaves it out: the base image runs the code',
  )
})

t.test('build: src/ compiled to dist/ in a stage of its own; the image holds dist/, not src/', async (t) => {
  const build = stages.find((s) => s.instructions.some((i) => i.cmd === 'RUN' && /\bnpm run build\b/.test(i.args)))
  t.ok(build, 'a stage runs npm run build')
  const ins = build!.instructions
  const npmCi = ins.findIndex((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args))
  t.ok(
    npmCi >= 0 && /--ignore-scripts/.test(ins[npmCi]!.args),
    'its npm ci runs no install script (the `node` package would fetch a second Node)',
  )
  t.ok(
    ins.findIndex((i) => i.cmd === 'COPY' && /^src\b/.test(i.args)) > npmCi,
    'the sources come after the dependencies (that layer is reused)',
  )
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  t.match(pkg.scripts.build, /tsc -p tsconfig\.build\.json/, 'npm run build is tsc with tsconfig.build.json')
  t.match(
    readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'),
    /"noEmit":\s*true/,
    'the everyday tsconfig only type-checks',
  )
  const finalCopies = final.instructions.filter((i) => i.cmd === 'COPY')
  const fromDeps = finalCopies.findIndex((i) => i.flags.from === deps!.name && /node_modules/.test(i.args))
  const dist = finalCopies.findIndex((i) => i.flags.from === build!.name && /\/dist\b/.test(i.args))
  t.ok(
    fromDeps >= 0 && dist > fromDeps,
    'the final stage takes node_modules from the deps stage, then dist/ from the build stage',
  )
  t.notOk(
    finalCopies.some((i) => !i.flags.from && /^src\b/.test(i.args)),
    'no TypeScript source in the image',
  )
  t.match(pkg.scripts.start, /\bdist\/cli\.js serve$/, 'npm start runs the same build')
  t.match(pkg.scripts.prestart, /npm run build/, 'and builds it first')
})

t.test('runtime: non-root numeric user, exec-form entry, port 8080', async (t) => {
  const users = final.instructions.filter((i) => i.cmd === 'USER')
  const user = users.at(-1)?.args ?? ''
  t.match(user, /^\d+(:\d+)?$/, `USER ${user} is numeric (runAsNonRoot can check it)`)
  t.not(Number(user.split(':')[0]), 0, 'and not root')
  const lastUser = final.instructions.lastIndexOf(users.at(-1)!)
  t.ok(
    final.instructions.slice(lastUser).some((i) => i.cmd === 'CMD'),
    'set before the entry command',
  )
  t.notOk(
    final.instructions.slice(lastUser).some((i) => i.cmd === 'RUN'),
    'nothing runs after it that would need root',
  )

  const cmd = final.instructions.filter((i) => i.cmd === 'CMD')
  const entrypoint = final.instructions.filter((i) => i.cmd === 'ENTRYPOINT')
  t.equal(cmd.length, 1, 'one CMD')
  t.same(
    execForm(cmd[0]!.args),
    ['node', '--max-semi-space-size=1', 'dist/cli.js', 'serve'],
    'CMD in exec form: node gets SIGTERM itself, no shell in between',
  )
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  t.same(
    (pkg.scripts.start ?? '').split(' '),
    execForm(cmd[0]!.args),
    'npm start runs exactly the command of the image (the same V8 flags)',
  )
  t.same(
    execForm(entrypoint.at(-1)?.args ?? ''),
    ['/usr/bin/tini', '--'],
    'tini as PID 1 forwards signals and reaps zombies (exec form)',
  )
  t.ok(
    final.instructions.some((i) => i.cmd === 'RUN' && /apt-get install\b.*\btini\b/.test(i.args)),
    'tini is installed',
  )
  t.ok(
    final.instructions.some((i) => i.cmd === 'RUN' && /apt-get install\b.*\bgit\b/.test(i.args)),
    'git is installed (git ls-remote finds the production head)',
  )
  t.ok(
    final.instructions.some((i) => i.cmd === 'EXPOSE' && /\b8080\b/.test(i.args)),
    'EXPOSE 8080',
  )
  const health = final.instructions.find((i) => i.cmd === 'HEALTHCHECK')
  if (health) t.match(health.args, /\/healthz/, 'HEALTHCHECK calls /healthz')
  t.notOk(
    stages.some((s) => s.instructions.some((i) => i.cmd === 'ADD')),
    'COPY, never ADD',
  )
  t.notOk(
    stages.some((s) =>
      s.instructions.some((i) => (i.cmd === 'ENV' || i.cmd === 'ARG') && /(TOKEN|SECRET|PASSWORD)/i.test(i.args)),
    ),
    'no secret in ENV or ARG',
  )
})

t.test('.dockerignore lets in exactly what the Dockerfile copies', async (t) => {
  const ignored = dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'))
  const sources = stages.flatMap((s) =>
    s.instructions.filter((i) => i.cmd === 'COPY' && !i.flags.from).flatMap((i) => i.args.split(/\s+/).slice(0, -1)),
  )
  t.ok(sources.length > 0)
  const files = (p: string): string[] =>
    statSync(join(ROOT, p)).isDirectory() ? readdirSync(join(ROOT, p)).flatMap((c) => files(join(p, c))) : [p]
  for (const source of sources) {
    t.ok(existsSync(join(ROOT, source)), `${source} exists`)
    const list = files(source)
    t.same(
      list.filter((f) => ignored(relative(ROOT, join(ROOT, f)))),
      [],
      `${source}: none of its ${list.length} file(s) is ignored`,
    )
  }
  for (const p of [
    'node_modules/fastify/package.json',
    '.git/HEAD',
    'test/unit/dockerfile.test.ts',
    'test/fixtures/app.ts',
    'bench/run.ts',
    'coverage/lcov.info',
    '.tap/report.json',
    'docs/deploy.md',
    'k8s/deployment.yaml',
    'scripts/demo.ts',
    'README.md',
    'Dockerfile',
    'Jenkinsfile',
    '.env',
    'id_rsa',
    '.ci/run',
  ]) {
    t.ok(ignored(p), `${p} stays out of the build context`)
  }
  // What the sources read at run time is among what is copied.
  t.ok(sources.includes('package.json'), 'package.json (src/version.ts reads the version, "type": "module")')
  t.ok(
    sources.includes('tsconfig.build.json') && sources.includes('tsconfig.json'),
    'tsconfig.build.json and the tsconfig.json it extends',
  )
  t.ok(
    sources.some((s) => s === 'config' || s === 'config/example.yaml'),
    'config/example.yaml (the default config)',
  )
})
