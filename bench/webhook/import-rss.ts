// Where the service's idle RSS goes: RSS of a fresh Node process after it
// imports one module (and a GC), for the service's big dependencies. Each
// figure is a process of its own running bench/webhook/rss-of-import.ts.

import path from 'node:path'
import { NODE, ROOT, run } from '../lib/proc.ts'
import { markdownTable, num, textTable } from '../lib/stats.ts'

const MODULES: Array<[label: string, spec: string, call?: string]> = [
  ['a .ts file importing nothing (Node 24 + its TypeScript stripper)', ''],
  ['undici', 'undici'],
  ['fastify', 'fastify'],
  ['@kubernetes/client-node', '@kubernetes/client-node'],
  ['src/app.ts (the Fastify app: plugins, routes)', '../../src/app.ts'],
  ['src/main.ts (the service; it loads the Kubernetes client only with a cluster)', '../../src/main.ts'],
  ['src/kube/client.ts imported directly (client-node whole, and our face on it)', '../../src/kube/client.ts'],
  [
    'src/kube/load.ts loadKube(): what a cluster adds as the service loads it (only the client-node parts it calls)',
    '../../src/kube/load.ts',
    'loadKube',
  ],
]

async function rssAfter(spec: string, call?: string): Promise<number> {
  const script = path.join(ROOT, 'bench/webhook/rss-of-import.ts')
  const args = spec === '' ? ['--expose-gc', script] : ['--expose-gc', script, spec, ...(call ? [call] : [])]
  const r = await run(NODE, args)
  const m = /^rss (\S+)$/m.exec(r.stdout)
  if (!m) throw new Error(`import-rss ${spec}: ${r.stderr}`)
  return Number(m[1])
}

export interface ImportRss {
  plainNode: number
  rows: Array<{ label: string; rss: number }>
}

export async function importRss(): Promise<ImportRss> {
  // Plain Node, no TypeScript at all.
  const plain = await run(NODE, [
    '--expose-gc',
    '-e',
    'globalThis.gc(); console.log(`rss ${process.memoryUsage().rss / 2 ** 20}`)',
  ])
  const plainNode = Number(/^rss (\S+)$/m.exec(plain.stdout)?.[1] ?? NaN)
  const rows: ImportRss['rows'] = []
  for (const [label, spec, call] of MODULES) rows.push({ label, rss: await rssAfter(spec, call) })
  return { plainNode, rows }
}

export function formatImportRss(r: ImportRss, markdown: boolean): string {
  const base = r.rows[0]!.rss
  const table = markdown ? markdownTable : textTable
  return table(
    ['process that imports…', 'RSS MB', 'over the empty .ts'],
    [
      ['plain node -e (no TypeScript)', num(r.plainNode), num(r.plainNode - base)],
      ...r.rows.map((x, i) => [x.label, num(x.rss), i === 0 ? '0' : `+${num(x.rss - base)}`]),
    ],
  )
}
