// The Helm chart, rendered by the real helm (built by test/cluster/tools.sh):
// `helm lint --strict` is clean, the default render is what the one-file
// install holds, the rendered config passes the service's own validation,
// values.schema.json is the generated one (the service's config schema for
// `config`), and every value that changes the output changes it as claimed.
// No cluster needed: cluster.test.ts applies and installs these renders.

import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { ownRules, siteRules } from '../../src/cli/rbac.ts'
import { parseConfig } from '../../src/config/load.ts'
import {
  CHART_DIR,
  MANIFEST_PATH,
  MANIFEST_VALUES,
  SCHEMA_PATH,
  manifestText,
  schemaText,
} from '../../scripts/chart.ts'
import { toolPath } from '../fixtures/tools.ts'
import { CONFIG_MAP_NAME, FULL_VALUES, configMapOf, findObject, render, type K8sObject } from '../fixtures/chart.ts'

const helm = toolPath('helm')
const tmp = mkdtempSync(join(tmpdir(), 'kr-chart-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))

function valuesFile(name: string, text: string): string {
  const p = join(tmp, name)
  writeFileSync(p, text)
  return p
}

/** Kind/namespace/name of each object, the config ConfigMap's hash replaced by <hash>. */
const kindsOf = (objs: K8sObject[]) =>
  objs
    .map(
      (o) => `${o.kind}/${o.metadata.namespace ?? '(cluster)'}/${o.metadata.name.replace(CONFIG_MAP_NAME, '$1<hash>')}`,
    )
    .sort()
/** helm template's answer when it refuses to render. */
function refused(args: string[]): { status: number | null; stderr: string } {
  return spawnSync(helm, ['template', 'x', CHART_DIR, ...args], { encoding: 'utf8' })
}
const TRUST = ['--set', 'config.service.trustProxy={10.244.0.0/16}']

t.test('helm lint --strict is clean, for the defaults and the full values', async (t) => {
  for (const args of [[], ['-f', FULL_VALUES]]) {
    const out = execFileSync(helm, ['lint', '--strict', CHART_DIR, ...args], { encoding: 'utf8' })
    t.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/)
    t.notMatch(out, /\[(WARNING|ERROR)\]/, `no warning or error (${args.join(' ') || 'defaults'})`)
  }
})

t.test('the generated files are up to date (npm run chart:generate)', async (t) => {
  t.equal(readFileSync(SCHEMA_PATH, 'utf8'), schemaText(), 'values.schema.json')
  t.equal(readFileSync(MANIFEST_PATH, 'utf8'), manifestText(helm), 'deploy/kube-recycler.yaml is the default render')
})

t.test('values.schema.json holds the service config schema as `config`', async (t) => {
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as { properties: { config: Record<string, unknown> } }
  const { FileSchema } = await import('../../src/config/schema.ts')
  const { description: _d, ...config } = schema.properties.config
  t.same(config, JSON.parse(JSON.stringify(FileSchema)))
})

t.test('the default render', async (t) => {
  const objs = render(helm)
  t.same(
    kindsOf(objs),
    [
      'ConfigMap/kube-recycler/kube-recycler-config-<hash>',
      'Deployment/kube-recycler/kube-recycler',
      'NetworkPolicy/kube-recycler/kube-recycler',
      'PodDisruptionBudget/kube-recycler/kube-recycler',
      'Role/kube-recycler/kube-recycler',
      'Role/shop/kube-recycler-site',
      'RoleBinding/kube-recycler/kube-recycler',
      'RoleBinding/shop/kube-recycler-site',
      'Service/kube-recycler/kube-recycler',
      'ServiceAccount/kube-recycler/kube-recycler',
    ],
    'no Secret, no monitoring objects, no Namespace, Ingress or HTTPRoute by default',
  )

  const cm = configMapOf(objs, 'kube-recycler')
  const config = parseConfig(cm.data!['config.yaml']!, 'the rendered ConfigMap')
  t.equal(config.service.namespace, 'kube-recycler', 'service.namespace defaults to the release namespace')
  t.same(
    config.sites.map((s) => s.name),
    ['shop'],
  )

  const d = findObject(objs, 'Deployment', 'kube-recycler')
  const spec = d.spec as any
  t.equal(spec.replicas, 2)
  t.same(spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 })
  const pod = spec.template.spec
  const c = pod.containers[0]
  t.equal(c.image, 'ghcr.io/example/kube-recycler:0.1.0', 'the image tag is the appVersion')
  t.equal(pod.serviceAccountName, 'kube-recycler')
  t.same(
    pod.topologySpreadConstraints.map((x: any) => [
      x.topologyKey,
      x.whenUnsatisfiable,
      x.labelSelector.matchLabels['app.kubernetes.io/instance'],
      x.matchLabelKeys,
    ]),
    [
      ['kubernetes.io/hostname', 'DoNotSchedule', 'kube-recycler', ['pod-template-hash']],
      ['topology.kubernetes.io/zone', 'ScheduleAnyway', 'kube-recycler', ['pod-template-hash']],
    ],
  )
  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]))
  t.same(
    env.KUBE_RECYCLER_WEBHOOK_SECRET.valueFrom.secretKeyRef,
    { name: 'kube-recycler', key: 'webhook-secret' },
    'the HMAC key is required',
  )
  for (const k of ['KUBE_RECYCLER_WEBHOOK_TOKEN', 'KUBE_RECYCLER_RECYCLE_TOKEN', 'KUBE_RECYCLER_GIT_TOKEN'])
    t.equal(env[k].valueFrom.secretKeyRef.optional, true, `${k} is optional`)
  t.same(env.POD_NAMESPACE.valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } })
  t.equal(c.securityContext.readOnlyRootFilesystem, true)
  t.same(c.securityContext.capabilities, { drop: ['ALL'] })
  t.equal(c.readinessProbe.httpGet.path, '/readyz')
  t.equal(c.livenessProbe.httpGet.path, '/healthz')
  t.same(c.resources, { requests: { cpu: '50m', memory: '192Mi' }, limits: { cpu: '1', memory: '384Mi' } })
  t.equal(
    spec.template.metadata.annotations['checksum/config'],
    undefined,
    "no config checksum: the ConfigMap's name is its hash",
  )
  t.equal(spec.template.metadata.annotations['prometheus.io/scrape'], 'true')
  t.same(
    pod.volumes.map((v: any) => v.name),
    ['config', 'tmp'],
    'no extra volumes by default',
  )
  t.same(
    c.volumeMounts.map((m: any) => m.mountPath),
    ['/etc/kube-recycler', '/tmp'],
    'no extra mounts by default',
  )
  t.same(
    c.env.map((e: any) => e.name),
    [
      'KUBE_RECYCLER_CONFIG',
      'HOST',
      'PORT',
      'LOG_LEVEL',
      'POD_NAMESPACE',
      'POD_NAME',
      'KUBE_RECYCLER_WEBHOOK_SECRET',
      'KUBE_RECYCLER_WEBHOOK_TOKEN',
      'KUBE_RECYCLER_RECYCLE_TOKEN',
      'KUBE_RECYCLER_GIT_TOKEN',
    ],
    'no extra env by default',
  )

  const own = findObject(objs, 'Role', 'kube-recycler')
  t.same(
    (own.rules as any[]).map((r) => [r.resources[0], r.resourceNames ?? null, r.verbs]),
    [
      ['leases', ['kube-recycler'], ['get', 'update']],
      ['leases', null, ['create']],
      ['configmaps', null, ['create', 'list', 'watch']],
      ['configmaps', ['kube-recycler-heartbeat', 'kube-recycler-site-shop'], ['get', 'update']],
      ['events', null, ['create']],
    ],
    'ConfigMaps are read and written by name: only the state of the configured site and the heartbeat',
  )
  t.same(own.rules, ownRules(config), 'the own Role is what `kube-recycler rbac` makes of the config')
  const site = findObject(objs, 'Role', 'kube-recycler-site', 'shop')
  const k8sSiteRole = parseYaml(
    readFileSync(join(CHART_DIR, '..', '..', 'k8s', 'rbac', 'site-role.yaml'), 'utf8'),
  ) as K8sObject
  t.same(site.rules, k8sSiteRole.rules, 'the site Role is the one in k8s/rbac/site-role.yaml (the same demo site)')
  const binding = findObject(objs, 'RoleBinding', 'kube-recycler-site', 'shop')
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'kube-recycler', namespace: 'kube-recycler' }])

  const np = findObject(objs, 'NetworkPolicy', 'kube-recycler')
  const egress = (np.spec as any).egress as any[]
  t.same(
    egress.at(-1),
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } }],
      ports: [{ protocol: 'TCP', port: 8080 }],
    },
    'the site namespace on its pod port',
  )
})

