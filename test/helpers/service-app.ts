/**
 * What a bot does with an Okta API Services app: sign a client assertion
 * with its private key (iss = sub = client id, aud = the token endpoint, a
 * fresh jti, a short exp) and trade it for an access token with the
 * client-credentials grant.
 */
import { randomUUID, type KeyObject } from 'node:crypto'
import { exportJWK, SignJWT } from 'jose'
import type { DevClient } from '../../src/devidp/index.js'

/** The local IdP's `gatehouse-directory` service app: private_key_jwt with `publicKey` (kid dir-1), allowed to read groups and users. */
export async function directoryServiceApp(publicKey: KeyObject): Promise<DevClient> {
  return {
    client_id: 'gatehouse-directory',
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'dir-1' }] },
    redirect_uris: [],
    okta_api_scopes: ['okta.groups.read', 'okta.users.read'],
  }
}

export function clientAssertion(
  key: KeyObject,
  clientId: string,
  tokenEndpoint: string,
  over: { kid?: string; jti?: string; expS?: number; aud?: string } = {},
): Promise<string> {
  const nowS = Math.floor(Date.now() / 1000)
  const alg = key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256'
  return new SignJWT({})
    .setProtectedHeader(over.kid === undefined ? { alg } : { alg, kid: over.kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(over.aud ?? tokenEndpoint)
    .setIssuedAt(nowS)
    .setExpirationTime(over.expS ?? nowS + 300)
    .setJti(over.jti ?? randomUUID())
    .sign(key)
}

export async function clientCredentials(
  tokenEndpoint: string,
  clientId: string,
  key: KeyObject,
  scope: string,
  assertion?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion ?? (await clientAssertion(key, clientId, tokenEndpoint)),
    }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}
