// A check's `bodyMatches` runs on RE2 (the re2js port), not on V8's
// backtracking engine: matching is linear in the body, so no pattern can
// make a probe spin on a 64 KiB page (issue 11: `(a+)+$` took V8 48 s on 28
// characters here). RE2 has no backreferences or lookaround; a pattern that
// uses them is refused at config load, naming the field.

import { RE2JS } from 're2js'

export interface BodyPattern {
  /** True when the pattern matches anywhere in the text. */
  test(text: string): boolean
}

/** Compiles a pattern; throws an Error whose message says what RE2 refused. */
export function compileBodyPattern(source: string): BodyPattern {
  let re: RE2JS
  try {
    re = RE2JS.compile(source)
  } catch (e) {
    const why = (e as Error).message.replace(/^error parsing regexp: /, '')
    throw new Error(
      `not a valid regular expression for the linear-time engine (RE2): ${why}; backreferences and lookaround are not supported`,
    )
  }
  return { test: (text) => re.test(text) }
}
