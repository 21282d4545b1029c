// The service's version, read from package.json (declared once there).
// Cheap to import: the CLI prints `--version` without loading the service.

import { readFileSync } from 'node:fs'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }

export const VERSION: string = pkg.version
