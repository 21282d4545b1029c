// Pod volumes as per-pod directories: emptyDir, configMap, secret,
// downwardAPI and projected (of those three). Written once when the pod
// starts (a kubelet refreshes configMap/secret volumes later; this does not).
import fs from 'node:fs'
import path from 'node:path'
import type { DataSource } from './env.ts'
import { ConfigError, fieldValue } from './env.ts'

function writeItems(
  dir: string,
  data: Record<string, string>,
  items: any[] | undefined,
  mode: number | undefined,
): void {
  const entries: Array<[string, string, number | undefined]> = items
    ? items.filter((i) => i.key in data).map((i) => [i.path, data[i.key]!, i.mode ?? mode])
    : Object.entries(data).map(([k, v]) => [k, v, mode])
  for (const [rel, value, m] of entries) {
    const file = path.join(dir, rel)
    if (!file.startsWith(dir + path.sep)) continue // no ../ out of the volume
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, value, { mode: m ?? 0o644 })
  }
}

async function fillSource(
  dir: string,
  source: any,
  pod: any,
  src: DataSource,
  podIP: string,
  hostIP: string,
  defaultMode?: number,
): Promise<void> {
  if (source.configMap || source.secret) {
    const ref = source.configMap ?? source.secret
    const name = ref.name ?? ref.secretName
    const data = source.configMap ? await src.configMap(name) : await src.secret(name)
    if (!data) {
      if (ref.optional) return
      throw new ConfigError(`${source.configMap ? 'configmap' : 'secret'} "${name}" not found`)
    }
    for (const i of ref.items ?? []) {
      if (!(i.key in data) && !ref.optional)
        throw new ConfigError(`configmap references non-existent config key: ${i.key}`)
    }
    writeItems(dir, data, ref.items, ref.defaultMode ?? defaultMode)
    return
  }
  if (source.downwardAPI) {
    const data: Record<string, string> = {}
    const items = (source.downwardAPI.items ?? []).map((i: any, n: number) => {
      const key = `k${n}`
      data[key] = i.fieldRef ? (fieldValue(pod, i.fieldRef.fieldPath, podIP, hostIP) ?? '') : ''
      return { key, path: i.path, mode: i.mode }
    })
    writeItems(dir, data, items, source.downwardAPI.defaultMode ?? defaultMode)
  }
}

export function isSupported(volume: any): boolean {
  return Boolean(
    volume.emptyDir ||
    volume.configMap ||
    volume.secret ||
    volume.downwardAPI ||
    (volume.projected &&
      (volume.projected.sources ?? []).every(
        (s: any) => s.configMap || s.secret || s.downwardAPI || s.serviceAccountToken,
      )),
  )
}

/** Creates every volume's directory under `root`; returns name -> host dir. Throws ConfigError for what a kubelet could not mount. */
export async function prepareVolumes(
  root: string,
  pod: any,
  src: DataSource,
  podIP: string,
  hostIP: string,
): Promise<Map<string, string>> {
  const dirs = new Map<string, string>()
  for (const v of pod.spec.volumes ?? []) {
    if (!isSupported(v))
      throw new ConfigError(
        `volume "${v.name}": type not supported by the pod runner (emptyDir, configMap, secret, downwardAPI, projected)`,
      )
    const dir = path.join(root, v.name)
    fs.mkdirSync(dir, { recursive: true })
    if (v.projected) {
      // serviceAccountToken sources are skipped: nothing here talks to the API as the pod.
      for (const s of v.projected.sources ?? [])
        await fillSource(dir, s, pod, src, podIP, hostIP, v.projected.defaultMode)
    } else if (!v.emptyDir) {
      await fillSource(dir, v, pod, src, podIP, hostIP)
    }
    dirs.set(v.name, dir)
  }
  return dirs
}
