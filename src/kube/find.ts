// Where the kubeconfig comes from, without loading the client library
// (main.ts asks this first, and loads the client only when there is one).

import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

/** Where the kubeconfig comes from, or undefined when there is none at all. */
export function findKubeconfig(opts: {
  kubeconfig?: string
  env?: NodeJS.ProcessEnv
}): { kind: 'file'; path: string } | { kind: 'in-cluster' } | undefined {
  const env = opts.env ?? process.env
  if (opts.kubeconfig) return { kind: 'file', path: opts.kubeconfig }
  if (env.KUBECONFIG) return { kind: 'file', path: env.KUBECONFIG.split(':')[0]! }
  const home = join(env.HOME ?? homedir(), '.kube', 'config')
  if (existsSync(home)) return { kind: 'file', path: home }
  if (env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token'))
    return { kind: 'in-cluster' }
  return undefined
}
