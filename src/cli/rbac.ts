// `kube-recycler rbac`: the least-privilege Roles for a config, printed as
// YAML for `kubectl apply -f -`: the service's own-namespace Role, then one
// Role and RoleBinding per site namespace. The config is the source of truth
// for what the service may touch.
//
// In its own namespace the service writes only the state ConfigMaps of the
// configured sites (`resourceNames`), so its token cannot rewrite the config
// ConfigMap beside them (a new git.repo would take the git token to another
// host). `create`, `list` and `watch` cannot be limited by name; no `patch`,
// no `delete`, so an immutable config cannot be replaced either.
//
// In a site namespace:
// - get/watch/patch only on the workloads the sites name (`resourceNames`;
//   the rollout watch uses a metadata.name field selector, which the
//   authorizer matches against resourceNames);
// - pod `delete` only in namespaces where a site uses the `delete` strategy;
// - read-only ReplicaSets and ControllerRevisions (a pod's owner, rollout
//   history), pods get/list, evictions and Events: names the config cannot
//   know, so these are not limited by name.
// A selector target's owner is found at run time, so its namespace gets
// get/watch/patch on every Deployment, StatefulSet and DaemonSet: name the
// workload in `target` to narrow it.

import { stringify } from 'yaml'

import type { Config, WorkloadKind } from '../config/types.ts'
import { objectName } from '../state/store.ts'
import { loadCommandConfig, parseOptions, UsageError, type CliContext } from './args.ts'
import { HEARTBEAT_OBJECT } from '../state/heartbeat.ts'

export const RBAC_USAGE = `usage: kube-recycler rbac --config FILE [--service-namespace NS]

Prints the Role and RoleBinding kube-recycler needs in its own namespace
(the Lease, Events, and writes to the state ConfigMaps of these sites only),
then, for every namespace the config's sites live in, the ones it needs there
and nothing more: get/watch/patch on the named workloads only, pod delete only
where a site uses the delete strategy. Re-run it when the sites change.
Apply with: kube-recycler rbac --config config.yaml | kubectl apply -f -

  --config FILE              the service's YAML config (default: KUBE_RECYCLER_CONFIG)
  --service-namespace NS     where kube-recycler's ServiceAccount lives (default: service.namespace)

exit status: 0 printed, 2 bad arguments or config
`

const RESOURCE: Record<WorkloadKind, string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
}
export const SITE_ROLE_NAME = 'kube-recycler-site'
/** The service's own Role, RoleBinding and ServiceAccount; also the Lease's name (src/main.ts). */
export const SERVICE_NAME = 'kube-recycler'

export interface PolicyRule {
  apiGroups: string[]
  resources: string[]
  verbs: string[]
  resourceNames?: string[]
}
export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace: string; labels: Record<string, string> }
  [k: string]: unknown
}

/** The rules kube-recycler needs in one namespace, for the sites there. Pure, sorted, stable. */
export function siteRules(config: Config, namespace: string): PolicyRule[] {
  const sites = config.sites.filter((s) => s.target.namespace === namespace)
  const names: Record<string, Set<string>> = { deployments: new Set(), statefulsets: new Set(), daemonsets: new Set() }
  let anyOwner = false
  for (const s of sites) {
    if ('name' in s.target) names[RESOURCE[s.target.kind]]!.add(s.target.name)
    else anyOwner = true
  }
  const rules: PolicyRule[] = []
  if (anyOwner) {
    rules.push({
      apiGroups: ['apps'],
      resources: ['daemonsets', 'deployments', 'statefulsets'],
      verbs: ['get', 'patch', 'watch'],
    })
  } else {
    for (const resource of ['daemonsets', 'deployments', 'statefulsets']) {
      const n = [...names[resource]!].sort()
      if (n.length > 0)
        rules.push({ apiGroups: ['apps'], resources: [resource], resourceNames: n, verbs: ['get', 'patch', 'watch'] })
    }
  }
  rules.push(
    { apiGroups: ['apps'], resources: ['controllerrevisions', 'replicasets'], verbs: ['get', 'list'] },
    {
      apiGroups: [''],
      resources: ['pods'],
      verbs: sites.some((s) => s.recycle.strategy === 'delete' || s.recycle.ladder.includes('delete'))
        ? ['delete', 'get', 'list']
        : ['get', 'list'],
    },
    { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  )
  return rules
}

/**
 * The rules kube-recycler needs in its own namespace. Pure, sorted, stable.
 * The Lease is read and renewed by name; the state ConfigMaps
 * (`kube-recycler-site-<site>`) are read and replaced by name, so no other
 * ConfigMap there (its config above all) can be changed with the token.
 * The store lists and watches them by label, and creates a site's on its
 * first write: those verbs cannot be limited by name.
 */
export function ownRules(config: Config): PolicyRule[] {
  // The sites' states and the leader's heartbeat (state/heartbeat.ts).
  const state = [...new Set([...config.sites.map((s) => objectName(s.name)), HEARTBEAT_OBJECT])].sort()
  return [
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: [SERVICE_NAME],
      verbs: ['get', 'update'],
    },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'list', 'watch'] },
    { apiGroups: [''], resources: ['configmaps'], resourceNames: state, verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  ]
}

const LABELS = { 'app.kubernetes.io/name': 'kube-recycler' }

function roleAndBinding(name: string, namespace: string, rules: PolicyRule[], serviceNamespace: string): K8sObject[] {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace, labels: LABELS }, rules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace, labels: LABELS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: SERVICE_NAME, namespace: serviceNamespace }],
    },
  ]
}

/** The own-namespace Role + RoleBinding. */
export function ownRbac(config: Config, serviceNamespace: string): K8sObject[] {
  return roleAndBinding(SERVICE_NAME, serviceNamespace, ownRules(config), serviceNamespace)
}

/** Role + RoleBinding per site namespace, in the order the namespaces first appear. */
export function siteRbac(config: Config, serviceNamespace: string): K8sObject[] {
  const namespaces = [...new Set(config.sites.map((s) => s.target.namespace))]
  return namespaces.flatMap((namespace) =>
    roleAndBinding(SITE_ROLE_NAME, namespace, siteRules(config, namespace), serviceNamespace),
  )
}

const OPTIONS = {
  config: { type: 'string' },
  'service-namespace': { type: 'string' },
  help: { type: 'boolean' },
} as const

export async function rbacCommand(ctx: CliContext): Promise<number> {
  const o = parseOptions(ctx.args, OPTIONS)
  if (o.help) {
    ctx.stdout.write(RBAC_USAGE)
    return 0
  }
  const configPath = o.config ?? (ctx.env.KUBE_RECYCLER_CONFIG || undefined)
  if (configPath === undefined) throw new UsageError('--config FILE is required (or set KUBE_RECYCLER_CONFIG)')
  const config = loadCommandConfig(configPath, ctx)
  if (!config) return 2
  const serviceNamespace = o['service-namespace'] ?? config.service.namespace
  const header = `# Generated by kube-recycler rbac from ${configPath}: re-run it when the sites change.\n`
  const objects = [...ownRbac(config, serviceNamespace), ...siteRbac(config, serviceNamespace)]
  ctx.stdout.write(header + objects.map((obj) => stringify(obj)).join('---\n'))
  return 0
}
