// What every CLI command gets: its arguments, the environment and the two
// output streams, in one object (tests pass their own), plus a strict option
// parser whose mistakes become a usage error (exit 2) naming the option.

import { parseArgs } from 'node:util'

export interface CliContext {
  args: string[]
  env: NodeJS.ProcessEnv
  stdout: { write(s: string): unknown }
  stderr: { write(s: string): unknown }
}

/** A mistake in how the command was called, or in a file it was given: exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>

type Values<S extends OptionSpec> = {
  [K in keyof S]?: S[K]['type'] extends 'boolean' ? boolean : S[K]['multiple'] extends true ? string[] : string
}

/** `--name value` and `--name=value`; an unknown option, a missing value or a stray argument throws UsageError. */
export function parseOptions<S extends OptionSpec>(args: string[], spec: S): Values<S> {
  try {
    const { values } = parseArgs({ args, options: spec, strict: true, allowPositionals: false })
    return values as Values<S>
  } catch (e) {
    // node's messages are good ("Unknown option '--jsn'", "Option '--site <value>' argument missing")
    // and never quote an option's value; a stray argument is not quoted back either (it may be a secret).
    const message = (e as Error).message
    if (message.startsWith('Unexpected argument')) throw new UsageError('unexpected argument: this command takes only --options')
    throw new UsageError(message)
  }
}

/** A positive integer option, or the fallback. */
export function positiveInt(value: string | undefined, name: string, fallback: number, max = 1000): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new UsageError(`${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`)
  }
  return Number(value)
}
