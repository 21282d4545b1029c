// Operator control with real `serve` processes on the test control plane:
// a pause that holds across a restart of every replica, resume; recycle
// windows (a request waits, acts when its window opens, not if the site
// recovered) and maintenance windows; approve, reject and expiry; named
// operator tokens; notifications to real local receivers (signed, once per
// service), while a hanging and a failing receiver delay nothing; a bad
// window named by its path at start.

import t, { type Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { deployment } from '../fixtures/engine.ts'
import { runCli } from '../fixtures/process.ts'
import { haConfig, report, startReplica, type Replica } from '../fixtures/replicas.ts'
import { verifySignature } from '../../src/triggers/signature.ts'

async function site(t: Test, name: string): Promise<string> {
  const ns = await freshNamespace(name)
  t.teardown(ns.cleanup)
  await kubectl(['apply', '-f', '-'], { namespace: ns.name, input: deployment('web', 2) })
  await waitFor(
    async () =>
      (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns.name })).status?.availableReplicas === 2,
    { timeoutMs: 60_000, description: 'web available' },
  )
  return ns.name
}

async function rollouts(ns: string): Promise<number> {
  const d = await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })
  return Number(d.metadata.annotations['deployment.kubernetes.io/revision']) - 1
}
const restartedAt = async (ns: string): Promise<string | undefined> =>
  (await kubectlJson(['get', 'deployment', 'web'], { namespace: ns })).spec.template.metadata.annotations?.[
    'kubectl.kubernetes.io/restartedAt'
  ]

async function leaderOf(replicas: Replica[]): Promise<{ leader: Replica; others: Replica[] }> {
  const found = await waitFor(
    async () => {
      const flags = await Promise.all(
        replicas.map(
          async (r) =>
            (await r.get('/status')).json?.service?.leader === true && (await r.get('/readyz')).status === 200,
        ),
      )
      const leaders = replicas.filter((_, i) => flags[i])
      return leaders.length === 1 ? leaders[0] : undefined
    },
    { timeoutMs: 20_000, description: 'exactly one leader' },
  )
  await waitFor(
    async () => (await Promise.all(replicas.map(async (r) => (await r.get('/readyz')).status === 200))).every(Boolean),
    { description: 'all ready' },
  )
  return { leader: found, others: replicas.filter((r) => r !== found) }
}

/** A webhook, retried on 503 as Jenkins retries (a replica whose API server is slow to answer is not ready). */
async function hook(r: Replica, body: unknown) {
  for (let i = 0; ; i++) {
    const x = await r.post('/webhooks/jenkins', body)
    if (x.status !== 503 || i >= 20) return x
    await sleep(500)
  }
}

const record = async (r: Replica, id: string) => (await r.get(`/recycles/${id}`)).json
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms))

function tokensFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kr-op-'))
  const path = join(dir, 'operators')
  writeFileSync(path, '# name: token\nalice: alice-token-7d0c3f5a1b9e\nbob: bob-token-2e6a8c4f0d1b\n')
  return path
}
const ALICE = 'alice-token-7d0c3f5a1b9e'
const BOB = 'bob-token-2e6a8c4f0d1b'

