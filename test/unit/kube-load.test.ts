// src/kube/load.ts and api.ts: the Kubernetes side loads only the parts of
// @kubernetes/client-node it uses (KubeConfig, Watch, ApiException). In a fresh process, every module the
// loader resolves is recorded (a resolve hook registered after load.ts's, so
// it sees each answer); the same process without load.ts's hook is the
// control, which must load the package's generated index and wrappers (or
// this test could not fail). Then the lean client is built and asked once,
// to show the lean modules are enough, credentials included: a local HTTPS
// API server records the Authorization header of the request, which comes
// from an exec credential plugin (a script printing an ExecCredential), or
// from an OIDC id-token.

import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from '../fixtures/process.ts'
import { makePki } from '../fixtures/tls.ts'
import { credentialFiles, recordingApiServer } from '../fixtures/kube-auth.ts'

const NODE = process.execPath

interface Seen {
  index: boolean
  wrappers: boolean
  models: boolean
  config: boolean
  watch: boolean
  ping: string
  heapMb: number
}

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
      ping, heapMb: process.memoryUsage().heapUsed / 2 ** 20,
    }))
  `
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
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
  const pki = await makePki()
  t.teardown(() => pki.cleanup())
  const api = await recordingApiServer(t, pki)
  const files = credentialFiles(t)

  const control = await run(false, files.kubeconfig(api.url, pki.caFile, files.exec()))
  t.ok(
    control.index && control.wrappers && control.models,
    'without the hook, KubeConfig loads the generated index, every wrapper and every model (the control)',
  )
  t.equal(control.ping, 'answered')
  t.equal(api.seen.at(-1)?.authorization, 'Bearer exec-token-1')

  const lean = await run(true, files.kubeconfig(api.url, pki.caFile, files.exec()))
  t.notOk(lean.index, 'with it, the generated index is not loaded')
  t.notOk(lean.wrappers, 'nor the Promise/Observable/ObjectParam wrappers of every API group')
  t.notOk(lean.models, 'nor the models and their serializer')
  t.ok(lean.config && lean.watch, 'KubeConfig and Watch are loaded')
  t.equal(lean.ping, 'answered', 'the lean client is answered: nothing it needs is missing')
  t.equal(api.seen.at(-1)?.authorization, 'Bearer exec-token-1', 'with the token its exec credential plugin printed')
  // The gain the hook is kept for, in the same two processes.
  t.comment(
    `JS heap after one request: ${control.heapMb.toFixed(1)} MB without the hook, ${lean.heapMb.toFixed(1)} MB with it`,
  )
  t.ok(control.heapMb - lean.heapMb > 10, `the hook saves ${(control.heapMb - lean.heapMb).toFixed(1)} MB of heap`)

  const oidc = files.oidc()
  const leanOidc = await run(true, files.kubeconfig(api.url, pki.caFile, oidc.user))
  t.notOk(leanOidc.index, 'with an OIDC user too, the generated index is not loaded')
  t.equal(leanOidc.ping, 'answered')
  t.equal(api.seen.at(-1)?.authorization, `Bearer ${oidc.token}`, 'with the id-token')
})
