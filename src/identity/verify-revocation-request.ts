/**
 * Okta Universal Logout (Global Token Revocation,
 * draft-parecki-oauth-global-token-revocation) as Okta calls it: a POST with
 * `Authorization: Bearer <JWT>`, the JWT typed `global-token-revocation+jwt`,
 * signed with the key that signs the org's ID tokens, `iss` the org (or
 * custom-domain) URL, `sub` this app's client id, `aud` the endpoint's own URL
 * (no query), `exp` five minutes ahead, a `jti`. The body names the user as a
 * subject identifier (RFC 9493) in the `email` or `iss_sub` format, under
 * `sub_id` (the draft) or `subject` (Okta's guide).
 * https://developer.okta.com/docs/guides/oin-universal-logout-overview/
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import { IdentityError } from './errors.js'
import type { KeySet } from './key-set.js'
import { LOGOUT_TOKEN_ALGORITHMS, MAX_TOKEN_CHARS } from './verify-logout-token.js'

export interface RevocationCallExpectations {
  /** Issuers that may call, each with the keys that verify it. */
  readonly keysFor: (iss: string) => KeySet | undefined
  readonly clientId: string
  /** The URL the request came to, without query: what `aud` must be. */
  readonly endpointUrl: string
  readonly now: () => number
  readonly clockToleranceSeconds?: number
}

export interface RevocationCall {
  readonly iss: string
  readonly jti: string
  readonly expiresAtS: number
}

/** Okta's token lives five minutes; anything claiming much longer is not Okta's. */
const MAX_LIFETIME_SECONDS = 15 * 60

/** Verify the caller's JWT. Throws IDP_REVOCATION_AUTH_INVALID (answer 401). */
export async function verifyRevocationCall(token: string, x: RevocationCallExpectations): Promise<RevocationCall> {
  const fail = (why: string, cause?: unknown): never => {
    throw new IdentityError('IDP_REVOCATION_AUTH_INVALID', `the revocation request's JWT was rejected: ${why}`, cause === undefined ? undefined : { cause })
  }
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS) fail('missing or too long')
  let typ: unknown
  let iss: unknown
  try {
    typ = decodeProtectedHeader(token).typ
    iss = decodeJwt(token).iss
  } catch (cause) {
    fail('not a JWT', cause)
  }
  if (typeof typ !== 'string' || typ.toLowerCase().replace(/^application\//, '') !== 'global-token-revocation+jwt')
    fail('typ is not global-token-revocation+jwt')
  const keys = typeof iss === 'string' ? x.keysFor(iss) : undefined
  if (keys === undefined) return fail(`iss ${JSON.stringify(iss)?.slice(0, 80)} is not this IdP`)
  const tolerance = x.clockToleranceSeconds ?? 60
  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(token, keys.getKey, {
      issuer: iss as string,
      audience: x.endpointUrl,
      subject: x.clientId,
      algorithms: [...LOGOUT_TOKEN_ALGORITHMS],
      clockTolerance: tolerance,
      currentDate: new Date(x.now()),
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
    }))
  } catch (cause) {
    if (cause instanceof joseErrors.JOSEError) return fail(`${cause.code}: ${cause.message}`, cause)
    return fail('verification failed', cause)
  }
  const exp = payload.exp as number
  if (exp - x.now() / 1000 > MAX_LIFETIME_SECONDS) fail('it expires too far ahead')
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) fail('jti is not a short non-empty string')
  return { iss: iss as string, jti: payload.jti as string, expiresAtS: exp }
}

/** The user a revocation request names. */
export type RevocationSubject =
  { readonly format: 'email'; readonly email: string } | { readonly format: 'iss_sub'; readonly iss: string; readonly sub: string }

/**
 * The subject identifier from the JSON body, or the reason it is unusable
 * (answer 400). Both spellings of the member are read; if both are present
 * they must agree.
 */
export function readRevocationSubject(body: unknown): RevocationSubject | { readonly error: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: 'the body is not a JSON object' }
  const b = body as Record<string, unknown>
  const given = [b.sub_id, b.subject].filter((v) => v !== undefined)
  if (given.length === 0) return { error: 'no sub_id (or subject) member' }
  if (given.length === 2 && JSON.stringify(b.sub_id) !== JSON.stringify(b.subject)) return { error: 'sub_id and subject disagree' }
  const id = given[0]
  if (typeof id !== 'object' || id === null || Array.isArray(id)) return { error: 'sub_id is not an object' }
  const s = id as Record<string, unknown>
  const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 512
  if (s.format === 'email') {
    if (!str(s.email) || !s.email.includes('@')) return { error: 'the email format needs an email member' }
    return { format: 'email', email: s.email }
  }
  if (s.format === 'iss_sub') {
    if (!str(s.iss) || !str(s.sub)) return { error: 'the iss_sub format needs iss and sub members' }
    return { format: 'iss_sub', iss: s.iss, sub: s.sub }
  }
  return { error: `unsupported subject format ${JSON.stringify(s.format)?.slice(0, 40)} (email and iss_sub are supported)` }
}