t.test(
  'a paused site ignores a FAILURE and stays paused across a restart of every replica; resumed, a FAILURE recycles',
  async (t) => {
    const ns = await site(t, 'op-pause')
    const config = haConfig(ns, '{ cooldown: 0s, timeout: 60s }')
    const env = { KUBE_RECYCLER_OPERATOR_TOKENS_FILE: tokensFile() }
    const replicas = [
      await startReplica(t, { name: 'replica-a', configPath: config, namespace: ns, env }),
      await startReplica(t, { name: 'replica-b', configPath: config, namespace: ns, env }),
    ]
    const [a, b] = replicas as [Replica, Replica]
    await leaderOf(replicas)
    const p = await a.post('/sites/shop/pause', { reason: 'deploy freeze' }, ALICE)
    t.equal(p.status, 200)
    t.match(p.json.paused, { by: 'alice', reason: 'deploy freeze' })
    for (const r of replicas) await r.restart('SIGTERM')
    await leaderOf(replicas)
    const f1 = await hook(b, report('FAILURE'))
    const f2 = await hook(a, report('FAILURE'))
    t.equal(f1.status, 202)
    t.equal(f2.json.action, 'none')
    t.equal(f2.json.health, 'failing', 'the verdict is taken')
    t.match(f2.json.reason, /^paused: this site is paused by alice since .* \(deploy freeze\)$/)
    for (const r of replicas) {
      const s = (await r.get('/status')).json
      t.match(
        s.sites[0].paused,
        { by: 'alice', reason: 'deploy freeze' },
        `${r.name}: /status says paused after the restarts`,
      )
      t.match((await r.get('/metrics')).text, /kube_recycler_paused\{site="shop",scope="site"\} 1/)
    }
    await sleep(2000)
    t.equal(await rollouts(ns), 0, 'no rollout while paused')
    const events = await kubectlJson(['get', 'events', '--field-selector', 'reason=RecyclesPaused'], { namespace: ns })
    t.ok(events.items.length >= 1, 'an Event on the workload says it')
    const r = await b.post('/sites/shop/resume', { reason: 'freeze over' }, BOB)
    t.match(r.json, { site: 'shop', paused: null, was: { by: 'alice' } })
    const f3 = await hook(a, report('FAILURE'))
    t.equal(f3.json.action, 'recycle-requested', 'resumed: the next FAILURE recycles')
    const done = await waitFor(
      async () => ((await record(b, f3.json.recycle.id)).state === 'succeeded' ? true : undefined),
      { timeoutMs: 60_000, description: 'the recycle succeeded' },
    )
    t.ok(done)
    t.equal(await rollouts(ns), 1)
  },
)

t.test(
  'recycle windows: a request outside waits, acts when its window opens, and not if the site recovered meanwhile; a maintenance window blocks',
  async (t) => {
    const ns = await site(t, 'op-window')
    // Open from :00 to :08 and from :30 to :38 of every minute.
    const config = haConfig(
      ns,
      '{ cooldown: 0s, timeout: 60s }',
      '    recycleWindows: [{ schedule: "*/30 * * * * *", duration: 8s }]',
    )
    const replicas = [
      await startReplica(t, { name: 'replica-a', configPath: config, namespace: ns }),
      await startReplica(t, { name: 'replica-b', configPath: config, namespace: ns }),
    ]
    const [a, b] = replicas as [Replica, Replica]
    await leaderOf(replicas)
    /** Waits until at least 12 s remain before the next window opens. */
    const outside = async () =>
      waitFor(
        () => {
          const s = new Date().getUTCSeconds() % 30
          return s >= 9 && s <= 17
        },
        { timeoutMs: 35_000, intervalMs: 100, description: 'outside a window' },
      )

    await outside()
    await hook(a, report('FAILURE'))
    const w = await hook(b, report('FAILURE'))
    t.equal(w.json.action, 'waiting')
    t.match(w.json.reason, /^outside the recycle windows: waiting for the next one/)
    const id = w.json.recycle.id
    const s = (await a.get('/status')).json.sites[0]
    t.match(s.waiting, { id, state: 'waiting' })
    t.ok(s.windows.recycle.next, '/status names the next window')
    const opens = Date.parse(s.windows.recycle.next)
    await sleep(1500)
    t.equal(await rollouts(ns), 0, 'no rollout outside the window')
    const done = await waitFor(
      async () => {
        const r = await record(b, id)
        return r.state === 'succeeded' ? r : undefined
      },
      { timeoutMs: 60_000, description: 'released and run' },
    )
    const patched = Date.parse((await restartedAt(ns))!)
    t.ok(patched >= opens && patched < opens + 8000, `patched ${patched - opens} ms after the window opened`)
    t.match(
      done.steps.map((x: any) => x.message).join('\n'),
      /a recycle window is open .* and the site still fails: released/,
    )
    t.equal(await rollouts(ns), 1)

    // Recovered before the window opens: never acts.
    const rec = await hook(a, report('SUCCESS'))
    t.equal(rec.json.reason, 'recovered', 'the site recovered (the episode with its recycle is over)')
    await outside()
    const w1 = await hook(a, report('FAILURE'))
    const w2 = await hook(b, report('FAILURE'))
    t.equal(w2.json.action, 'waiting', `${w1.json.reason} / ${w2.json.reason}`)
    await hook(a, report('SUCCESS'))
    const gone = await waitFor(
      async () => {
        const r = await record(a, w2.json.recycle.id)
        return r.state === 'expired' ? r : undefined
      },
      { timeoutMs: 10_000, description: 'ended' },
    )
    t.equal(gone.reason, 'the site recovered before a recycle window opened')
    await waitFor(async () => Date.now() > opens + 30_000 + 2000, { timeoutMs: 40_000, intervalMs: 500 })
    t.equal(await rollouts(ns), 1, 'the window opened and nothing ran')
    for (const r of replicas) await r.stop()

    // A maintenance window open now (it opened at the last whole minute and lasts an hour).
    const m = haConfig(
      ns,
      '{ cooldown: 0s, timeout: 60s }',
      '    maintenance: [{ schedule: "* * * * *", duration: 1h }]',
    )
    const c = await startReplica(t, { name: 'replica-c', configPath: m, namespace: ns })
    await leaderOf([c])
    await hook(c, report('FAILURE'))
    const blocked = await hook(c, report('FAILURE'))
    t.equal(blocked.json.action, 'none')
    t.match(blocked.json.reason, /^maintenance window: no automatic recycle until /)
    t.ok((await c.get('/status')).json.sites[0].windows.maintenance.open, '/status shows the open maintenance window')
    await sleep(1500)
    t.equal(await rollouts(ns), 1, 'no rollout inside the maintenance window')
  },
)

