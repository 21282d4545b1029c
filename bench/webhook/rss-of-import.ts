// Child of import-rss.ts: imports one module (none without an argument),
// runs a GC and prints `rss <MB>`. No static imports, so the empty case is
// Node plus its TypeScript stripper and nothing else.
//
//   node --expose-gc bench/webhook/rss-of-import.ts [module [exported function to await]]

const spec = process.argv[2]
const call = process.argv[3]
if (spec !== undefined) {
  const m = (await import(spec)) as Record<string, () => Promise<unknown>>
  if (call !== undefined) await m[call]!()
}
;(globalThis as { gc?: () => void }).gc?.()
process.stdout.write(`rss ${process.memoryUsage().rss / 2 ** 20}\n`)
