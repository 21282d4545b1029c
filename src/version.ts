// The service's version and the Node.js it needs, both read from
// package.json (declared once there). Cheap to import: the CLI prints
// `--version` without loading the service.

import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; engines: { node: string } }

export const VERSION: string = pkg.version
/** e.g. ">=24"; bin/kube-recycler.js checks it before any TypeScript is loaded. */
export const NODE_ENGINES: string = pkg.engines.node