t.test(
  'approve mode: approved on one replica runs on the leader, by name; rejected and expired never run',
  async (t) => {
    const ns = await site(t, 'op-approve')
    const config = haConfig(ns, '{ mode: approve, approvalTimeout: 4s, cooldown: 0s, timeout: 60s }')
    const env = { KUBE_RECYCLER_OPERATOR_TOKENS_FILE: tokensFile() }
    const replicas = [
      await startReplica(t, { name: 'replica-a', configPath: config, namespace: ns, env }),
      await startReplica(t, { name: 'replica-b', configPath: config, namespace: ns, env }),
    ]
    const { leader, others } = await leaderOf(replicas)
    const other = others[0]!
    const ask = async () => {
      await hook(leader, report('FAILURE'))
      const w = await hook(other, report('FAILURE'))
      t.equal(w.json.action, 'awaiting-approval')
      return w.json.recycle.id as string
    }
    const id = await ask()
    await sleep(1500)
    t.equal(await rollouts(ns), 0, 'nothing runs before the approval')
    t.match((await leader.get('/status')).json.sites[0].waiting, { id, state: 'awaiting-approval' })
    const ok = await other.post(`/recycles/${id}/approve`, { reason: 'go' }, BOB)
    t.equal(ok.status, 200)
    const done = await waitFor(
      async () => {
        const r = await record(leader, id)
        return r.state === 'succeeded' ? r : undefined
      },
      { timeoutMs: 60_000, description: 'approved and run' },
    )
    t.match(done.approval, { decision: 'approved', by: 'bob', reason: 'go' })
    t.equal(await rollouts(ns), 1)

    await hook(leader, report('SUCCESS'))
    const id2 = await ask()
    const no = await leader.post(`/recycles/${id2}/reject`, {}, ALICE)
    t.match(no.json, { state: 'rejected', approval: { by: 'alice' } })
    await hook(leader, report('SUCCESS'))
    const id3 = await ask()
    const ex = await waitFor(
      async () => {
        const r = await record(other, id3)
        return r.state === 'expired' ? r : undefined
      },
      { timeoutMs: 15_000, description: 'expired' },
    )
    t.match(ex.reason, /not approved before/)
    t.equal((await other.post(`/recycles/${id3}/approve`, {}, BOB)).status, 409, 'too late to approve')
    t.equal(await rollouts(ns), 1, 'only the approved recycle ran')
  },
)

interface Got {
  headers: IncomingMessage['headers']
  body: string
}
async function receiver(
  t: Test,
  answer: (res: ServerResponse) => void = (s) => {
    s.end('ok')
  },
) {
  const got: Got[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => {
      body += c
    })
    req.on('end', () => {
      got.push({ headers: req.headers, body })
      answer(res)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  )
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got }
}

