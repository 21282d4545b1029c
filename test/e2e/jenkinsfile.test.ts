// The Jenkinsfile, checked three ways:
//  1. npm-groovy-lint (CodeNarc) finds nothing at any level, with the repo's
//     .groovylintrc.json (the linter's own "recommended-jenkinsfile" preset);
//     two broken copies in the same run prove the linter really looks.
//  2. Its structure: hourly cron, no concurrent builds, a timeout, every `sh`
//     a single-quoted string, no GString anywhere, the secret bound only by
//     withCredentials around the report step; a Kubernetes-plugin agent in the
//     service's own image (the one-file install's), and parameter defaults
//     that are the one-file install's Service and config.
//  3. Its exact `sh` scripts, extracted with Groovy's string rules, run as
//     Jenkins runs them (`sh -xe <script>` in the workspace, with the
//     environment Jenkins sets, the secret only inside withCredentials)
//     against the real service: the webhook accepts what they send, and
//     /status shows that job's build. Once with a `kube-recycler` shim on
//     PATH, once as in the service's image (the Install stage links its CLI,
//     no npm), once from a copy of the checkout through the Install stage.

import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { request } from 'undici'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { loadConfigFile, parseConfig } from '../../src/config/load.ts'
import { ROOT, startService, type ServiceProcess } from '../fixtures/process.ts'
import { startSite, type Site } from '../fixtures/sites.ts'

// The linter's JVM (~25 s idle, 80 s seen on a busy 2-core machine) and a real npm ci.
t.setTimeout(600_000)

