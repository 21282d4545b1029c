#!/usr/bin/env node
// Node.js 24 runs the TypeScript sources directly (type stripping). An older
// Node cannot even load them (ERR_UNKNOWN_FILE_EXTENSION, a stack trace), so
// this file is plain JavaScript that any Node can parse, checks the version
// against package.json's `engines.node` first, and only then imports the CLI:
// src/ in a checkout (always the code you are editing), the compiled dist/
// where there is no src/ (the container image ships only the build, which
// saves the type stripper's ~22 MB of RSS).
import { existsSync, readFileSync } from 'node:fs'

const engines = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node
const needed = Number(/^>=\s*(\d+)/.exec(engines)?.[1] ?? 0)
const major = Number(process.versions.node.split('.')[0])
if (major < needed) {
  process.stderr.write(`kube-recycler: needs Node.js ${needed} or newer, this is v${process.versions.node} (${process.execPath}); use npx kube-recycler or npm run in the project, or the container image\n`)
  process.exit(1)
}
const source = new URL('../src/cli.ts', import.meta.url)
const { cli } = await import(existsSync(source) ? source.href : new URL('../dist/cli.js', import.meta.url).href)
const code = await cli(process.argv.slice(2))
if (code >= 0) process.exitCode = code