t.test('the full set of values', async (t) => {
  const objs = render(helm, ['-f', FULL_VALUES], 'full', 'ops')
  t.same(kindsOf(objs), [
    'ConfigMap/ops/recycler-config-<hash>',
    'ConfigMap/ops/recycler-dashboard',
    'Deployment/ops/recycler',
    'FlowSchema/(cluster)/recycler-ops-lease',
    'Ingress/ops/recycler',
    'NetworkPolicy/ops/recycler',
    'PodDisruptionBudget/ops/recycler',
    'PodMonitor/ops/recycler',
    'PrometheusRule/ops/recycler',
    'Role/chart-full-extra/recycler-site',
    'Role/chart-full-pool/recycler-site',
    'Role/chart-full-shop/recycler-site',
    'Role/ops/recycler',
    'RoleBinding/chart-full-extra/recycler-site',
    'RoleBinding/chart-full-pool/recycler-site',
    'RoleBinding/chart-full-shop/recycler-site',
    'RoleBinding/ops/recycler',
    'Secret/ops/recycler',
    'Service/ops/recycler',
    'ServiceAccount/ops/recycler-sa',
    'ServiceMonitor/ops/recycler',
  ])
  const config = parseConfig(configMapOf(objs, 'recycler').data!['config.yaml']!)
  t.equal(config.service.namespace, 'ops')
  t.equal(config.service.leaderElection, 'on')
  t.equal(config.sites[1]!.recycle.strategy, 'evict')

  const secret = findObject(objs, 'Secret', 'recycler')
  t.same(Object.keys(secret.data!).sort(), ['git', 'hmac', 'operator', 'token'])
  t.equal(Buffer.from(secret.data!.hmac!, 'base64').toString(), '0123456789abcdef0123456789abcdef')

  const d = findObject(objs, 'Deployment', 'recycler')
  const spec = d.spec as any
  const pod = spec.template.spec
  const c = pod.containers[0]
  t.equal(spec.replicas, 3)
  t.equal(
    c.image,
    'registry.example.com/platform/kube-recycler@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    'a digest wins over the tag',
  )
  t.equal(c.imagePullPolicy, 'Always')
  t.same(pod.imagePullSecrets, [{ name: 'regcred' }])
  t.equal(pod.serviceAccountName, 'recycler-sa')
  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]))
  t.same(env.KUBE_RECYCLER_WEBHOOK_SECRET.valueFrom.secretKeyRef, { name: 'recycler', key: 'hmac' })
  t.equal(env.KUBE_RECYCLER_GIT_TOKEN.valueFrom.secretKeyRef.key, 'git')
  t.equal(env.LOG_LEVEL.value, 'debug')
  t.equal(env.NODE_OPTIONS.value, '--max-old-space-size=256')
  t.equal(
    env.KUBE_RECYCLER_OPERATOR_TOKENS_FILE.value,
    '/var/run/kube-recycler/operators/tokens',
    "extraEnv: the named operators' file",
  )
  t.equal(env.GIT_SSL_CAINFO.value, '/etc/ssl/private-ca/ca.crt', 'extraEnv: a private CA for git')
  t.same(
    c.env.slice(-3).map((e: any) => e.name),
    ['NODE_OPTIONS', 'KUBE_RECYCLER_OPERATOR_TOKENS_FILE', 'GIT_SSL_CAINFO'],
    "extraEnv after the chart's own",
  )
  t.same(
    pod.volumes.slice(2),
    [
      { name: 'operators', secret: { secretName: 'recycler-operators', optional: true } },
      { name: 'private-ca', configMap: { name: 'private-ca', optional: true } },
    ],
    "extraVolumes after the chart's own",
  )
  t.same(
    c.volumeMounts.slice(2),
    [
      { name: 'operators', mountPath: '/var/run/kube-recycler/operators', readOnly: true },
      { name: 'private-ca', mountPath: '/etc/ssl/private-ca', readOnly: true },
    ],
    "extraVolumeMounts after the chart's own",
  )
  t.same(config.service.trustProxy, ['10.244.0.0/16'], "the ingress controller's pods are trusted proxies")
  t.same(c.resources, { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } })
  t.equal(pod.terminationGracePeriodSeconds, 45)
  t.equal(pod.priorityClassName, 'system-cluster-critical')
  t.same(pod.nodeSelector, { 'kubernetes.io/os': 'linux' })
  t.equal(pod.tolerations[0].key, 'dedicated')
  t.ok(pod.affinity.nodeAffinity)
  t.equal(pod.topologySpreadConstraints.length, 1)
  const ann = spec.template.metadata.annotations
  t.equal(ann['example.com/team'], 'sre')
  t.match(ann['checksum/secret'], /^[a-f0-9]{64}$/, 'a created Secret rolls the pods when it changes')
  t.notOk(ann['prometheus.io/scrape'], 'no scrape annotations with metrics.podAnnotations false')
  t.equal(spec.template.metadata.labels['example.com/tier'], 'ops')

  const svc = findObject(objs, 'Service', 'recycler')
  t.equal((svc.spec as any).ports[0].port, 9090)
  t.equal(svc.metadata.annotations?.['example.com/owner'], 'platform')
  t.equal(
    findObject(objs, 'ServiceAccount', 'recycler-sa').metadata.annotations?.['eks.amazonaws.com/role-arn'],
    'arn:aws:iam::123456789012:role/recycler',
  )
  t.equal((findObject(objs, 'PodDisruptionBudget', 'recycler').spec as any).maxUnavailable, 2)

  const np = findObject(objs, 'NetworkPolicy', 'recycler').spec as any
  t.same(np.ingress[0].from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'jenkins' } } }])
  t.same(np.egress[1], { to: [{ ipBlock: { cidr: '10.0.0.1/32' } }], ports: [{ protocol: 'TCP', port: 6443 }] })
  t.same(
    np.egress[2].to.map((x: any) => x.ipBlock.cidr),
    ['192.0.2.0/24', '198.51.100.0/24'],
  )
  t.same(
    np.egress[3].to.map((x: any) => x.namespaceSelector.matchLabels['kubernetes.io/metadata.name']),
    ['chart-full-extra', 'chart-full-pool', 'chart-full-shop'],
  )
  t.same(
    np.egress[3].ports.map((p: any) => p.port),
    [8080, 8443],
  )
  t.same(np.egress[4].ports, [{ protocol: 'TCP', port: 25 }])

  const sm = findObject(objs, 'ServiceMonitor', 'recycler')
  t.equal(sm.metadata.labels?.release, 'prometheus')
  t.same((sm.spec as any).endpoints, [{ port: 'http', path: '/metrics', interval: '15s', scrapeTimeout: '5s' }])
  t.equal((findObject(objs, 'PodMonitor', 'recycler').spec as any).podMetricsEndpoints[0].interval, '20s')
  const rule = findObject(objs, 'PrometheusRule', 'recycler')
  const alerts = readFileSync(join(CHART_DIR, 'files', 'alerts.yaml'), 'utf8')
  const moved = alerts.replaceAll(
    'https://github.com/example/kube-recycler/blob/main/docs/runbook.md',
    'https://wiki.example.com/ops/kube-recycler-runbook',
  )
  t.not(moved, alerts, "the file links the project's runbook")
  t.same(
    rule.spec,
    parseYaml(moved),
    'the PrometheusRule holds files/alerts.yaml, each runbook_url on metrics.prometheusRule.runbookBaseUrl',
  )
  const urls = (rule.spec as any).groups.flatMap((g: any) => g.rules.map((r: any) => r.annotations.runbook_url))
  t.ok(
    urls.length >= 10 &&
      urls.every((u: string) =>
        /^https:\/\/wiki\.example\.com\/ops\/kube-recycler-runbook#kuberecycler[a-z]+$/.test(u),
      ),
    'every runbook_url moved, its anchor kept',
    { urls },
  )

  const ing = findObject(objs, 'Ingress', 'recycler')
  t.same(ing.metadata.annotations, { 'nginx.ingress.kubernetes.io/proxy-body-size': '256k' })
  t.equal(ing.metadata.labels?.['example.com/exposure'], 'internet')
  t.same(
    ing.spec,
    {
      ingressClassName: 'nginx',
      tls: [{ secretName: 'recycler-tls', hosts: ['recycler.example.com'] }],
      rules: [
        {
          host: 'recycler.example.com',
          http: {
            paths: [
              {
                path: '/webhooks/jenkins',
                pathType: 'Exact',
                backend: { service: { name: 'recycler', port: { name: 'http' } } },
              },
              {
                path: '/status',
                pathType: 'Exact',
                backend: { service: { name: 'recycler', port: { name: 'http' } } },
              },
            ],
          },
        },
      ],
    },
    "the paths on each host to the Service's http port, behind TLS",
  )
  const dash = findObject(objs, 'ConfigMap', 'recycler-dashboard')
  t.equal(dash.metadata.labels?.grafana_dashboard, '1')
  t.equal(dash.metadata.annotations?.grafana_folder, 'Operations')
  t.same(
    JSON.parse(dash.data!['kube-recycler.json']!),
    JSON.parse(readFileSync(join(CHART_DIR, 'files', 'dashboard.json'), 'utf8')),
  )
})