const JENKINSFILE = join(ROOT, 'Jenkinsfile')
const source = readFileSync(JENKINSFILE, 'utf8')
const tmp = mkdtempSync(join(tmpdir(), 'kr-jenkinsfile-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))

// ------------------------------------------------------------ a small Groovy reader

interface Literal {
  start: number
  end: number
  quote: "'" | "'''" | '"' | '"""'
  /** The string's value under Groovy's escape rules. */
  value: string
}

/**
 * Splits Groovy source into code and string literals. `masked` is the source
 * with comments and the insides of literals blanked (same length, quotes
 * kept), so structure can be searched without matching text inside strings.
 */
function scanGroovy(src: string): { masked: string; literals: Literal[] } {
  const literals: Literal[] = []
  let masked = ''
  let i = 0
  const blank = (s: string) => s.replace(/[^\n]/g, ' ')
  while (i < src.length) {
    if (src.startsWith('//', i)) {
      const end = src.indexOf('\n', i)
      const stop = end === -1 ? src.length : end
      masked += blank(src.slice(i, stop))
      i = stop
    } else if (src.startsWith('/*', i)) {
      const stop = src.indexOf('*/', i + 2) + 2
      if (stop < 2) throw new Error('unterminated comment')
      masked += blank(src.slice(i, stop))
      i = stop
    } else if (src[i] === "'" || src[i] === '"') {
      const q = src[i]!
      const quote = (src.startsWith(q.repeat(3), i) ? q.repeat(3) : q) as Literal['quote']
      let j = i + quote.length
      let raw = ''
      for (;;) {
        if (j >= src.length) throw new Error(`unterminated string at ${i}`)
        if (src[j] === '\\') {
          raw += src.slice(j, j + 2)
          j += 2
          continue
        }
        if (src.startsWith(quote, j)) break
        if (quote.length === 1 && src[j] === '\n') throw new Error(`newline in a one-line string at ${i}`)
        raw += src[j]
        j++
      }
      const end = j + quote.length
      literals.push({ start: i, end, quote, value: unescapeGroovy(raw, quote.length === 3) })
      masked += quote + blank(raw) + quote
      i = end
    } else {
      masked += src[i]
      i++
    }
  }
  return { masked, literals }
}

function unescapeGroovy(raw: string, triple: boolean): string {
  const simple: Record<string, string> = {
    '\\': '\\',
    "'": "'",
    '"': '"',
    n: '\n',
    r: '\r',
    t: '\t',
    b: '\b',
    f: '\f',
    $: '$',
  }
  return raw.replace(/\\(u[0-9a-fA-F]{4}|\n|.)/gs, (_m, e: string) => {
    if (e === '\n') {
      if (!triple) throw new Error('a line continuation outside a triple-quoted string')
      return '' // Groovy: a backslash before a newline removes both
    }
    if (e.startsWith('u') && e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16))
    const s = simple[e]
    if (s === undefined) throw new Error(`an escape Groovy would reject: \\${e}`)
    return s
  })
}

const { masked, literals } = scanGroovy(source)

function matching(open: number): number {
  const pairs: Record<string, string> = { '{': '}', '(': ')', '[': ']' }
  const stack: string[] = []
  for (let i = open; i < masked.length; i++) {
    const c = masked[i]!
    if (c in pairs) stack.push(pairs[c]!)
    else if (c === '}' || c === ')' || c === ']') {
      if (stack.pop() !== c) throw new Error(`unbalanced ${c} at ${i}`)
      if (stack.length === 0) return i
    }
  }
  throw new Error(`no match for the bracket at ${open}`)
}

interface Range {
  start: number
  end: number
}

/** Every `name(...) { ... }` / `name { ... }` block inside `within`: the call's arguments and its body. */
function blocks(
  name: string,
  within: Range = { start: 0, end: masked.length },
): { args: Range | undefined; body: Range }[] {
  const out: { args: Range | undefined; body: Range }[] = []
  const re = new RegExp(`\\b${name}\\b`, 'g')
  re.lastIndex = within.start
  for (let m = re.exec(masked); m !== null && m.index < within.end; m = re.exec(masked)) {
    let i = m.index + name.length
    while (/\s/.test(masked[i] ?? '')) i++
    let args: Range | undefined
    if (masked[i] === '(') {
      const close = matching(i)
      args = { start: i, end: close + 1 }
      i = close + 1
      while (/\s/.test(masked[i] ?? '')) i++
    }
    if (masked[i] !== '{') continue
    const close = matching(i)
    if (close < within.end) out.push({ args, body: { start: i, end: close + 1 } })
  }
  return out
}

function one<T>(items: T[], what: string): T {
  if (items.length !== 1) throw new Error(`expected exactly one ${what}, found ${items.length}`)
  return items[0]!
}

const inside = (r: Range, pos: number): boolean => pos >= r.start && pos < r.end
const literalsIn = (r: Range): Literal[] => literals.filter((l) => l.start >= r.start && l.end <= r.end)
const code = (r: Range): string => masked.slice(r.start, r.end)

interface ShStep {
  at: number
  script: Literal
  /** The call's arguments, masked (e.g. `returnStatus: true`). */
  call: string
  stage: string | undefined
  inPost: boolean
  withSecret: boolean
}

/** Every `sh` step: `sh '…'` or `sh(… script: '…' …)`, with where it sits. */
function shSteps(): ShStep[] {
  const post = one(blocks('post'), 'post block').body
  const stages = blocks('stage').map((b) => ({ name: literalsIn(b.args!)[0]!.value, body: b.body }))
  const creds = blocks('withCredentials').map((b) => b.body)
  const steps: ShStep[] = []
  const re = /\bsh\b\s*/g
  for (let m = re.exec(masked); m !== null; m = re.exec(masked)) {
    const after = m.index + m[0].length
    let script: Literal | undefined
    let call = ''
    if (masked[after] === '(') {
      const close = matching(after)
      call = code({ start: after, end: close + 1 })
      const named = /\bscript\s*:\s*/.exec(call)
      const pos = named
        ? after + named.index + named[0].length
        : after + 1 + (/^\s*/.exec(call.slice(1))?.[0].length ?? 0)
      script = literals.find((l) => l.start === pos)
    } else {
      script = literals.find((l) => l.start === after)
    }
    if (!script) throw new Error(`an sh step at ${m.index} whose script is not a string literal`)
    steps.push({
      at: m.index,
      script,
      call,
      stage: stages.find((s) => inside(s.body, m!.index))?.name,
      inPost: inside(post, m.index),
      withSecret: creds.some((c) => inside(c, m!.index)),
    })
  }
  return steps
}

// ------------------------------------------------------------ 1. lint

/** npm-groovy-lint: NPM_GROOVY_LINT, the devDependency, or a scratch install. */
function findGroovyLint(): string | undefined {
  const candidates = [
    process.env.NPM_GROOVY_LINT,
    join(ROOT, 'node_modules/.bin/npm-groovy-lint'),
    '/tmp/groovylint/node_modules/.bin/npm-groovy-lint',
  ]
  return candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c))
}

type LintRun = { ok: true; out: string; ms: number; dir: string } | { ok: false; why: string }

