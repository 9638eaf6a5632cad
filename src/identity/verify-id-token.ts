/**
 * ID-token verification with jose (openid-client does not check the
 * signature of a token-endpoint ID token): signature under an allow-listed
 * algorithm, `iss` exact, `aud` and `azp`, sane `exp`/`iat`, `sub`, and the
 * nonce, which a caller cannot forget: it must say NO_NONCE on purpose.
 */
import { jwtVerify, type JWTPayload } from 'jose'
import { IdentityError, translateError } from './errors.js'
import type { KeySet } from './key-set.js'

export const NO_NONCE: unique symbol = Symbol('no nonce expected (refresh)')

export interface IdTokenExpectations {
  readonly issuer: string
  readonly clientId: string
  readonly expectedNonce: string | typeof NO_NONCE
  readonly algorithms?: readonly string[]
  readonly clockToleranceSeconds?: number
  readonly now: () => number
  /** The token came straight from the IdP's token endpoint: an unknown kid refetches the keys at once. */
  readonly fromIdp?: boolean
}

/** Asymmetric algorithms an ID token may use (the discovery document narrows this). */
export const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const

export interface IdTokenClaims extends JWTPayload {
  readonly sub: string
  readonly exp: number
  readonly iat: number
}

/** Ten years: an `exp` further out than this is not a real token. */
const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600

export async function verifyIdToken(token: string, keys: KeySet, x: IdTokenExpectations): Promise<IdTokenClaims> {
  const algorithms = [...(x.algorithms ?? ['RS256'])].filter((a) => a !== 'none' && !a.startsWith('HS'))
  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(token, x.fromIdp === true ? keys.getKeyFromIdp : keys.getKey, {
      issuer: x.issuer,
      audience: x.clientId,
      algorithms,
      clockTolerance: x.clockToleranceSeconds ?? 60,
      currentDate: new Date(x.now()),
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
    }))
  } catch (err) {
    throw translateError(err, 'ID token verification')
  }
  const nowS = x.now() / 1000
  const fail = (why: string): never => {
    throw new IdentityError('IDP_TOKEN_INVALID', `the ID token was rejected: ${why}`)
  }
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) fail('no subject')
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp) || payload.exp - nowS > MAX_LIFETIME_SECONDS) fail('absurd expiry')
  if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat) || payload.iat - nowS > (x.clockToleranceSeconds ?? 60)) fail('issued in the future')
  const aud = payload.aud
  if (Array.isArray(aud) && aud.length > 1 && payload.azp === undefined) fail('several audiences and no azp')
  if (payload.azp !== undefined && payload.azp !== x.clientId) fail('azp is not this client')
  if (x.expectedNonce !== NO_NONCE && payload.nonce !== x.expectedNonce) fail('nonce does not match this sign-in')
  return payload as IdTokenClaims
}
