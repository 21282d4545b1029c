// Alertmanager's label matchers (`alertname="SiteDown"`, `site=~"shop|shop-eu"`),
// the syntax an operator already writes in Alertmanager's routes and
// silences, so a site's `alertmanager.matchers` reads like them. Regular
// expressions are anchored, as Alertmanager anchors them, and run on RE2
// (linear time: an alert's label values are the sender's text).

import { RE2JS } from 're2js'

export const MATCH_OPS = ['=', '!=', '=~', '!~'] as const
export type MatchOp = (typeof MATCH_OPS)[number]

/** One matcher as written and as Alertmanager's API v2 takes it. */
export interface LabelMatcher {
  name: string
  op: MatchOp
  value: string
}

export interface CompiledMatcher extends LabelMatcher {
  test(labels: Readonly<Record<string, string>>): boolean
}

// name op "value" (quotes optional for values without spaces, commas or quotes, as amtool allows).
const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^\s",{}]*))\s*$/

/** Parses and compiles one matcher; throws an Error saying what is wrong. */
export function parseMatcher(text: string): CompiledMatcher {
  const m = MATCHER.exec(text)
  if (!m)
    throw new Error(
      `must be a label matcher like 'alertname="SiteDown"' (name, one of = != =~ !~, a quoted value), got ${JSON.stringify(text)}`,
    )
  const name = m[1]!
  const op = m[2] as MatchOp
  const value = m[3] !== undefined ? (JSON.parse(`"${m[3]}"`) as string) : m[4]!
  if (op === '=' || op === '!=') {
    const eq = op === '='
    return { name, op, value, test: (labels) => ((labels[name] ?? '') === value) === eq }
  }
  let re: RE2JS
  try {
    re = RE2JS.compile(`^(?:${value})$`)
  } catch (e) {
    throw new Error(
      `${JSON.stringify(value)} is not a valid regular expression for RE2: ${(e as Error).message.replace(/^error parsing regexp: /, '')}`,
    )
  }
  const pos = op === '=~'
  // A missing label is the empty string, as in Alertmanager and Prometheus.
  return { name, op, value, test: (labels) => re.matches(labels[name] ?? '') === pos }
}

/** True when every matcher matches (an empty list matches nothing: a site must say what it listens to). */
export function matchesAll(matchers: readonly CompiledMatcher[], labels: Readonly<Record<string, string>>): boolean {
  return matchers.length > 0 && matchers.every((m) => m.test(labels))
}

export function formatMatcher(m: LabelMatcher): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`
}
