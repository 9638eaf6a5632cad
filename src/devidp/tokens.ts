/**
 * Signing Okta-shaped tokens. ID tokens: `sub` = the user id, `aud` = the
 * client, `jti` "ID.…", `ver`, `amr`, `idp`, `auth_time`, `at_hash`, 1 h.
 * Custom-server access tokens: a JWT with `aud` = the server's audience,
 * `cid`, `uid`, `scp`, `sub` = the login. Org-server access tokens are for
 * Okta only: signed with a key no client can fetch.
 */
import { createHash } from 'node:crypto'
import { SignJWT, type CryptoKey } from 'jose'
import type { KeyRing } from './keys.js'
import { randomId } from './state.js'
import type { ClaimSet } from './claims.js'

/** `at_hash`: left half of the SHA-256 of the access token (RS256/ES256/PS256), SHA-384 for ES384. */
export function atHash(accessToken: string, alg: string): string {
  const hash = createHash(alg.endsWith('384') ? 'sha384' : 'sha256')
    .update(accessToken)
    .digest()
  return hash.subarray(0, hash.length / 2).toString('base64url')
}

export interface IdTokenInput {
  readonly issuer: string
  readonly clientId: string
  readonly userId: string
  readonly orgIdpId: string
  readonly authTimeS: number
  readonly nonce: string | undefined
  readonly accessToken: string | undefined
  /** The IdP session the token was issued in (the `sid` claim). */
  readonly sessionId?: string | undefined
  readonly claims: ClaimSet
  readonly ttlSeconds: number
  readonly nowS: number
}

export async function signIdToken(keys: KeyRing, x: IdTokenInput): Promise<string> {
  const k = keys.active()
  return new SignJWT({
    ...x.claims,
    ver: 1,
    jti: randomId('ID.'),
    amr: ['pwd'],
    idp: x.orgIdpId,
    auth_time: x.authTimeS,
    // Okta's session id, which its front- and back-channel logouts name.
    ...(x.sessionId === undefined ? {} : { sid: x.sessionId }),
    ...(x.nonce === undefined ? {} : { nonce: x.nonce }),
    ...(x.accessToken === undefined ? {} : { at_hash: atHash(x.accessToken, k.alg) }),
  })
    .setProtectedHeader({ alg: k.alg, kid: k.kid })
    .setIssuer(x.issuer)
    .setAudience(x.clientId)
    .setSubject(x.userId)
    .setIssuedAt(x.nowS)
    .setExpirationTime(x.nowS + x.ttlSeconds)
    .sign(k.privateKey)
}

export interface AccessTokenInput {
  readonly issuer: string
  readonly audience: string
  readonly clientId: string
  readonly userId: string | undefined
  /** The login for a user's token; the client id for a service app's. */
  readonly subject: string
  readonly scopes: readonly string[]
  readonly authTimeS: number | undefined
  readonly claims: ClaimSet
  readonly ttlSeconds: number
  readonly nowS: number
}

export async function signAccessToken(key: { kid: string; alg: string; privateKey: CryptoKey }, x: AccessTokenInput): Promise<string> {
  return new SignJWT({
    ...x.claims,
    ver: 1,
    jti: randomId('AT.'),
    cid: x.clientId,
    ...(x.userId === undefined ? {} : { uid: x.userId }),
    scp: [...x.scopes],
    ...(x.authTimeS === undefined ? {} : { auth_time: x.authTimeS }),
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .setIssuer(x.issuer)
    .setAudience(x.audience)
    .setSubject(x.subject)
    .setIssuedAt(x.nowS)
    .setExpirationTime(x.nowS + x.ttlSeconds)
    .sign(key.privateKey)
}
