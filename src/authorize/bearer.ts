/**
 * Bearer tokens in the identify step (`bearer_token_format` other than
 * `default`): the token in `Authorization: Bearer …` is the credential, never
 * the cookie. A verified token becomes an identity shaped like a session (so
 * the policy, the assertion and the identity headers treat it like any
 * other); a refused one is a 401 with RFC 6750's `WWW-Authenticate`.
 */
import type { CompiledRoute } from '../config/types.js'
import { BEARER_SESSION_PREFIX, type BearerResult, type BearerVerifier } from '../identity/bearer.js'
import type { ActiveSession } from './ports.js'

export type BearerPort = Pick<BearerVerifier, 'peek' | 'verify'>

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive), or undefined. */
export function bearerTokenOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string' || header.length < 8) return undefined
  if (!/^bearer /i.test(header)) return undefined
  const token = header.slice(7).trim()
  return token.length === 0 ? undefined : token
}

/** Whether a request's identity came from a bearer token (it has no session in the store to end). */
export function isBearerSession(s: Pick<ActiveSession, 'id'>): boolean {
  return s.id.startsWith(BEARER_SESSION_PREFIX)
}

/**
 * A verified token as the request path's session: its id is the token's
 * digest, its access token the token itself. Built field by field, on every
 * request that carries the token: spreading the identity (whose shape varies
 * with what is unknown) cost several microseconds a request in a profile.
 */
export function bearerSession(r: Extract<BearerResult, { ok: true }>, token: string, route: CompiledRoute, now: number): ActiveSession {
  const isIdToken = route.bearer.format === 'idp_identity_token'
  const who = r.identity
  return {
    sub: who.sub,
    email: who.email,
    name: who.name,
    groups: who.groups,
    claims: who.claims,
    roles: who.roles,
    unknown: who.unknown,
    id: r.sessionId,
    idToken: isIdToken ? token : '',
    accessToken: isIdToken ? '' : token,
    createdAtMs: now,
    expiresAtMs: r.expiresAtMs,
    version: 0,
  }
}

/** `error_description` must be a quoted-string without `"` or `\\` (RFC 6750 §3). */
export function wwwAuthenticate(description: string): string {
  return `Bearer error="invalid_token", error_description="${description.replace(/["\\\r\n]/g, ' ').slice(0, 300)}"`
}
