import v8 from 'node:v8'
setTimeout(() => {
  const m = process.memoryUsage()
  const f = (x) => (x / 2 ** 20).toFixed(1)
  process.stderr.write(`rss ${f(m.rss)} heapTotal ${f(m.heapTotal)} heapUsed ${f(m.heapUsed)} external ${f(m.external)} arrayBuffers ${f(m.arrayBuffers)}\n`)
  for (const s of v8.getHeapSpaceStatistics()) process.stderr.write(`  ${s.space_name.padEnd(28)} size ${f(s.space_size)} used ${f(s.space_used_size)} physical ${f(s.physical_space_size)}\n`)
  const h = v8.getHeapCodeStatistics(); process.stderr.write(`  code+metadata ${f(h.code_and_metadata_size)} bytecode ${f(h.bytecode_and_metadata_size)} external script source ${f(h.external_script_source_size)}\n`)
}, 3500).unref()
