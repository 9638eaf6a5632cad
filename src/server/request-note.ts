/** The per-request record that the log line is written from; declared once on every request. */

export interface RequestNote {
  route: string | undefined
  user: string | undefined
  outcome: 'allow' | 'deny' | 'login' | 'error' | 'special' | 'not-found' | undefined
  reason: string | undefined
  /** The criterion that decided a deny. */
  criterion: string | undefined
  upstreamMs: number | undefined
  startedAt: bigint
}

declare module 'fastify' {
  interface FastifyRequest {
    gatehouse: RequestNote
  }
}

export function newRequestNote(): RequestNote {
  return { route: undefined, user: undefined, outcome: undefined, reason: undefined, criterion: undefined, upstreamMs: undefined, startedAt: process.hrtime.bigint() }
}