t.test('switches that remove objects', async (t) => {
  const objs = render(helm, [
    '--set',
    'rbac.create=false',
    '--set',
    'serviceAccount.create=false',
    '--set',
    'serviceAccount.name=existing-sa',
    '--set',
    'metrics.podAnnotations=false',
    '--set',
    'podDisruptionBudget.enabled=false',
    '--set',
    'networkPolicy.enabled=false',
    '--set',
    'secret.existingSecret=my-secret',
  ])
  t.same(objs.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'Service'])
  const pod = (findObject(objs, 'Deployment', 'kube-recycler').spec as any).template.spec
  t.equal(pod.serviceAccountName, 'existing-sa')
  t.notOk(
    'annotations' in (findObject(objs, 'Deployment', 'kube-recycler').spec as any).template.metadata,
    'no annotations at all: none asked for',
  )
  t.equal(
    pod.containers[0].env.find((e: any) => e.name === 'KUBE_RECYCLER_WEBHOOK_SECRET').valueFrom.secretKeyRef.name,
    'my-secret',
  )
})

t.test(
  'the config is an immutable ConfigMap named by its content: a config change is a new name the pods mount; other values are not',
  async (t) => {
    const mounted = (args: string[]) => {
      const objs = render(helm, args)
      const cm = configMapOf(objs, 'kube-recycler')
      t.equal(cm.immutable, true, "immutable: nobody, the service's token included, can change what the pods run with")
      t.match(cm.metadata.name, /^kube-recycler-config-[a-f0-9]{10}$/)
      return cm.metadata.name
    }
    const base = mounted([])
    t.not(
      mounted(['--set', 'config.defaults.failureThreshold=5']),
      base,
      'a new config: a new name, so the pod template changes and the pods roll',
    )
    t.equal(mounted(['--set', 'replicaCount=4']), base)
    t.equal(
      mounted(['--set', 'config.defaults.failureThreshold=2']),
      base,
      'the same config (the default, given again): the same name',
    )
  },
)

