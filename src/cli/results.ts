// The results file: what `kube-recycler check --json` writes and
// `kube-recycler report --results` reads. One entry per site, each check a
// CheckResult exactly as the probe engine measured it.
//
//   {
//     "version": 1,
//     "at": "2026-11-28T10:00:00.000Z",      // when the run started
//     "ok": false,                            // every site ok
//     "sites": [
//       { "site": "shop", "ok": false, "at": "…", "durationMs": 41.2,
//         "checks": [ { "name": "home", "ok": false, "url": "…", "status": 500,
//                       "latencyMs": 3.1, "message": "expected status 2xx, got 500",
//                       "at": "…" } ] }
//     ]
//   }
//
// Fields added by a later version are tolerated when reading; `version` is not.

import { readFileSync } from 'node:fs'
import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { formatSchemaErrors } from '../config/errors.ts'
import { FAILURE_CAUSES, type CheckResult } from '../health/verdict.ts'
import { UsageError } from './args.ts'

export const RESULTS_VERSION = 1

const CheckResultSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  ok: Type.Boolean(),
  url: Type.Optional(Type.String()),
  status: Type.Optional(Type.Integer({ minimum: 0 })),
  latencyMs: Type.Optional(Type.Number({ minimum: 0 })),
  message: Type.Optional(Type.String()),
  cause: Type.Optional(Type.Enum([...FAILURE_CAUSES])),
  warnings: Type.Optional(Type.Array(Type.String())),
  at: Type.Optional(Type.String()),
})

const SiteResultsSchema = Type.Object({
  site: Type.String({ minLength: 1 }),
  ok: Type.Boolean(),
  at: Type.String(),
  durationMs: Type.Optional(Type.Number({ minimum: 0 })),
  checks: Type.Array(CheckResultSchema),
})

const ResultsSchema = Type.Object({
  version: Type.Literal(RESULTS_VERSION),
  at: Type.String(),
  ok: Type.Boolean(),
  sites: Type.Array(SiteResultsSchema),
})

export interface SiteResults {
  site: string
  /** Every check of the site passed (warnings do not count). */
  ok: boolean
  /** ISO time the site's checks started. */
  at: string
  /** Wall time of the site's checks, ms. */
  durationMs?: number
  checks: CheckResult[]
}

export interface Results {
  version: typeof RESULTS_VERSION
  at: string
  ok: boolean
  sites: SiteResults[]
}

// The declared interfaces are the contract; the schema must accept exactly them.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const sameShape: Same<Static<typeof ResultsSchema>['sites'][number]['checks'][number], CheckResult> = true
void sameShape

const checker = Compile(ResultsSchema)

/** Parses and checks a results document; throws UsageError naming every bad field. */
export function parseResults(text: string, source: string): Results {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (e) {
    throw new UsageError(
      `${source} is not JSON (${(e as Error).message}); give the file \`kube-recycler check --json\` wrote`,
    )
  }
  if (checker.Check(doc)) return doc as Results
  const problems = formatSchemaErrors(checker.Errors(doc))
  throw new UsageError(
    `${source} is not a kube-recycler results file (from \`kube-recycler check --json\`):\n  - ${problems.join('\n  - ')}`,
  )
}

export function readResults(path: string): Results {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new UsageError(
      `cannot read the results file ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    )
  }
  return parseResults(text, path)
}
