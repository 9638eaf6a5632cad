import type { UpstreamCall } from './frontends/forward.js'

/** The per-request record that the log line is written from; declared once on every request. */

export interface RequestNote {
  route: string | undefined
  user: string | undefined
  outcome: 'allow' | 'deny' | 'login' | 'error' | 'special' | 'not-found' | undefined
  reason: string | undefined
  /** The criterion that decided a deny. */
  criterion: string | undefined
  upstreamMs: number | undefined
  /** performance.now() when the request arrived. */
  startedAt: number
  /** Set when the request is forwarded. */
  upstream: UpstreamCall | undefined
}

declare module 'fastify' {
  interface FastifyRequest {
    gatehouse: RequestNote
  }
}

export function newRequestNote(): RequestNote {
  return {
    route: undefined,
    user: undefined,
    outcome: undefined,
    reason: undefined,
    criterion: undefined,
    upstreamMs: undefined,
    startedAt: performance.now(),
    upstream: undefined,
  }
}
