/**
 * Logout-token verification (OpenID Connect Back-Channel Logout 1.0, §2.4 and
 * §2.6): a JWT from the IdP's keys under an allow-listed asymmetric
 * algorithm, `iss` exact, `aud` this client, `iat` recent, a `jti`, the
 * back-channel logout event, a `sid` and/or a `sub`, and no `nonce` (so an ID
 * token can never pass for a logout token). Replay (`jti` seen before) is the
 * caller's check: it needs a store shared by every replica.
 * https://openid.net/specs/openid-connect-backchannel-1_0.html
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import { IdentityError } from './errors.js'
import type { KeySet } from './key-set.js'

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'

/** Asymmetric only: `none` and the HS family (a public key used as an HMAC secret) never pass. */
export const LOGOUT_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

export interface LogoutTokenExpectations {
  readonly issuer: string
  readonly clientId: string
  readonly now: () => number
  /** How old `iat` may be (default 5 minutes). */
  readonly maxAgeSeconds?: number
  readonly clockToleranceSeconds?: number
}

/** What the logout names: an IdP session, a subject, or both. */
export interface LogoutClaims {
  readonly jti: string
  readonly iat: number
  readonly sub: string | undefined
  readonly sid: string | undefined
}

export const MAX_TOKEN_CHARS = 16_384
const MAX_ID_CHARS = 256

/** A `typ` of `logout+jwt` (the spec's), `JWT`, or none; with or without `application/`. */
function isLogoutTyp(typ: unknown): boolean {
  if (typ === undefined) return true
  if (typeof typ !== 'string') return false
  const t = typ.toLowerCase().replace(/^application\//, '')
  return t === 'logout+jwt' || t === 'jwt'
}

const optionalId = (v: unknown): string | undefined | false =>
  v === undefined ? undefined : typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_CHARS ? v : false

export async function verifyLogoutToken(token: string, keys: KeySet, x: LogoutTokenExpectations): Promise<LogoutClaims> {
  const fail = (why: string, cause?: unknown): never => {
    throw new IdentityError('IDP_LOGOUT_TOKEN_INVALID', `the logout token was rejected: ${why}`, cause === undefined ? undefined : { cause })
  }
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS) fail('missing or too long')
  let typ: unknown
  try {
    typ = decodeProtectedHeader(token).typ
  } catch (cause) {
    fail('not a JWT', cause)
  }
  if (!isLogoutTyp(typ)) fail(`typ ${JSON.stringify(typ).slice(0, 40)} is not logout+jwt`)
  const tolerance = x.clockToleranceSeconds ?? 60
  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(token, keys.getKey, {
      issuer: x.issuer,
      audience: x.clientId,
      algorithms: [...LOGOUT_TOKEN_ALGORITHMS],
      clockTolerance: tolerance,
      currentDate: new Date(x.now()),
      maxTokenAge: x.maxAgeSeconds ?? 300,
      requiredClaims: ['iss', 'aud', 'iat', 'jti'],
    }))
  } catch (cause) {
    if (cause instanceof joseErrors.JOSEError) return fail(`${cause.code}: ${cause.message}`, cause)
    return fail('verification failed', cause)
  }
  if ('nonce' in payload) fail('it carries a nonce (an ID token is not a logout token)')
  const events = payload.events
  if (typeof events !== 'object' || events === null || Array.isArray(events)) fail('no events claim')
  const event = (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT]
  if (typeof event !== 'object' || event === null || Array.isArray(event)) fail(`events does not contain ${BACKCHANNEL_LOGOUT_EVENT}`)
  const sub = optionalId(payload.sub)
  const sid = optionalId(payload.sid)
  if (sub === false || sid === false) fail('sub or sid is not a short non-empty string')
  if (sub === undefined && sid === undefined) fail('neither sid nor sub')
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > MAX_ID_CHARS) fail('jti is not a short non-empty string')
  const iat = payload.iat as number
  if (iat - x.now() / 1000 > tolerance) fail('issued in the future')
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp === undefined) fail('several audiences and no azp')
  if (payload.azp !== undefined && payload.azp !== x.clientId) fail('azp is not this client')
  return { jti: payload.jti as string, iat, sub: sub || undefined, sid: sid || undefined }
}
