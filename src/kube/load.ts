// Loads the Kubernetes side (client.ts) with only the parts of
// @kubernetes/client-node it uses (api.ts). KubeConfig's module imports two
// functions from the package's generated index, and the index loads every
// API group, their Promise and Observable wrappers and every model: ~38 MB
// of RSS kept for the life of the process (docs/benchmarks.md). A resolve
// hook, narrow to that one import of that one file, hands it a module of
// just those two functions. Without the hook (tests importing client.ts
// directly) everything works the same and costs the memory.
//
// The hook must be in place before KubeConfig's module is resolved, which
// for ES modules is before anything of a static import graph runs: so the
// client is imported dynamically, after it.

import { registerHooks } from 'node:module'

const CONFIG_MODULE = '/@kubernetes/client-node/dist/config.js'
const GENERATED_INDEX = './gen/index.js'

let installed = false

/** Installs the resolve hook once per process. */
export function loadOnlyWhatIsUsed(): void {
  if (installed) return
  installed = true
  registerHooks({
    resolve(specifier, context, next) {
      if (specifier !== GENERATED_INDEX || !context.parentURL?.endsWith(CONFIG_MODULE)) return next(specifier, context)
      const at = (p: string): string => JSON.stringify(new URL(p, context.parentURL).href)
      // What config.js imports from the index, from the modules that define it.
      const source = `export { createConfiguration } from ${at('./gen/configuration.js')};\nexport { ServerConfiguration } from ${at('./gen/servers.js')};\n`
      return { url: `data:text/javascript,${encodeURIComponent(source)}`, format: 'module', shortCircuit: true }
    },
  })
}

/** The Kubernetes side, loaded lean. */
export async function loadKube(): Promise<typeof import('./client.ts')> {
  loadOnlyWhatIsUsed()
  return import('./client.ts')
}
