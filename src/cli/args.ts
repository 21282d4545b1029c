// What every CLI command gets: its arguments, the environment and the two
// output streams, in one object (tests pass their own), plus a strict option
// parser whose mistakes become a usage error (exit 2) naming the option.

import { parseArgs } from 'node:util'
import { parseDuration } from '../config/duration.ts'
import { ConfigError, loadConfigFile } from '../config/load.ts'
import type { Config } from '../config/types.ts'

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

/** The service answered with an error, or could not be reached: exit 1 with this line. */
export class ServiceError extends Error {
  /** The HTTP status, when there was an answer. */
  readonly status: number | undefined
  /** The service's error code (src/errors.ts), when it sent one. */
  readonly code: string | undefined
  constructor(message: string, opts: { status?: number; code?: string } = {}) {
    super(message)
    this.name = 'ServiceError'
    this.status = opts.status
    this.code = opts.code
  }
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>

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
    if (message.startsWith('Unexpected argument'))
      throw new UsageError('unexpected argument: this command takes only --options')
    throw new UsageError(message)
  }
}

/**
 * Options and up to `max` positional arguments (`recycle SITE --reason …`);
 * anything else is a usage error, as with parseOptions.
 */
export function parseCommand<S extends OptionSpec>(
  args: string[],
  spec: S,
  positionals: { max: number; names: string },
): { values: Values<S>; positionals: string[] } {
  let parsed: { values: unknown; positionals: string[] }
  try {
    parsed = parseArgs({ args, options: spec, strict: true, allowPositionals: true })
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  if (parsed.positionals.length > positionals.max) {
    // Not quoted back: a stray argument may be a secret pasted in the wrong place.
    throw new UsageError(
      `unexpected argument: this command takes ${positionals.max === 0 ? 'only --options' : `${positionals.names} and --options`}`,
    )
  }
  return { values: parsed.values as Values<S>, positionals: parsed.positionals }
}

/** A duration option ("10s", "15m") within bounds, or the fallback. */
export function durationOption(value: string | undefined, name: string, fallbackMs: number, maxMs: number): number {
  if (value === undefined) return fallbackMs
  const ms = parseDuration(value)
  if (ms === undefined || ms < 1 || ms > maxMs) {
    throw new UsageError(
      `${name} must be a duration from 1ms to ${maxMs >= 3_600_000 ? `${maxMs / 3_600_000}h` : `${maxMs / 60_000}m`}, like "10s", got ${JSON.stringify(value)}`,
    )
  }
  return ms
}

/** Refuses secrets given as options: they belong in the environment (never in argv, shell history or `ps`). */
export function refuseSecretOptions(args: string[], where: string): void {
  if (args.some((a) => /^--[\w-]*(secret|token|password)(=|$)/i.test(a))) {
    throw new UsageError(`secrets are never arguments: set ${where} in the environment`)
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

/** A command's config file: loaded, or every bad field said on stderr (the caller exits 2 on undefined). */
export function loadCommandConfig(configPath: string, ctx: Pick<CliContext, 'stderr'>): Config | undefined {
  try {
    return loadConfigFile(configPath)
  } catch (e) {
    if (e instanceof ConfigError) {
      ctx.stderr.write(`kube-recycler: ${e.message}\n`)
      return undefined
    }
    throw e
  }
}
