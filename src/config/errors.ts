// Turns schema errors into `path: what was expected` lines, the form every
// config and request error takes (`sites[1].checks[0].url: must be a string`).

export interface SchemaError {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message?: string
}

/** `/sites/1/checks/0/url` → `sites[1].checks[0].url`. */
export function pointerToPath(pointer: string, root = ''): string {
  let out = root
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (/^\d+$/.test(seg)) out += `[${seg}]`
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`
    else out += `[${JSON.stringify(seg)}]`
  }
  return out === '' ? '(root)' : out
}

function describe(e: SchemaError): string {
  const p = e.params
  switch (e.keyword) {
    case 'type':
      return `must be ${article(String(p.type))}`
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}`
    case 'required':
      return `is required`
    case 'additionalProperties':
      return `unknown field`
    case 'minLength':
      return Number(p.limit) === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters`
    case 'maxLength':
      return `must be at most ${String(p.limit)} characters`
    case 'minItems':
      return `must have at least ${String(p.limit)} item(s)`
    case 'maxItems':
      return `must have at most ${String(p.limit)} item(s)`
    case 'minimum':
      return `must be >= ${String(p.limit)}`
    case 'maximum':
      return `must be <= ${String(p.limit)}`
    case 'pattern':
      return `must match ${String(p.pattern)}`
    case 'anyOf':
      return 'has the wrong type'
    default:
      return e.message ?? `is invalid (${e.keyword})`
  }
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`
}

/**
 * One line per bad field. Errors a union produces for each of its branches
 * collapse into one; `required` and `additionalProperties` name the field
 * itself rather than its parent.
 */
export function formatSchemaErrors(errors: Iterable<SchemaError>, root = ''): string[] {
  const byPath = new Map<string, string>()
  for (const e of errors) {
    if (e.keyword === 'boolean') continue // "schema is false": the additionalProperties error says it better
    const pointer = e.instancePath
    if (e.keyword === 'required') {
      const missing = (e.params.requiredProperties ?? e.params.missingProperty ?? []) as string[] | string
      for (const m of Array.isArray(missing) ? missing : [missing]) {
        const path = pointerToPath(`${pointer}/${m}`, root)
        if (!byPath.has(path)) byPath.set(path, 'is required')
      }
      continue
    }
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params.additionalProperties ?? e.params.additionalProperty ?? []) as string[] | string
      for (const m of Array.isArray(extra) ? extra : [extra]) {
        const path = pointerToPath(`${pointer}/${m}`, root)
        if (!byPath.has(path)) byPath.set(path, 'unknown field')
      }
      continue
    }
    const path = pointerToPath(pointer, root)
    const msg = describe(e)
    const prev = byPath.get(path)
    if (prev === undefined) byPath.set(path, msg)
    else if (e.keyword === 'type' && prev.startsWith('must be ') && !prev.includes(msg.slice(8))) {
      // A union of types: "must be a string or a number".
      byPath.set(path, `${prev} or ${msg.slice(8)}`)
    }
  }
  return [...byPath].map(([path, msg]) => `${path}: ${msg}`)
}
