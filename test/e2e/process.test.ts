// The real process: starts on the example config within 10 s, shuts down
// gracefully on SIGTERM (in-flight requests finish), and refuses a bad
// config with every bad field named.

import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { runCli, startService } from '../fixtures/process.ts'

t.test('starts on the example config and answers /healthz within 10 s', async (t) => {
  const started = Date.now()
  const svc = await startService({ timeoutMs: 10_000 })
  t.teardown(() => svc.stop('SIGKILL'))
  const res = await request(`${svc.url}/healthz`)
  t.equal(res.statusCode, 200)
  t.same(await res.body.json(), { status: 'ok' })
  t.ok(Date.now() - started < 10_000, `answered after ${Date.now() - started} ms`)
  t.match(svc.output(), /every webhook will be answered 401/, 'warns when no webhook secret is set')
  const status = (await (await request(`${svc.url}/status`)).body.json()) as { service: { dryRun: boolean } }
  t.equal(status.service.dryRun, true)
})

t.test('SIGTERM: stops gracefully, exit code 0', async (t) => {
  const svc = await startService()
  const code = await svc.stop('SIGTERM')
  t.equal(code, 0)
  t.match(svc.output(), /"signal":"SIGTERM","msg":"shutting down"/)
  t.match(svc.output(), /"msg":"stopped"/)
})

t.test('no secret reaches the process arguments or the log', async (t) => {
  const secret = 'proc-secret-value-9f8e7d6c'
  const svc = await startService({
    env: { KUBE_RECYCLER_WEBHOOK_TOKEN: secret, KUBE_RECYCLER_RECYCLE_TOKEN: `${secret}-op` },
  })
  t.teardown(() => svc.stop('SIGKILL'))
  const res = await request(`${svc.url}/webhooks/jenkins`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ job: 'shop-integrity', build: 1, status: 'FAILURE' }),
  })
  t.equal(res.statusCode, 202)
  await res.body.dump()
  t.notOk(svc.child.spawnargs.join(' ').includes(secret))
  await svc.stop()
  t.notOk(svc.output().includes(secret), 'the token is in no log line')
})

t.test('a bad config exits 2 naming every bad field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kr-config-'))
  const file = join(dir, 'bad.yaml')
  writeFileSync(
    file,
    `
sites:
  - name: shop
    target: { kind: Pod, namespace: shop, name: web }
  - name: blog
    target: { namespace: blog, name: web }
    checks:
      - { name: home, url: 42 }
`,
  )
  const r = await runCli(['serve', '--config', file])
  t.equal(r.code, 2)
  t.match(r.stderr, `invalid configuration in ${file}`)
  t.match(r.stderr, 'sites[0].target.kind: must be one of "Deployment", "StatefulSet", "DaemonSet"')
  t.match(r.stderr, 'sites[1].checks[0].url: must be a string')
  const env = await runCli(['serve'], { KUBE_RECYCLER_CONFIG: join(dir, 'missing.yaml') })
  t.equal(env.code, 2)
  t.match(env.stderr, /missing\.yaml[\s\S]*cannot be read \(ENOENT\)/)
})