t.test(
  'each site Role is what `kube-recycler rbac` makes of the same config (named workloads, delete only where used)',
  async (t) => {
    const values = parseYaml(readFileSync(FULL_VALUES, 'utf8')) as { config: unknown }
    const config = parseConfig(stringifyYaml(values.config))
    const objs = render(helm, ['-f', FULL_VALUES])
    t.same(
      findObject(objs, 'Role', 'recycler').rules,
      ownRules(config),
      'the own Role: the state ConfigMaps of these sites by name',
    )
    t.same((findObject(objs, 'Role', 'recycler').rules as any[])[3].resourceNames, [
      'kube-recycler-heartbeat',
      'kube-recycler-site-pool',
      'kube-recycler-site-shop',
    ])
    const roles = objs.filter((o) => o.kind === 'Role' && o.metadata.name === 'recycler-site')
    const namespaces = [...new Set(config.sites.map((s) => s.target.namespace))]
    t.ok(namespaces.length >= 2, `the full values name ${namespaces.length} site namespaces`)
    for (const ns of namespaces) {
      const role = roles.find((r) => r.metadata.namespace === ns)
      t.ok(role, `a Role in ${ns}`)
      t.same(role!.rules, siteRules(config, ns), `the Role in ${ns} equals the generator's`)
    }
  },
)