t.test(
  'notifications: a real receiver gets each event once per service, signed; a hanging and a 500 receiver do not delay the rollout',
  async (t) => {
    const ns = await site(t, 'op-notify')
    const good = await receiver(t)
    const hang = await receiver(t, () => {
      /* never answers */
    })
    const fail = await receiver(t, (s) => {
      s.statusCode = 500
      s.end()
    })
    const config = haConfig(
      ns,
      '{ cooldown: 0s, timeout: 60s }',
      `notifications:
  - { name: good, urlEnv: NOTIFY_GOOD, secretEnv: NOTIFY_KEY }
  - { name: hang, urlEnv: NOTIFY_HANG, secretEnv: NOTIFY_KEY, timeout: 3s }
  - { name: fail, urlEnv: NOTIFY_FAIL, secretEnv: NOTIFY_KEY }
`,
    )
    const env = {
      NOTIFY_GOOD: good.url,
      NOTIFY_HANG: hang.url,
      NOTIFY_FAIL: fail.url,
      NOTIFY_KEY: 'notify-key-9f8e7d6c5b4a',
    }
    const replicas = [
      await startReplica(t, { name: 'replica-a', configPath: config, namespace: ns, env }),
      await startReplica(t, { name: 'replica-b', configPath: config, namespace: ns, env }),
    ]
    const { leader, others } = await leaderOf(replicas)
    // The first failure reaches a replica that does not lead; the hanging and
    // failing receivers are busy with its notice when the second one arrives.
    await hook(others[0]!, report('FAILURE'))
    const t0 = Date.now()
    const w = await hook(leader, report('FAILURE'))
    t.equal(w.json.action, 'recycle-requested')
    const at = await waitFor(() => restartedAt(ns), { timeoutMs: 10_000, intervalMs: 50, description: 'patched' })
    const delay = Date.parse(at) - t0
    t.ok(delay < 1000, `first patch ${delay} ms after the verdict`)
    await waitFor(async () => ((await record(leader, w.json.recycle.id)).state === 'succeeded' ? true : undefined), {
      timeoutMs: 60_000,
    })
    await hook(others[0]!, report('SUCCESS'))
    const want = ['site-failing', 'recycle-requested', 'recycle-succeeded', 'site-recovered']
    await waitFor(() => good.got.length >= want.length, { timeoutMs: 15_000, description: 'the notices arrived' })
    await sleep(1000)
    const notices = good.got.map((g) => JSON.parse(g.body))
    t.same(
      notices.map((n) => n.event),
      want,
      'each event once for the service, not once per replica',
    )
    t.match(notices[2], { site: 'shop', recycle: { id: w.json.recycle.id, state: 'succeeded' } })
    for (const g of good.got) {
      t.same(
        verifySignature({
          secret: env.NOTIFY_KEY,
          timestamp: g.headers['x-recycler-timestamp'] as string,
          signature: g.headers['x-recycler-signature'] as string,
          body: Buffer.from(g.body),
          nowMs: Date.now(),
        }),
        { ok: true },
        `${JSON.parse(g.body).event}: valid signature`,
      )
    }
    t.ok(fail.got.length >= 4, `the failing receiver was retried (${fail.got.length} attempts)`)
    const metrics = (await Promise.all(replicas.map(async (r) => (await r.get('/metrics')).text))).join('\n')
    t.match(metrics, /kube_recycler_notifications_total\{receiver="fail",result="(retried|failed)"\} \d+/)
    for (const r of replicas)
      t.notOk(r.proc.output().includes(good.url.replace('/hook', '')), `${r.name}: no receiver URL in the logs`)
  },
)

t.test('bad windows and modes are named by their path at start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kr-op-bad-'))
  const path = join(dir, 'config.yaml')
  writeFileSync(
    path,
    `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    maintenance: [{ schedule: "0 25 * * *", duration: 1h }]
    recycleWindows: [{ schedule: "0 2 * * *", duration: forever }]
    recycle: { mode: maybe }
notifications:
  - { name: chat, format: slack }
`,
  )
  const r = await runCli(['serve'], { KUBE_RECYCLER_CONFIG: path })
  t.equal(r.code, 2)
  t.match(r.stderr, /sites\[0\]\.recycle\.mode: must be one of/)
  const r2 = await runCli(['serve'], {
    KUBE_RECYCLER_CONFIG:
      (writeFileSync(
        path,
        `
sites:
  - name: shop
    target: { kind: Deployment, namespace: shop, name: web }
    maintenance: [{ schedule: "0 25 * * *", duration: 1h }]
    recycleWindows: [{ schedule: "0 2 * * *", duration: forever }]
notifications:
  - { name: chat, format: slack }
`,
      ),
      path),
  })
  t.equal(r2.code, 2)
  t.match(r2.stderr, /sites\[0\]\.maintenance\[0\]\.schedule: not a valid cron expression: "0 25 \* \* \*"/)
  t.match(r2.stderr, /sites\[0\]\.recycleWindows\[0\]\.duration: must be a duration/)
  t.match(r2.stderr, /notifications\[0\]: give exactly one of urlEnv or urlFile/)
})
