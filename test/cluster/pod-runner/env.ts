// A container's environment as the kubelet resolves it: envFrom first, then
// env in order (later wins), each value `$(VAR)`-expanded against what is
// defined before it; fieldRef (the downward API), secretKeyRef,
// configMapKeyRef, optional references. Pure apart from the lookups it is given.

/** Kubelet's expansion (third_party/forked/golang/expansion): `$$` is `$`, `$(NAME)` the value, an unknown name stays as written. */
export function expand(input: string, vars: Record<string, string>): string {
  let out = ''
  for (let i = 0; i < input.length; i++) {
    const c = input[i]
    if (c === '$' && i + 1 < input.length) {
      const n = input[i + 1]
      if (n === '$') {
        out += '$'
        i++
        continue
      }
      if (n === '(') {
        const end = input.indexOf(')', i + 2)
        if (end > 0) {
          const name = input.slice(i + 2, end)
          out += name in vars ? vars[name] : `$(${name})`
          i = end
          continue
        }
      }
    }
    out += c
  }
  return out
}

export interface DataSource {
  /** Decoded key/value data of a ConfigMap or Secret, undefined if it does not exist. */
  configMap(name: string): Promise<Record<string, string> | undefined>
  secret(name: string): Promise<Record<string, string> | undefined>
}

/** A reference the kubelet would refuse: the container waits as CreateContainerConfigError with this message. */
export class ConfigError extends Error {}

/** Formats labels/annotations the way the downward API does (`key="value"` lines, sorted). */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n')
}

/** Value of a downward-API fieldPath for this pod; undefined if unsupported. */
export function fieldValue(pod: any, fieldPath: string, podIP: string, hostIP: string): string | undefined {
  const sub = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath)
  if (sub) return pod.metadata?.[sub[1]!]?.[sub[2]!] ?? ''
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name
    case 'metadata.namespace':
      return pod.metadata.namespace
    case 'metadata.uid':
      return pod.metadata.uid
    case 'metadata.labels':
      return formatMap(pod.metadata.labels)
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations)
    case 'spec.nodeName':
      return pod.spec.nodeName ?? ''
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? ''
    case 'status.podIP':
    case 'status.podIPs':
      return podIP
    case 'status.hostIP':
    case 'status.hostIPs':
      return hostIP
    default:
      return undefined
  }
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/

/** Resolves `container.env`/`envFrom` on top of `base`. Throws ConfigError for a missing required reference. */
export async function resolveEnv(
  pod: any,
  container: any,
  base: Record<string, string>,
  src: DataSource,
  podIP: string,
  hostIP: string,
): Promise<Record<string, string>> {
  const env: Record<string, string> = { ...base }
  const declared: Record<string, string> = {}
  const ns = pod.metadata.namespace
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef
    const kind = from.configMapRef ? 'configmap' : 'secret'
    const data = from.configMapRef ? await src.configMap(ref.name) : await src.secret(ref.name)
    if (!data) {
      if (ref.optional) continue
      throw new ConfigError(`${kind} "${ref.name}" not found`)
    }
    for (const [k, v] of Object.entries(data)) {
      const name = `${from.prefix ?? ''}${k}`
      if (ENV_NAME.test(name)) declared[name] = v
    }
  }
  Object.assign(env, declared)
  for (const e of container.env ?? []) {
    let value: string | undefined
    if (e.valueFrom) {
      const vf = e.valueFrom
      if (vf.fieldRef) {
        value = fieldValue(pod, vf.fieldRef.fieldPath, podIP, hostIP)
        if (value === undefined) throw new ConfigError(`unsupported fieldPath ${vf.fieldRef.fieldPath}`)
      } else if (vf.secretKeyRef || vf.configMapKeyRef) {
        const ref = vf.secretKeyRef ?? vf.configMapKeyRef
        const kind = vf.secretKeyRef ? 'secret' : 'configmap'
        const data = vf.secretKeyRef ? await src.secret(ref.name) : await src.configMap(ref.name)
        if (!data) {
          if (ref.optional) continue
          throw new ConfigError(`${kind} "${ref.name}" not found`)
        }
        if (!(ref.key in data)) {
          if (ref.optional) continue
          throw new ConfigError(
            `couldn't find key ${ref.key} in ${vf.secretKeyRef ? 'Secret' : 'ConfigMap'} ${ns}/${ref.name}`,
          )
        }
        value = data[ref.key]!
      } else if (vf.resourceFieldRef) {
        const r = vf.resourceFieldRef.resource as string
        const [kind, res] = r.split('.') as [string, string]
        value = String(container.resources?.[kind]?.[res] ?? '0')
      } else {
        throw new ConfigError(`unsupported valueFrom for ${e.name}`)
      }
    } else {
      value = expand(e.value ?? '', { ...env })
    }
    env[e.name] = value
  }
  return env
}
