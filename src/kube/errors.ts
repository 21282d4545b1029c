// Maps client-node failures to our own error codes. ApiException.message
// carries response headers: it is never logged or answered, only the
// status and the server's own message (clipped) are kept.

import { ApiException } from './api.ts'
import { AppError, Errors } from '../errors.ts'

/** Maps a client-node failure to our codes; `what` says which call failed. */
export function kubeError(e: unknown, what: string): AppError {
  if (e instanceof AppError) return e
  if (e instanceof ApiException) {
    let msg = ''
    try {
      const body =
        typeof e.body === 'string' ? (JSON.parse(e.body) as { message?: string }) : (e.body as { message?: string })
      msg = body?.message ?? ''
    } catch {
      msg = ''
    }
    const detail = msg ? `: ${msg.slice(0, 300)}` : ''
    switch (e.code) {
      case 404:
        return Errors.kubeNotFound(`${what}: not found${detail}`)
      case 401:
        return Errors.kubeForbidden(`${what}: not authenticated${detail}`)
      case 403:
        return Errors.kubeForbidden(`${what}: forbidden${detail}`)
      case 409:
        return Errors.kubeConflict(`${what}: conflict${detail}`)
      case 429:
        return Errors.kubeTooManyRequests(`${what}: too many requests${detail}`)
      default:
        return Errors.kube(`${what}: HTTP ${e.code}${detail}`)
    }
  }
  // Our own deadline (api.ts) or the caller's signal ended the request.
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError'))
    return Errors.kube(`${what}: no answer in time (aborted)`, { cause: e })
  const err = e as NodeJS.ErrnoException & { cause?: { code?: string } }
  const code = err?.code ?? err?.cause?.code
  return Errors.kube(`${what}: ${code ?? 'the API server could not be reached'}`, { cause: e })
}