/**
 * Lints copies side by side (given files in different folders, the linter
 * scans from their common ancestor: / for a temp folder and the repo): the
 * Jenkinsfile, one with a syntax error, one breaking a rule.
 */
async function lintJenkinsfile(): Promise<LintRun> {
  const lint = findGroovyLint()
  if (!lint)
    return {
      ok: false,
      why: 'npm-groovy-lint not found: add the devDependency npm-groovy-lint, or set NPM_GROOVY_LINT to its bin (it needs Java 17)',
    }
  const dir = join(tmp, 'lint')
  mkdirSync(join(dir, 'control-parse'), { recursive: true })
  mkdirSync(join(dir, 'control-rules'), { recursive: true })
  copyFileSync(JENKINSFILE, join(dir, 'Jenkinsfile'))
  writeFileSync(join(dir, 'control-parse', 'Jenkinsfile'), source.replace(/^(\s*)triggers \{/m, '$1triggers {{'))
  writeFileSync(
    join(dir, 'control-rules', 'Jenkinsfile'),
    source.replace(/^pipeline \{/m, `pipeline {\n    // ${'x'.repeat(130)}`),
  )
  const started = Date.now()
  return new Promise<LintRun>((resolve) => {
    // --noserver: no CodeNarc server left running after the test.
    const child = spawn(
      lint,
      [
        '--noserver',
        '--config',
        ROOT,
        '--output',
        'json',
        'Jenkinsfile',
        'control-parse/Jenkinsfile',
        'control-rules/Jenkinsfile',
      ],
      { cwd: dir },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += String(d)
    })
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    child.on('error', (e) => resolve({ ok: false, why: `npm-groovy-lint did not run: ${e.message}` }))
    child.on('exit', () =>
      resolve(
        stdout.trim().startsWith('{')
          ? { ok: true, out: stdout, ms: Date.now() - started, dir }
          : { ok: false, why: `npm-groovy-lint printed no JSON:\n${stdout}\n${stderr}` },
      ),
    )
  })
}

// The linter's JVM takes a while: it runs while the other tests do.
const linting = lintJenkinsfile()

// ------------------------------------------------------------ 2. structure

t.test(
  'its structure: hourly, one build at a time, bounded, single-quoted sh, the secret only in withCredentials',
  async (t) => {
    const pipeline = one(blocks('pipeline'), 'pipeline block').body
    t.equal(masked.slice(0, pipeline.start).trim(), 'pipeline', 'nothing but comments around the declarative pipeline')
    t.equal(masked.slice(pipeline.end).trim(), '')

    const triggers = one(blocks('triggers', pipeline), 'triggers block').body
    t.match(code(triggers), /^\{\s*cron\('\s+'\)\s*\}$/)
    t.same(
      literalsIn(triggers).map((l) => l.value),
      ['H * * * *'],
      "triggers { cron('H * * * *') }",
    )

    const options = code(one(blocks('options', pipeline), 'options block').body)
    t.match(options, /\bdisableConcurrentBuilds\(\)/, 'options { disableConcurrentBuilds() }')
    t.match(
      source.slice(...rangeOf(blocks('options', pipeline)[0]!.body)),
      /\btimeout\(time: 15, unit: 'MINUTES'\)/,
      "options { timeout(time: 15, unit: 'MINUTES') }",
    )
    t.match(options, /\bbuildDiscarder\(logRotator\(/, 'options { buildDiscarder(logRotator(…)) }')

    const agent = one(blocks('agent', pipeline), 'agent block').body
    const k8s = one(blocks('kubernetes', agent), 'agent { kubernetes { … } } (the Kubernetes plugin)').body
    const agentLiterals = literalsIn(k8s).map((l) => l.value)
    t.equal(agentLiterals[0], 'kube-recycler', "defaultContainer 'kube-recycler': the steps run in the service's image")
    const pod = parseYaml(agentLiterals[1]!) as {
      kind: string
      spec: {
        securityContext: Record<string, unknown>
        containers: Array<{
          name: string
          image: string
          command: string[]
          env: Array<{ name: string; value: string }>
        }>
      }
    }
    t.equal(pod.kind, 'Pod')
    const container = one(
      pod.spec.containers.filter((c) => c.name === 'kube-recycler'),
      'kube-recycler container',
    )
    const manifest = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kube-recycler.yaml'), 'utf8'))
      .map((d) => d.toJS() as any)
      .filter((o) => o !== null)
    const deployment = manifest.find((o) => o.kind === 'Deployment')
    t.equal(
      container.image,
      deployment.spec.template.spec.containers[0].image,
      'the same image the one-file install runs: nothing else to pull',
    )
    t.same(container.command, ['sleep'], 'kept up for the steps (the Kubernetes plugin execs into it)')
    const cli = one(
      container.env.filter((e) => e.name === 'KUBE_RECYCLER_CLI'),
      'KUBE_RECYCLER_CLI',
    ).value
    // The image puts the checkout's bin/ at /app/bin (WORKDIR /app, COPY bin ./bin) on a Node 24 base.
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    t.match(dockerfile, /^WORKDIR \/app$/m)
    t.match(dockerfile, /^COPY bin \.\/bin$/m)
    t.match(dockerfile, /^ARG NODE_IMAGE=node:24(\b|-)/m, 'a Node 24 image')
    t.equal(cli, '/app/bin/kube-recycler.js')
    t.equal(pod.spec.securityContext.runAsUser, 1000, "the Jenkins agent's user: both containers write the workspace")

    // The defaults work with the one-file install and the demo site, from an agent in the cluster.
    const paramLiterals = literalsIn(one(blocks('parameters', pipeline), 'parameters block').body).map((l) => l.value)
    const defaultOf = (name: string): string => paramLiterals[paramLiterals.indexOf(name) + 1]!
    t.ok(
      paramLiterals.includes('KUBE_RECYCLER_URL') && paramLiterals.includes('KUBE_RECYCLER_CONFIG'),
      'the service URL and the config path are parameters',
    )
    const service = manifest.find((o) => o.kind === 'Service')
    t.equal(
      defaultOf('KUBE_RECYCLER_URL'),
      `http://${service.metadata.name}.${service.metadata.namespace}.svc:${service.spec.ports[0].port}`,
      "the URL is the one-file install's Service",
    )
    const defaultConfig = loadConfigFile(join(ROOT, defaultOf('KUBE_RECYCLER_CONFIG')))
    const installed = parseConfig(manifest.find((o) => o.kind === 'ConfigMap').data['config.yaml'])
    t.same(defaultConfig.sites, installed.sites, 'the checks are those of the service the one-file install runs')
    t.ok(
      defaultConfig.sites.every((x) => x.checks.every((c) => new URL(c.url).hostname.endsWith('.svc.cluster.local'))),
      'probing in-cluster addresses, which the agent pod reaches',
    )

    t.same(
      literals.filter((l) => l.quote.startsWith('"')),
      [],
      'no double-quoted string, so no GString interpolation anywhere',
    )

    const steps = shSteps()
    t.ok(steps.length >= 3, `${steps.length} sh steps`)
    for (const s of steps)
      t.ok(s.script.quote === "'" || s.script.quote === "'''", `sh at ${lineOf(s.at)} is single-quoted`)

    const check = one(
      steps.filter((s) => /\bkube-recycler check\b/.test(s.script.value)),
      'check step',
    )
    t.equal(check.stage, 'Check')
    t.match(check.call, /\breturnStatus: true\b/, 'a failing check does not stop the build before the report')
    t.match(
      check.script.value,
      /kube-recycler check --config "\$KUBE_RECYCLER_CONFIG" "\$@"\s+--junit reports\/checks\.xml --json reports\/checks\.json/,
    )

    const post = one(blocks('post', pipeline), 'post block').body
    const always = one(blocks('always', post), 'post { always }').body
    t.match(
      source.slice(...rangeOf(always)),
      /\bjunit\(testResults: 'reports\/checks\.xml'/,
      'post publishes the JUnit report',
    )
    const creds = one(blocks('withCredentials', always), 'withCredentials in post { always }')
    t.same(
      literalsIn(creds.args!).map((l) => l.value),
      ['kube-recycler-webhook-secret', 'KUBE_RECYCLER_WEBHOOK_SECRET'],
    )
    t.match(code(creds.args!), /^\(\[string\(credentialsId: '\s+',\s+variable: '\s+'\)\]\)$/)
    const report = one(
      steps.filter((s) => /\bkube-recycler report\b/.test(s.script.value)),
      'report step',
    )
    t.ok(report.inPost && report.withSecret, 'the report runs in post, inside withCredentials')
    t.match(report.script.value, /kube-recycler report --url "\$KUBE_RECYCLER_URL" --results reports\/checks\.json/)
    t.same(
      steps.filter((s) => s.withSecret).map((s) => s.at),
      [report.at],
      'only the report step sees the secret',
    )

    const secretMentions = literals.filter((l) => l.value.includes('KUBE_RECYCLER_WEBHOOK_SECRET'))
    t.equal(secretMentions.length, 1, "the secret variable is named once: as withCredentials' variable")
    t.notMatch(code(pipeline), /KUBE_RECYCLER_WEBHOOK_SECRET/, 'and never as Groovy code (env.…)')
    for (const s of steps)
      t.notMatch(
        s.script.value,
        /WEBHOOK_SECRET|\bset \+x|\becho\b.*\$KUBE/,
        `sh at ${lineOf(s.at)} neither names nor echoes the secret`,
      )
  },
)

function rangeOf(r: Range): [number, number] {
  return [r.start, r.end]
}
function lineOf(pos: number): number {
  return source.slice(0, pos).split('\n').length
}

// ------------------------------------------------------------ 3. the sh steps, run

interface StepRun {
  step: ShStep
  code: number | null
  output: string
}

/** Runs a pipeline's sh steps in order, as Jenkins does: `sh -xe <script file>` in the workspace. */
async function runSteps(
  steps: ShStep[],
  workspace: string,
  env: Record<string, string>,
  secret: string,
): Promise<StepRun[]> {
  const runs: StepRun[] = []
  for (const [i, step] of steps.entries()) {
    const file = join(workspace, '..', `script-${i}.sh`)
    writeFileSync(file, step.script.value)
    const stepEnv = step.withSecret ? { ...env, KUBE_RECYCLER_WEBHOOK_SECRET: secret } : env
    const result = await new Promise<StepRun>((resolve) => {
      const child = spawn('sh', ['-xe', file], { cwd: workspace, env: stepEnv })
      let output = ''
      child.stdout.on('data', (d) => {
        output += String(d)
      })
      child.stderr.on('data', (d) => {
        output += String(d)
      })
      child.on('exit', (code) => resolve({ step, code, output }))
    })
    runs.push(result)
    // Jenkins stops at a failing step unless it asked for the status.
    if (result.code !== 0 && !/\breturnStatus: true\b/.test(step.call)) break
  }
  return runs
}

interface Status {
  sites: { name: string; health: string; lastVerdict: Record<string, unknown> | null }[]
}

let svc: ServiceProcess
let site: Site
const SECRET = 'jenkinsfile-webhook-secret-5d7e1f'
const JOB = 'kube-recycler-integrity'
const SITE_CONFIG = (s: Site) =>
  JSON.stringify(
    {
      service: { dryRun: true },
      sites: [
        {
          name: 'shop',
          target: { kind: 'Deployment', namespace: 'shop', name: 'web' },
          jenkins: { jobs: [JOB] },
          failureThreshold: 1,
          checks: [
            { name: 'home', url: s.url('/'), timeout: '2s', bodyContains: s.marker },
            { name: 'health', url: s.url('/health.json'), timeout: '2s', json: { path: '$.status', equals: 'ok' } },
          ],
        },
      ],
    },
    null,
    2,
  )

t.before(async () => {
  site = await startSite()
  const serviceConfig = join(tmp, 'service.yaml')
  writeFileSync(serviceConfig, SITE_CONFIG(site))
  // The fixture's 10 s default is short for a busy machine.
  svc = await startService({
    env: { KUBE_RECYCLER_WEBHOOK_SECRET: SECRET, KUBE_RECYCLER_CONFIG: serviceConfig },
    timeoutMs: 60_000,
  })
})
t.teardown(async () => {
  await svc?.stop('SIGKILL')
  await site?.close()
})

const status = async (): Promise<Status> => (await (await request(`${svc.url}/status`)).body.json()) as Status

/** What Jenkins puts in a build's environment (and the job's parameters). */
function jenkinsEnv(
  workspace: string,
  build: number,
  path: string,
  params: Record<string, string>,
): Record<string, string> {
  return {
    PATH: path,
    HOME: process.env.HOME ?? '/root',
    WORKSPACE: workspace,
    JOB_NAME: JOB,
    BUILD_NUMBER: String(build),
    BUILD_ID: String(build),
    BUILD_URL: `https://jenkins.example/job/${JOB}/${build}/`,
    JENKINS_URL: 'https://jenkins.example/',
    ...params,
  }
}

t.test(
  'its sh steps, run as Jenkins runs them with kube-recycler on PATH: the webhook accepts what they send',
  async (t) => {
    const workspace = join(tmp, 'shim', 'workspace')
    mkdirSync(join(workspace, 'config'), { recursive: true })
    writeFileSync(join(workspace, 'config', 'sites.yaml'), SITE_CONFIG(site))
    const bin = join(tmp, 'shim', 'bin')
    mkdirSync(bin, { recursive: true })
    writeFileSync(
      join(bin, 'kube-recycler'),
      `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin', 'kube-recycler.js')}" "$@"\n`,
    )
    chmodSync(join(bin, 'kube-recycler'), 0o755)
    const path = [bin, '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter)
    const params = { KUBE_RECYCLER_URL: svc.url, KUBE_RECYCLER_CONFIG: 'config/sites.yaml', KUBE_RECYCLER_SITE: '' }
    // The Install stage builds the CLI from a checkout: the next test runs it.
    const steps = shSteps().filter((s) => s.stage !== 'Install')

    // Build 41: the site is healthy.
    site.set('healthy')
    const healthy = await runSteps(steps, workspace, jenkinsEnv(workspace, 41, path, params), SECRET)
    t.same(
      healthy.map((r) => r.code),
      [0, 0],
      healthy.map((r) => r.output).join('\n---\n'),
    )
    t.match(healthy[0]!.output, /2 checks on 1 site: 2 passed, 0 failed/)
    t.match(
      readFileSync(join(workspace, 'reports', 'checks.xml'), 'utf8'),
      '<testsuite name="shop" tests="2" failures="0"',
    )
    t.match(healthy[1]!.output, /shop: accepted \(202\), action none, health healthy/)
    t.match((await status()).sites[0], {
      name: 'shop',
      health: 'healthy',
      lastVerdict: {
        source: 'jenkins',
        ok: true,
        key: `jenkins:${JOB}#41`,
        ref: `https://jenkins.example/job/${JOB}/41/`,
      },
    })

    // Build 42: broken, and the SITE parameter set. The check step fails (exit 1, returnStatus), the report still goes.
    site.set('broken')
    const broken = await runSteps(
      steps,
      workspace,
      jenkinsEnv(workspace, 42, path, { ...params, KUBE_RECYCLER_SITE: 'shop' }),
      SECRET,
    )
    t.same(
      broken.map((r) => r.code),
      [1, 0],
      broken.map((r) => r.output).join('\n---\n'),
    )
    t.match(
      broken[0]!.output,
      /kube-recycler check --config config\/sites\.yaml --site shop --junit reports\/checks\.xml --json reports\/checks\.json/,
      'the shell trace shows the command as run',
    )
    t.match(broken[0]!.output, /2 failed \(shop\/home, shop\/health\)/)
    t.match(broken[1]!.output, /shop: accepted \(202\), action planned, health failing/)
    t.match((await status()).sites[0], {
      health: 'failing',
      lastVerdict: { ok: false, key: `jenkins:${JOB}#42`, summary: `${JOB} #42 FAILURE: home, health failed` },
    })

    const all = [...healthy, ...broken].map((r) => r.output).join('\n')
    t.notOk(all.includes(SECRET), 'the secret is in no step output (sh -x traces every command)')
  },
)

t.test(
  "all its sh steps in the service's image: the Install stage links the image's CLI, downloads nothing",
  async (t) => {
    const workspace = join(tmp, 'image', 'workspace')
    mkdirSync(join(workspace, 'config'), { recursive: true })
    writeFileSync(join(workspace, 'config', 'integrity.yaml'), SITE_CONFIG(site))
    // The image: node and a shell on PATH, the CLI at KUBE_RECYCLER_CLI (here
    // the checkout's, as /app/bin is in the image), npm absent (the Dockerfile
    // removes it). Only these tools are on PATH: this machine has an npm in /usr/bin.
    const nodeOnly = join(tmp, 'image', 'bin')
    mkdirSync(nodeOnly, { recursive: true })
    symlinkSync(process.execPath, join(nodeOnly, 'node'))
    for (const tool of ['sh', 'mkdir', 'ln', 'rm'])
      symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(nodeOnly, tool))
    const path = nodeOnly
    t.throws(() => execFileSync('sh', ['-c', 'command -v npm'], { env: { PATH: path } }), 'no npm in the image')
    const params = { KUBE_RECYCLER_URL: svc.url, KUBE_RECYCLER_CONFIG: 'config/integrity.yaml', KUBE_RECYCLER_SITE: '' }
    site.set('healthy')
    const runs = await runSteps(
      shSteps(),
      workspace,
      { ...jenkinsEnv(workspace, 44, path, params), KUBE_RECYCLER_CLI: join(ROOT, 'bin', 'kube-recycler.js') },
      SECRET,
    )
    t.same(
      runs.map((r) => [r.step.stage ?? 'post', r.code]),
      [
        ['Install', 0],
        ['Check', 0],
        ['post', 0],
      ],
      runs.map((r) => r.output).join('\n---\n'),
    )
    t.notMatch(runs[0]!.output, /npm ci/, 'no npm ci: nothing fetched from a registry')
    t.match(runs[2]?.output, /shop: accepted \(202\), action none, health healthy/)
    t.match((await status()).sites[0], { health: 'healthy', lastVerdict: { ok: true, key: `jenkins:${JOB}#44` } })
  },
)

t.test('all its sh steps from a copy of the checkout, Install stage included (npm ci --omit=dev)', async (t) => {
  const workspace = join(tmp, 'checkout', 'workspace')
  mkdirSync(workspace, { recursive: true })
  // What Jenkins checks out: the tracked files (and new ones not ignored), no node_modules.
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f !== '' && existsSync(join(ROOT, f)))
  for (const f of files) {
    mkdirSync(dirname(join(workspace, f)), { recursive: true })
    copyFileSync(join(ROOT, f), join(workspace, f))
  }
  writeFileSync(join(workspace, 'config', 'integrity.yaml'), SITE_CONFIG(site))
  // A Node 24 agent: node (and the npm that runs on it) first on PATH; no kube-recycler there.
  const path = [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter)
  t.throws(
    () => execFileSync('sh', ['-c', 'command -v kube-recycler'], { env: { PATH: path } }),
    "kube-recycler is not on the agent's PATH",
  )
  const params = { KUBE_RECYCLER_URL: svc.url, KUBE_RECYCLER_CONFIG: 'config/integrity.yaml', KUBE_RECYCLER_SITE: '' }
  // The agent's own network setup (a registry proxy's CA, proxies) reaches npm as on a real agent.
  const network = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] =>
        /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|npm_config_registry|NPM_CONFIG_REGISTRY)$/.test(
          e[0],
        ) && e[1] !== undefined,
    ),
  )
  site.set('healthy')
  const started = Date.now()
  const runs = await runSteps(shSteps(), workspace, { ...jenkinsEnv(workspace, 43, path, params), ...network }, SECRET)
  t.comment(`the whole pipeline's sh steps took ${Date.now() - started} ms`)
  t.same(
    runs.map((r) => [r.step.stage ?? 'post', r.code]),
    [
      ['Install', 0],
      ['Check', 0],
      ['post', 0],
    ],
    runs.map((r) => r.output).join('\n---\n'),
  )
  t.match(runs[2]?.output, /shop: accepted \(202\), action none, health healthy/)
  // A passing report right after another (build 44, the test before) changes
  // nothing and is not written (one write a minute at most refreshes it), so
  // the stored verdict may still be 44's; the answer above says 43 arrived.
  t.match((await status()).sites[0], {
    health: 'healthy',
    lastVerdict: { ok: true, key: new RegExp(`^jenkins:${JOB}#4[34]@shop$`) },
  })
  t.notOk(runs.some((r) => r.output.includes(SECRET)))
})

t.test('npm-groovy-lint finds nothing in the Jenkinsfile (and does find the planted mistakes)', async (t) => {
  const run = await linting
  if (!run.ok) {
    t.fail(run.why)
    return
  }
  t.comment(`npm-groovy-lint took ${run.ms} ms`)
  const report = JSON.parse(run.out) as {
    summary: { totalFilesLinted: number }
    files: Record<string, { errors: { rule: string; severity: string; msg: string; line: number }[] }>
  }
  t.equal(report.summary.totalFilesLinted, 3)
  const errorsOf = (rel: string) => report.files[join(run.dir, rel)]?.errors
  t.same(errorsOf('Jenkinsfile'), [], 'the Jenkinsfile: no error, warning or info')
  t.match(
    errorsOf('control-parse/Jenkinsfile'),
    [{ rule: 'NglParseError', severity: 'error' }],
    'a syntax error is caught',
  )
  t.match(errorsOf('control-rules/Jenkinsfile'), [{ rule: 'LineLength' }], 'the rules run')
})
