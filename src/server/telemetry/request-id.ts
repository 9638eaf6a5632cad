/**
 * Request ids: a random per-process prefix and a counter (`5f1c9e0a7b2d-1a3f`).
 * Unique across replicas and restarts like a UUID, without drawing 16 random
 * bytes and formatting them on every request. Not a secret: it is shown on
 * error pages so that a user can quote it.
 */
import { randomBytes } from 'node:crypto'

export type RequestIds = () => string

export function createRequestIds(): RequestIds {
  const prefix = randomBytes(6).toString('hex') + '-'
  let n = 0
  return () => prefix + (++n).toString(36)
}

/** The process's request ids, shared by HTTP requests and WebSocket upgrades. */
export const nextRequestId: RequestIds = createRequestIds()

function isSafeRequestId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 128 && /^[A-Za-z0-9._:-]+$/.test(v)
}

/** The client-sent X-Request-Id when it comes from a trusted proxy and is safe to log and echo; otherwise undefined. */
export function trustedRequestId(sent: string | string[] | undefined, peer: string | undefined, isTrusted: (addr: string) => boolean): string | undefined {
  return isSafeRequestId(sent) && peer !== undefined && isTrusted(peer) ? sent : undefined
}