t.test('extra site namespaces get the site Role too, each once', async (t) => {
  const objs = render(helm, ['--set', 'rbac.siteNamespaces={shop,blog}'])
  t.same(
    objs.filter((o) => o.kind === 'Role' && o.metadata.name === 'kube-recycler-site').map((o) => o.metadata.namespace),
    ['blog', 'shop'],
  )
})

t.test('the schema refuses bad values before anything renders', async (t) => {
  const rows: Array<{ name: string; values: string; error: RegExp }> = [
    {
      name: 'a site without a target namespace',
      values: 'config:\n  sites:\n    - { name: shop, target: { kind: Deployment, name: web } }\n',
      error: /\/config\/sites\/0\/target.*namespace/s,
    },
    {
      name: 'an unknown strategy',
      values:
        'config:\n  sites:\n    - { name: shop, target: { namespace: shop, name: web }, recycle: { strategy: reboot } }\n',
      error: /\/config\/sites\/0\/recycle\/strategy/,
    },
    {
      name: 'an unknown config field',
      values: 'config:\n  service: { dryrun: true }\n',
      error: /\/config\/service.*dryrun/s,
    },
    { name: 'no sites', values: 'config:\n  sites: []\n', error: /\/config\/sites.*minItems/s },
    {
      name: 'a created Secret without its HMAC key',
      values: 'secret: { create: true }\n',
      error: /\/secret\/webhookSecret/,
    },
    {
      name: 'a short HMAC key',
      values: 'secret: { create: true, webhookSecret: short }\n',
      error: /\/secret\/webhookSecret.*minLength/s,
    },
    {
      name: 'a short webhook token (the service refuses to start with one)',
      values: 'secret: { create: true, webhookSecret: 0123456789abcdef0, webhookToken: short }\n',
      error: /\/secret\/webhookToken/,
    },
    {
      name: 'a short operator token (the service refuses to start with one)',
      values: 'secret: { create: true, webhookSecret: 0123456789abcdef0, recycleToken: short }\n',
      error: /\/secret\/recycleToken/,
    },
    { name: 'a bad image digest', values: 'image: { digest: latest }\n', error: /\/image\/digest/ },
    { name: 'an unknown chart value', values: 'replicas: 3\n', error: /replicas/ },
    {
      name: 'an Ingress without a host',
      values: 'ingress: { enabled: true }\n',
      error: /\/ingress\/hosts|ingress.*hosts/s,
    },
    {
      name: 'an Ingress path of an unknown type',
      values: 'ingress: { paths: [{ path: /recycle, pathType: Regex }] }\n',
      error: /\/ingress\/paths\/0\/pathType/,
    },
    {
      name: 'an HTTPRoute without a Gateway',
      values: 'httpRoute: { enabled: true }\n',
      error: /\/httpRoute\/parentRefs|httpRoute.*parentRefs/s,
    },
    {
      name: 'an HTTPRoute parent without a name',
      values: 'httpRoute: { parentRefs: [{ namespace: gw }] }\n',
      error: /\/httpRoute\/parentRefs\/0.*name/s,
    },
    {
      name: 'an extra mount without a path',
      values: 'extraVolumeMounts: [{ name: ca }]\n',
      error: /\/extraVolumeMounts\/0.*mountPath/s,
    },
    {
      name: 'an extra volume without a name',
      values: 'extraVolumes: [{ emptyDir: {} }]\n',
      error: /\/extraVolumes\/0.*name/s,
    },
    { name: 'an extra env var without a name', values: 'extraEnv: [{ value: x }]\n', error: /\/extraEnv\/0.*name/s },
    {
      name: 'an unknown Pod Security level',
      values: 'namespace: { podSecurity: { level: strict } }\n',
      error: /\/namespace\/podSecurity\/level/,
    },
    {
      name: 'a runbook base with an anchor',
      values: 'metrics: { prometheusRule: { runbookBaseUrl: "https://wiki.example.com/x#y" } }\n',
      error: /\/metrics\/prometheusRule\/runbookBaseUrl/,
    },
  ]
  for (const row of rows) {
    const r = spawnSync(
      helm,
      ['template', 'x', CHART_DIR, '-f', valuesFile(`${row.name.replace(/\W+/g, '-')}.yaml`, row.values)],
      { encoding: 'utf8' },
    )
    t.not(r.status, 0, `${row.name}: refused`)
    t.match(r.stderr, row.error, `${row.name}: names the field`)
  }
})

