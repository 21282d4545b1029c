#!/usr/bin/env node
// Node.js 24 runs the TypeScript sources directly (type stripping).
import { cli } from '../src/cli.ts'

const code = await cli(process.argv.slice(2))
if (code >= 0) process.exitCode = code
