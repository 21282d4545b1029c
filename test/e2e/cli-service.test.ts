// The CLI as a new user meets it, and `status` / `recycle` against a real
// `serve` process: without a cluster (dry-run) for the table, the JSON and
// a planned recycle; on the shared test control plane for real recycles
// followed with --wait, whose exit code says how each one went.

import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { request } from 'undici'
import { deployment } from '../fixtures/engine.ts'
import { clusterKubeconfig, freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { ROOT, runCli, startService } from '../fixtures/process.ts'
import { startSite } from '../fixtures/sites.ts'

t.setTimeout(600_000)
const SERVICE_START_MS = 60_000
const TOKEN = 'cli-e2e-operator-token-5c2e91'
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

const dir = mkdtempSync(join(tmpdir(), 'kr-cli-svc-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string): string => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

t.test(
  '--version, help, COMMAND --help; a mistake exits 2 with the usage, and serve does not start on one',
  async (t) => {
    const version = await runCli(['--version'])
    t.same([version.code, version.stdout], [0, `kube-recycler ${VERSION}\n`])
    const help = await runCli(['help'])
    t.equal(help.code, 0)
    for (const c of ['serve', 'check', 'report', 'status', 'recycle'])
      t.match(help.stdout, new RegExp(`^  ${c} `, 'm'), `help lists ${c}`)
    for (const c of ['serve', 'status', 'recycle', 'check']) {
      const a = await runCli(['help', c])
      const b = await runCli([c, '--help'])
      t.equal(a.code, 0)
      t.match(a.stdout, new RegExp(`^usage: kube-recycler ${c}`), `help ${c} is ${c}'s usage, not the top-level one`)
      t.equal(b.stdout, a.stdout, `${c} --help says the same`)
    }
    const recycleHelp = (await runCli(['help', 'recycle'])).stdout
    t.equal((await runCli(['recycle', '-h'])).stdout, recycleHelp, '-h is --help')
    for (const code of [0, 1, 2, 3, 4, 5, 6])
      t.match(recycleHelp, new RegExp(`^  ${code}  `, 'm'), `recycle's help explains exit code ${code}`)
    t.match(recycleHelp, 'KUBE_RECYCLER_RECYCLE_TOKEN')

    const nope = await runCli(['help', 'nope'])
    t.equal(nope.code, 2)
    t.match(nope.stderr, 'no command "nope"')

    // The bug: `serve --bogus` started the server. Now it exits at once, 2, with serve's usage.
    const started = Date.now()
    const bogus = await runCli(['serve', '--bogus'], { HOST: '127.0.0.1', PORT: '0' })
    t.equal(bogus.code, 2)
    t.match(bogus.stderr, /^kube-recycler serve: Unknown option '--bogus'\n\nusage: kube-recycler serve/)
    t.notMatch(bogus.stdout + bogus.stderr, /listening/, 'no server was started')
    t.ok(Date.now() - started < 30_000)
    const serveHelp = await runCli(['serve', '--help'], { HOST: '127.0.0.1', PORT: '0' })
    t.equal(serveHelp.code, 0)
    t.match(serveHelp.stdout, /^usage: kube-recycler serve/)
    t.notMatch(serveHelp.stdout, /listening/)

    for (const args of [
      ['status', '--jsno'],
      ['status', 'extra'],
      ['recycle', 'shop'],
      ['recycle'],
      ['recycle', 'shop', '--reason', 'x', '--strategy', 'reboot'],
      ['recycle', 'a', 'b', '--reason', 'x'],
    ]) {
      const r = await runCli(args)
      t.equal(r.code, 2, `${args.join(' ')}: exit 2`)
      t.match(r.stderr, new RegExp(`\\n\\nusage: kube-recycler ${args[0]}`), `${args.join(' ')}: with the usage`)
    }
    const secret = await runCli(['recycle', 'shop', '--reason', 'x', '--token', 'leaked-123'])
    t.equal(secret.code, 2)
    t.match(secret.stderr, 'secrets are never arguments: set KUBE_RECYCLER_RECYCLE_TOKEN in the environment')
    t.notOk(secret.stderr.includes('leaked-123'))
  },
)

/** A `node` older than package.json's engines on PATH (outside node_modules), if the machine has one. */
function oldNode(): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (d === '' || d.includes('node_modules')) continue
    const bin = join(d, 'node')
    const r = spawnSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' })
    if (r.status === 0 && Number(r.stdout.split('.')[0]) < 24) return bin
  }
  return undefined
}

function runBin(
  node: string,
  args: string[],
  pre: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(node, [...pre, join(ROOT, 'bin/kube-recycler.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: dir },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += String(d)
    })
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

t.test('bin/kube-recycler.js on an unsupported Node: one clear line, no stack', async (t) => {
  const fake = await runBin(
    process.execPath,
    ['--version'],
    ['--import', 'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.11.1"})'],
  )
  t.equal(fake.code, 1)
  t.match(
    fake.stderr,
    /^kube-recycler: needs Node\.js 24 or newer, this is v20\.11\.1 \(.+\); use npx kube-recycler or npm run in the project, or the container image\n$/,
  )
  t.equal(fake.stdout, '')
  const ok = await runBin(process.execPath, ['--version'])
  t.same([ok.code, ok.stdout], [0, `kube-recycler ${VERSION}\n`], 'on Node 24 the same file runs the CLI')
  const old = oldNode()
  if (!old) {
    t.comment('no Node older than 24 on this machine: checked with a faked version only')
    return
  }
  // The real thing: an old Node cannot even load a .ts file; the check runs first.
  const real = await runBin(old, ['status'])
  t.equal(real.code, 1)
  t.match(real.stderr, /^kube-recycler: needs Node\.js 24 or newer, this is v\d+\.\d+\.\d+ /)
  t.equal(real.stderr.split('\n').length, 2, 'one line')
  t.notMatch(real.stderr, /ERR_UNKNOWN_FILE_EXTENSION|\n\s+at /)
})

t.test('status and recycle --dry-run --wait against a dry-run service (no cluster)', async (t) => {
  const config = file(
    'dry.yaml',
    `
service: { statusAuth: false }
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    jenkins: { jobs: [shop-integrity] }
  - name: pool
    target: { namespace: pool, selector: { app: pool } }
    recycle: { strategy: evict }
`,
  )
  const svc = await startService({
    env: { KUBE_RECYCLER_CONFIG: config, KUBE_RECYCLER_RECYCLE_TOKEN: TOKEN },
    timeoutMs: SERVICE_START_MS,
  })
  t.teardown(() => svc.stop('SIGKILL'))
  const url = ['--url', svc.url]
  const op = { KUBE_RECYCLER_RECYCLE_TOKEN: TOKEN }

  const table = await runCli(['status', ...url])
  t.equal(table.code, 0, table.stderr)
  t.match(table.stdout, `kube-recycler ${VERSION}, replica `)
  t.match(table.stdout, /\(leader\), cluster none, ready/)
  t.match(table.stdout, /^DRY-RUN: no Kubernetes cluster configured/m)
  t.match(table.stdout, /^SITE\s+HEALTH\s+FAILURES\s+TARGET\s+LAST VERDICT\s+LAST RECYCLE$/m)
  t.match(table.stdout, /^shop\s+unknown\s+0\s+Deployment\/shop\/web\s+-\s+-$/m)
  t.match(table.stdout, /^pool\s+unknown\s+0\s+pool\/\{app=pool\}/m)
  // KUBE_RECYCLER_URL instead of --url.
  t.equal((await runCli(['status'], { KUBE_RECYCLER_URL: svc.url })).code, 0)

  const planned = await runCli(['recycle', 'shop', '--reason', 'INC-7 bad deploy', '--dry-run', '--wait', ...url], op)
  t.equal(planned.code, 0, planned.stderr)
  const id = /^recycle (rc-[\w-]+) of shop \(rollout\): planned \(dry-run\)$/m.exec(planned.stdout)?.[1]
  t.ok(id, planned.stdout)
  t.match(
    planned.stdout,
    /^ {2}\d\d:\d\d:\d\dZ {2}dry-run: planned rollout of Deployment\/shop\/web \(INC-7 bad deploy\); nothing changes in the cluster$/m,
    'the step, as it happened',
  )
  t.match(planned.stdout, new RegExp(`^${id}: planned \\(dry-run: nothing changed\\)$`, 'm'))

  const json = await runCli(['status', '--json', ...url])
  t.equal(json.code, 0)
  const fromCli = JSON.parse(json.stdout) as {
    sites: { name: string; lastRecycle: { id: string; state: string; trigger: { reason: string } } | null }[]
  }
  const direct = (await (await request(`${svc.url}/status`)).body.json()) as { sites: { name: string }[] }
  t.same(
    fromCli.sites.map((s) => s.name),
    direct.sites.map((s) => s.name),
    "--json is the service's /status",
  )
  t.match(fromCli.sites[0]!.lastRecycle, { id, state: 'planned', trigger: { reason: 'INC-7 bad deploy' } })
  const after = await runCli(['status', ...url])
  t.match(
    after.stdout,
    new RegExp(`^shop\\s+unknown\\s+0\\s+Deployment/shop/web\\s+-\\s+${id} planned \\d+s ago$`, 'm'),
  )

  // Without --wait: accepted, exit 0, and where to follow it.
  const quick = await runCli(['recycle', 'shop', '--reason', 'again', ...url], op)
  t.equal(quick.code, 0)
  t.match(quick.stdout, `follow it: GET ${svc.url}/recycles/rc-`)

  // The service's refusals: exit 1, its code and message.
  const noToken = await runCli(['recycle', 'shop', '--reason', 'x', ...url])
  t.equal(noToken.code, 1)
  t.match(
    noToken.stderr,
    'kube-recycler recycle: refused (401) KR_UNAUTHORIZED: missing credentials: send Authorization: Bearer <operator token> (KUBE_RECYCLER_RECYCLE_TOKEN is not set)',
  )
  const wrong = await runCli(['recycle', 'shop', '--reason', 'x', ...url], {
    KUBE_RECYCLER_RECYCLE_TOKEN: 'not-the-token',
  })
  t.equal(wrong.code, 1)
  t.match(wrong.stderr, 'refused (401) KR_UNAUTHORIZED: the token is not valid')
  const unknown = await runCli(['recycle', 'nope', '--reason', 'x', ...url], op)
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, 'refused (404) KR_UNKNOWN_SITE: no site named "nope"')
  const selector = await runCli(['recycle', 'pool', '--reason', 'x', '--strategy', 'rollout', ...url], op)
  t.equal(selector.code, 1)
  t.match(selector.stderr, 'refused (400) KR_INVALID_FIELD: strategy: "rollout" needs a named workload')

  // Probes and scrapes at the default level: not one line each.
  for (let i = 0; i < 3; i++) {
    for (const p of ['/healthz', '/readyz', '/metrics']) t.equal((await request(`${svc.url}${p}`)).statusCode, 200)
  }
  await new Promise((r) => setTimeout(r, 300))
  const lines = svc.output().split('\n')
  t.equal(
    lines.filter((l) => /"url":"\/(healthz|readyz|metrics)"/.test(l)).length,
    0,
    'no request line for /healthz, /readyz or /metrics at info',
  )
  const cliLines = lines.filter(
    (l) =>
      l.includes('"url":"/status?format=json"') &&
      l.includes('"msg":"incoming request"') &&
      l.includes('"level":"info"'),
  )
  t.ok(cliLines.length >= 3, `the CLI's own requests are logged at info (${cliLines.length})`)
  t.notOk(svc.output().includes(TOKEN), 'the operator token is in no log line')

  await svc.stop('SIGKILL')
  const down = await runCli(['status', ...url])
  t.equal(down.code, 1)
  t.match(
    down.stderr,
    /^kube-recycler status: cannot reach 127\.0\.0\.1:\d+: connection refused \(is the service running\?\)$/m,
  )
})

t.test('status with statusAuth: the operator token from the environment', async (t) => {
  const config = file(
    'auth.yaml',
    'service: { statusAuth: true }\nsites:\n  - name: shop\n    target: { kind: Deployment, namespace: shop, name: web }\n',
  )
  const svc = await startService({
    env: { KUBE_RECYCLER_CONFIG: config, KUBE_RECYCLER_RECYCLE_TOKEN: TOKEN },
    timeoutMs: SERVICE_START_MS,
  })
  t.teardown(() => svc.stop('SIGKILL'))
  const refused = await runCli(['status', '--url', svc.url])
  t.equal(refused.code, 1)
  t.match(refused.stderr, 'refused (401) KR_UNAUTHORIZED')
  const ok = await runCli(['status', '--url', svc.url], { KUBE_RECYCLER_RECYCLE_TOKEN: TOKEN })
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /^shop\s+unknown/m)
})

t.test('recycle --wait on the real control plane: the exit code says how it went', async (t) => {
  const healthy = await startSite()
  const broken = await startSite({ mode: 'broken' })
  t.teardown(() => Promise.all([healthy.close(), broken.close()]))
  const ns = await freshNamespace('cli-recycle')
  t.teardown(ns.cleanup)
  for (const name of ['web', 'other'])
    await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment(name, 2) })
  // Its new pods never become Ready: a rollout that outlasts a short --wait.
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('slow', 1, { neverReady: true }) })
  await waitFor(
    async () => {
      const items = (await kubectlJson(['get', 'deployments', 'web', 'other'], { namespace: ns.name })).items as {
        status?: { readyReplicas?: number }
      }[]
      return items.length === 2 && items.every((d) => d.status?.readyReplicas === 2)
    },
    { timeoutMs: 60_000, description: 'both Deployments ready' },
  )
  const verify = '{ cooldown: 10m, timeout: 60s, verify: { delay: 0s, attempts: 2, interval: 1s } }'
  const config = file(
    'cluster.yaml',
    `
service: { leaderElection: off }
sites:
  - name: shop
    target: { kind: Deployment, namespace: ${ns.name}, name: web }
    checks: [{ name: home, url: "${healthy.url('/')}", timeout: 1s }]
    recycle: ${verify}
  - name: still-broken
    target: { kind: Deployment, namespace: ${ns.name}, name: other }
    checks: [{ name: home, url: "${broken.url('/')}", timeout: 1s }]
    recycle: ${verify}
  - name: ghost
    target: { kind: Deployment, namespace: ${ns.name}, name: not-there }
    recycle: ${verify}
  - name: slow
    target: { kind: Deployment, namespace: ${ns.name}, name: slow }
    recycle: ${verify}
`,
  )
  const svc = await startService({
    env: {
      KUBE_RECYCLER_CONFIG: config,
      KUBECONFIG: clusterKubeconfig(),
      POD_NAMESPACE: ns.name,
      KUBE_RECYCLER_RECYCLE_TOKEN: TOKEN,
    },
    timeoutMs: SERVICE_START_MS,
  })
  t.teardown(() => svc.stop('SIGKILL'))
  await waitFor(async () => (await request(`${svc.url}/readyz`)).statusCode === 200, {
    timeoutMs: 30_000,
    description: 'ready (state loaded)',
  })
  const op = { KUBE_RECYCLER_RECYCLE_TOKEN: TOKEN }
  const recycle = (site: string, ...more: string[]) =>
    runCli(['recycle', site, '--reason', `cli e2e ${site}`, '--url', svc.url, ...more], op)

  const ok = await recycle('shop', '--wait', '--timeout', '2m')
  t.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`)
  t.match(ok.stdout, /^recycle rc-[\w-]+ of shop \(rollout\): pending$/m)
  t.match(ok.stdout, /^ {2}\S+ {2}recycle requested by operator: cli e2e shop$/m, 'the steps as they happen')
  t.match(ok.stdout, /^ {2}\S+ {2}verifying: probing shop again/m)
  t.match(ok.stdout, /^ {2}\S+ {2}recovered: /m)
  t.match(ok.stdout, /^rc-[\w-]+: succeeded, recovered$/m)
  const okId = /^recycle (rc-[\w-]+) /.exec(ok.stdout)![1]!
  const record = (await (await request(`${svc.url}/recycles/${okId}`)).body.json()) as { steps: { message: string }[] }
  const printed = ok.stdout
    .split('\n')
    .filter((l) => /^ {2}\d\d:\d\d:\d\dZ {2}/.test(l))
    .map((l) => l.slice(13))
  t.same(
    printed,
    record.steps.map((x) => x.message),
    'every step of the record printed once, in order',
  )
  const web = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })
  t.ok(
    web.spec.template.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'],
    'the Deployment was really restarted',
  )

  const again = await recycle('shop')
  t.equal(again.code, 4, 'skipped: the cooldown')
  t.match(again.stdout, /: skipped: cooldown: the last recycle started \d+ s ago/)

  const didNotHelp = await recycle('still-broken', '--wait', '--timeout', '2m')
  t.equal(didNotHelp.code, 5, `${didNotHelp.stdout}\n${didNotHelp.stderr}`)
  t.match(didNotHelp.stdout, /^rc-[\w-]+: succeeded, recycle-did-not-help$/m)

  const failed = await recycle('ghost', '--wait', '--timeout', '2m')
  t.equal(failed.code, 3, `${failed.stdout}\n${failed.stderr}`)
  t.match(failed.stdout, /^rc-[\w-]+: failed: /m)

  // --wait that cannot wait long enough: 6, and the recycle goes on in the service.
  const short = await recycle('slow', '--wait', '--timeout', '1500ms')
  t.equal(short.code, 6, `${short.stdout}\n${short.stderr}`)
  t.match(
    short.stderr,
    /^kube-recycler recycle: gave up waiting after 1\.5 s; rc-[\w-]+: (pending|running); it goes on in the service/m,
  )
})