t.test('namespace.create: the release namespace with Pod Security labels; off by default', async (t) => {
  t.notOk(
    render(helm).some((o) => o.kind === 'Namespace'),
    'off: helm install needs the namespace before it starts',
  )
  const on = render(
    helm,
    [
      '--set',
      'namespace.create=true',
      '--set',
      'namespace.labels.team=sre',
      '--set',
      'namespace.annotations.owner=platform',
    ],
    'kube-recycler',
    'ops',
  )
  const ns = findObject(on, 'Namespace', 'ops')
  t.match(ns.metadata.labels, {
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
    'pod-security.kubernetes.io/warn': 'restricted',
    'pod-security.kubernetes.io/audit': 'restricted',
    'app.kubernetes.io/instance': 'kube-recycler',
    team: 'sre',
  })
  t.same(ns.metadata.annotations, { owner: 'platform' })
  t.equal(
    on.findIndex((o) => o.kind === 'Namespace'),
    0,
    'first in the render, so `kubectl apply -f` makes it before what goes in it',
  )
  const baseline = findObject(
    render(helm, [
      '--set',
      'namespace.create=true',
      '--set',
      'namespace.podSecurity.level=baseline',
      '--set',
      'namespace.podSecurity.version=v1.34',
    ]),
    'Namespace',
    'kube-recycler',
  )
  t.equal(baseline.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'baseline')
  t.equal(baseline.metadata.labels?.['pod-security.kubernetes.io/audit-version'], 'v1.34')
  const manifest = render(helm, MANIFEST_VALUES)
  t.equal(
    findObject(manifest, 'Namespace', 'kube-recycler').metadata.labels?.['pod-security.kubernetes.io/enforce'],
    'restricted',
    'the one-file install makes its namespace, "restricted"',
  )
})

