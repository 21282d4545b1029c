// Child of import-rss.ts: imports one module (none without an argument),
// runs a GC and prints `rss <MB>`. No static imports, so the empty case is
// Node plus its TypeScript stripper and nothing else.
//
//   node --expose-gc bench/webhook/rss-of-import.ts [module]

const spec = process.argv[2]
if (spec !== undefined) await import(spec)
;(globalThis as { gc?: () => void }).gc?.()
process.stdout.write(`rss ${process.memoryUsage().rss / 2 ** 20}\n`)
