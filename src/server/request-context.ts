/**
 * The per-request context: the config snapshot the request is served under
 * (read once, when it arrives, so a reload never gives one request two
 * configs) and the record the access log line and the metrics are written
 * from. Declared once on every request as `request.gatehouse`.
 */
import type { Snapshot } from '../authorize/snapshot.js'

/** One forwarded request's timing. */
export interface UpstreamCall {
  readonly origin: string
  readonly startedMs: number
}

export type Outcome = 'allow' | 'deny' | 'login' | 'error' | 'special' | 'not-found'

export interface RequestContext {
  readonly snap: Snapshot
  route: string | undefined
  user: string | undefined
  outcome: Outcome | undefined
  reason: string | undefined
  /** The criterion that decided a deny. */
  criterion: string | undefined
  upstreamMs: number | undefined
  /** performance.now() when the request arrived. */
  readonly startedAt: number
  /** Set when the request is forwarded. */
  upstream: UpstreamCall | undefined
  /** Which front end answered, when it is not the reverse proxy (`forward_auth`). */
  frontend: string | undefined
}

declare module 'fastify' {
  interface FastifyRequest {
    gatehouse: RequestContext
  }
}

export function newRequestContext(snap: Snapshot): RequestContext {
  return {
    snap,
    route: undefined,
    user: undefined,
    outcome: undefined,
    reason: undefined,
    criterion: undefined,
    upstreamMs: undefined,
    startedAt: performance.now(),
    upstream: undefined,
    frontend: undefined,
  }
}
