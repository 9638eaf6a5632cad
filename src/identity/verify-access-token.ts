/**
 * Offline verification of a JWT access token from the configured Okta
 * authorization server (a custom server): the signature with a key from the
 * issuer's own key set under an allow-listed asymmetric algorithm (never
 * `none`, never HS*: a public key used as an HMAC secret is not a key), `iss`
 * exact, `aud` one of the route's allowed audiences, `exp`/`nbf`/`iat` with
 * leeway, and a client id (`cid`, or RFC 9068's `client_id`), which an ID
 * token never has, so an ID token cannot pass for an access token.
 */
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import type { KeySet } from './key-set.js'

/** Asymmetric algorithms only. */
export const ACCESS_TOKEN_ALGORITHMS: readonly string[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']

export interface AccessTokenExpectations {
  readonly issuer: string
  readonly audiences: readonly string[]
  readonly algorithms?: readonly string[]
  readonly clockToleranceSeconds?: number
  readonly now: () => number
}

export interface VerifiedClaims extends JWTPayload {
  readonly sub: string
  readonly exp: number
}

/** Why a token was refused: `description` is safe to send back in WWW-Authenticate. */
export class TokenRejected extends Error {
  constructor(
    readonly description: string,
    options?: { cause?: unknown },
  ) {
    super(description, options)
    this.name = 'TokenRejected'
  }
}

const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600

/** jose's failures, in words a caller of the API can act on (never the token itself). */
export function describeJoseError(err: unknown, what: string): TokenRejected {
  if (err instanceof joseErrors.JWTExpired) return new TokenRejected(`the ${what} has expired`, { cause: err })
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = err.claim
    if (claim === 'iss') return new TokenRejected(`the ${what} was not issued by the configured issuer`, { cause: err })
    if (claim === 'aud') return new TokenRejected(`the ${what}'s audience is not accepted here`, { cause: err })
    if (claim === 'nbf') return new TokenRejected(`the ${what} is not valid yet`, { cause: err })
    if (claim === 'iat') return new TokenRejected(`the ${what} was issued in the future`, { cause: err })
    return new TokenRejected(`the ${what} has a missing or invalid "${claim}" claim`, { cause: err })
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new TokenRejected(`the ${what} is signed with an algorithm that is not accepted`, { cause: err })
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys)
    return new TokenRejected(`the ${what} is signed by a key the issuer does not publish`, { cause: err })
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenRejected(`the ${what}'s signature does not verify`, { cause: err })
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return new TokenRejected(`the ${what} is malformed`, { cause: err })
  if (err instanceof joseErrors.JOSENotSupported) return new TokenRejected(`the ${what} uses an unsupported algorithm or key`, { cause: err })
  return new TokenRejected(`the ${what} could not be verified`, { cause: err })
}

export function checkTimes(payload: JWTPayload, nowMs: number, toleranceS: number, what: string): void {
  const nowS = nowMs / 1000
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp) || payload.exp - nowS > MAX_LIFETIME_SECONDS)
    throw new TokenRejected(`the ${what} has no sane expiry`)
  if (typeof payload.iat === 'number' && payload.iat - nowS > toleranceS) throw new TokenRejected(`the ${what} was issued in the future`)
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new TokenRejected(`the ${what} has no subject`)
}

/** Rejects with TokenRejected. */
export async function verifyAccessToken(token: string, keys: KeySet, x: AccessTokenExpectations): Promise<VerifiedClaims> {
  const tolerance = x.clockToleranceSeconds ?? 60
  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(token, keys.getKey, {
      issuer: x.issuer,
      audience: [...x.audiences],
      algorithms: [...(x.algorithms ?? ACCESS_TOKEN_ALGORITHMS)].filter((a) => a !== 'none' && !a.startsWith('HS')),
      clockTolerance: tolerance,
      currentDate: new Date(x.now()),
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
    }))
  } catch (err) {
    throw describeJoseError(err, 'access token')
  }
  checkTimes(payload, x.now(), tolerance, 'access token')
  if (typeof payload.cid !== 'string' && typeof payload.client_id !== 'string')
    throw new TokenRejected('the token is not an access token (it names no client: cid or client_id)')
  return payload as VerifiedClaims
}
