// The Alertmanager examples shipped with the chart (docs/alertmanager.md)
// are accepted by the real things: the plain receiver snippet by a real
// Alertmanager (tools.sh builds it), and the AlertmanagerConfig by the real
// API server with the prometheus-operator's own CRD (server-side dry-run).

import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { request } from 'undici'
import { CHART_DIR } from '../../scripts/chart.ts'
import { startAlertmanager } from '../fixtures/alertmanager.ts'
import { freshNamespace, kubectl, kubectlJson } from '../fixtures/kube-cluster.ts'
import { waitFor } from '../fixtures/wait.ts'
import { toolPath } from '../fixtures/tools.ts'

const EXAMPLES = join(CHART_DIR, 'examples')

t.test('the plain receiver snippet loads in a real Alertmanager, with its route to kube-recycler first', async (t) => {
  const am = await startAlertmanager({
    config: (dir) => {
      writeFileSync(join(dir, 'token'), 'a-test-token\n')
      return readFileSync(join(EXAMPLES, 'alertmanager-receiver.yaml'), 'utf8').replaceAll(
        '/etc/alertmanager/secrets/kube-recycler/webhook-token',
        join(dir, 'token'),
      )
    },
  })
  t.teardown(() => am.stop())
  const res = await request(`${am.url}/api/v2/status`)
  const status = (await res.body.json()) as { config: { original: string } }
  const loaded = parseYaml(status.config.original) as any
  t.equal(loaded.route.routes[0].receiver, 'kube-recycler')
  t.equal(loaded.route.routes[0].continue, true)
  t.equal(loaded.receivers.find((r: any) => r.name === 'kube-recycler').webhook_configs[0].send_resolved, true)
})

t.test('the AlertmanagerConfig and its Secret pass the real API server with the prometheus-operator CRD', async (t) => {
  const crds = toolPath('crds')
  await kubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    join(crds, 'monitoring.coreos.com_alertmanagerconfigs.yaml'),
  ])
  await waitFor(
    async () =>
      ((await kubectlJson(['get', 'crd', 'alertmanagerconfigs.monitoring.coreos.com'])).status?.conditions ?? []).some(
        (c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True',
      ),
    { timeoutMs: 60_000, description: 'the CRD established' },
  )
  const ns = await freshNamespace('am-example')
  t.teardown(ns.cleanup)
  const text = readFileSync(join(EXAMPLES, 'alertmanagerconfig.yaml'), 'utf8').replaceAll(
    'namespace: monitoring',
    `namespace: ${ns.name}`,
  )
  const out = await kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], { input: text })
  t.match(out, /secret\/kube-recycler-webhook created \(server dry run\)/)
  t.match(out, /alertmanagerconfig.monitoring.coreos.com\/kube-recycler created \(server dry run\)/)
  // A typo in a field is refused by the same check (the test can fail).
  await t.rejects(
    kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], {
      input: text.replace('sendResolved', 'sendResolve'),
    }),
  )
})