t.test('ingress: off by default; on, the webhook path on each host to the Service', async (t) => {
  t.notOk(
    render(helm).some((o) => o.kind === 'Ingress'),
    'off by default',
  )
  const objs = render(helm, [
    '--set',
    'ingress.enabled=true',
    '--set',
    'ingress.hosts={a.example.com,b.example.com}',
    ...TRUST,
  ])
  const ing = findObject(objs, 'Ingress', 'kube-recycler')
  t.equal((ing.spec as any).ingressClassName, undefined, "no class: the cluster's default")
  t.notOk((ing.spec as any).tls, 'no TLS unless given')
  t.same(
    (ing.spec as any).rules,
    ['a.example.com', 'b.example.com'].map((host) => ({
      host,
      http: {
        paths: [
          {
            path: '/webhooks/jenkins',
            pathType: 'Exact',
            backend: { service: { name: 'kube-recycler', port: { name: 'http' } } },
          },
        ],
      },
    })),
    'only the webhook, exactly, by default',
  )
})

t.test('httpRoute: off by default; on, the webhook match to the Service port under the given Gateway', async (t) => {
  t.notOk(
    render(helm).some((o) => o.kind === 'HTTPRoute'),
    'off by default',
  )
  const objs = render(helm, [
    '-f',
    valuesFile(
      'route.yaml',
      'httpRoute:\n  enabled: true\n  parentRefs: [{ name: public, namespace: gateway-system, sectionName: https }]\n  hostnames: [recycler.example.com]\n  labels: { gateway: public }\n  annotations: { note: x }\n',
    ),
    '--set',
    'service.port=9090',
    ...TRUST,
  ])
  const route = findObject(objs, 'HTTPRoute', 'kube-recycler')
  t.equal(route.apiVersion, 'gateway.networking.k8s.io/v1')
  t.equal(route.metadata.labels?.gateway, 'public')
  t.same(route.metadata.annotations, { note: 'x' })
  t.same(route.spec, {
    parentRefs: [{ name: 'public', namespace: 'gateway-system', sectionName: 'https' }],
    hostnames: ['recycler.example.com'],
    rules: [
      {
        matches: [{ path: { type: 'Exact', value: '/webhooks/jenkins' } }],
        backendRefs: [{ name: 'kube-recycler', port: 9090 }],
      },
    ],
  })
})

t.test('an Ingress or an HTTPRoute without config.service.trustProxy does not render, and says why', async (t) => {
  const ingress = refused(['--set', 'ingress.enabled=true', '--set', 'ingress.hosts={a.example.com}'])
  t.not(ingress.status, 0, 'ingress without trustProxy: refused')
  t.match(ingress.stderr, /ingress\.enabled: set config\.service\.trustProxy .*client address/)
  const route = refused([
    '--set',
    'httpRoute.enabled=true',
    '--set',
    'httpRoute.parentRefs[0].name=public',
    '--set',
    'config.service.trustProxy=false',
  ])
  t.not(route.status, 0, 'httpRoute with trustProxy false: refused')
  t.match(route.stderr, /httpRoute\.enabled: set config\.service\.trustProxy/)
})
