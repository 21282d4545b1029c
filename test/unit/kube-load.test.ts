// src/kube/load.ts and api.ts: the Kubernetes side loads only the parts of
// @kubernetes/client-node it uses (KubeConfig, Watch, ApiException). In a fresh process, every module the
// loader resolves is recorded (a resolve hook registered after load.ts's, so
// it sees each answer); the same process without load.ts's hook is the
// control, which must load the package's generated index and wrappers (or
// this test could not fail). Then the lean client is built and asked once,
// to show the lean modules are enough: against a port nothing listens on,
// it must fail as an unreachable API server, not as a missing export.

import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../fixtures/process.ts'

const NODE = process.execPath

interface Seen { index: boolean; wrappers: boolean; models: boolean; config: boolean; watch: boolean; ping: string }

function run(lean: boolean, kubeconfig: string): Promise<Seen> {
  const load = pathToFileURL(join(ROOT, 'src/kube/load.ts')).href
  const client = pathToFileURL(join(ROOT, 'src/kube/client.ts')).href
  const script = `
    import { registerHooks } from 'node:module'
    ${lean ? `const { loadOnlyWhatIsUsed } = await import(${JSON.stringify(load)}); loadOnlyWhatIsUsed()` : ''}
    const seen = []
    registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.push(r.url); return r } })
    const { createKube } = await import(${JSON.stringify(client)})
    const pino = (await import('pino')).default
    const kube = createKube({ logger: pino({ level: 'silent' }), kubeconfig: ${JSON.stringify(kubeconfig)} })
    const ping = await kube.ping().then(() => 'answered', (e) => e.code + ' ' + e.message)
    kube.close()
    const has = (end) => seen.some((u) => u.endsWith(end))
    console.log(JSON.stringify({
      index: has('/client-node/dist/gen/index.js') || has('/client-node/dist/index.js'),
      wrappers: seen.some((u) => u.includes('/client-node/dist/gen/types/')),
      models: seen.some((u) => u.includes('/client-node/dist/gen/models/')),
      config: has('/client-node/dist/config.js'), watch: has('/client-node/dist/watch.js'),
      ping,
    }))
  `
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      const line = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`exit ${code}: ${err.slice(-2000)}`))
      else resolve(JSON.parse(line) as Seen)
    })
  })
}

t.test('the Kubernetes client loads only the parts of client-node it calls', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kr-kube-load-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const kubeconfig = join(dir, 'config')
  // Port 1 on loopback: nothing listens; the client must get as far as connecting.
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: x',
    'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
    'users: [{name: u, user: {token: not-a-secret}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]', '',
  ].join('\n'))

  const control = await run(false, kubeconfig)
  t.ok(control.index && control.wrappers && control.models, 'without the hook, KubeConfig loads the generated index, every wrapper and every model (the control)')

  const lean = await run(true, kubeconfig)
  t.notOk(lean.index, 'with it, the generated index is not loaded')
  t.notOk(lean.wrappers, 'nor the Promise/Observable/ObjectParam wrappers of every API group')
  t.notOk(lean.models, 'nor the models and their serializer')
  t.ok(lean.config && lean.watch, 'KubeConfig and Watch are loaded')
  t.match(lean.ping, /^KR_KUBE GET \/version: (ECONNREFUSED|.*reached)/, 'the lean client gets as far as connecting: nothing it needs is missing')
  t.equal(lean.ping, control.ping, 'and fails exactly as the full one does')
})
