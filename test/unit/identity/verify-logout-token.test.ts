/**
 * Logout tokens (back-channel) and Universal Logout calls: a good one passes,
 * and every forgery or mistake the issue lists fails with the code the
 * endpoint answers from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import http from 'node:http'
import { createHmac, createPublicKey } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK } from 'jose'
import { listenLocal, type LocalServer } from '../../helpers/local-server.js'
import { createKeySet, readRevocationSubject, verifyLogoutToken, verifyRevocationCall, BACKCHANNEL_LOGOUT_EVENT } from '../../../src/identity/index.js'

const ISS = 'https://acme.okta.com/oauth2/default'
const ORG = 'https://acme.okta.com'
const CLIENT = '0oa-gatehouse'
const ENDPOINT = 'https://app.corp.example/.gatehouse/global-token-revocation'

let local: LocalServer
let key: CryptoKey
let stranger: CryptoKey
let published: JWK
const now = Date.now()
const s = (): number => Math.floor(now / 1000)

beforeAll(async () => {
  const a = await generateKeyPair('RS256', { extractable: true })
  key = a.privateKey
  stranger = (await generateKeyPair('RS256')).privateKey
  published = { ...(await exportJWK(a.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  local = await listenLocal(http.createServer((_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [published] }))))
})
afterAll(() => local.close())

const keys = () => createKeySet({ jwksUri: new URL(`${local.url}/keys`), fetch: (u, i) => fetch(u, i), now: () => now, cooldownMs: 0 })
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')

function logoutToken(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, k: CryptoKey = key): Promise<string> {
  const body: Record<string, unknown> = {
    iss: ISS,
    aud: CLIENT,
    iat: s(),
    exp: s() + 120,
    jti: `j-${Math.random()}`,
    sid: 'idp-s1',
    sub: '00u1',
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    ...claims,
  }
  for (const [k2, v] of Object.entries(body)) if (v === undefined) delete body[k2]
  return new SignJWT(body).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'logout+jwt', ...header }).sign(k)
}
const verify = (t: string) => verifyLogoutToken(t, keys(), { issuer: ISS, clientId: CLIENT, now: () => now })

describe('verifyLogoutToken', () => {
  it('accepts a good token, with sid, sub or both, typed logout+jwt, JWT or not at all', async () => {
    expect(await verify(await logoutToken())).toMatchObject({ sid: 'idp-s1', sub: '00u1' })
    expect(await verify(await logoutToken({ sub: undefined }))).toMatchObject({ sid: 'idp-s1', sub: undefined })
    expect(await verify(await logoutToken({ sid: undefined }))).toMatchObject({ sid: undefined, sub: '00u1' })
    expect(await verify(await logoutToken({}, { typ: 'JWT' }))).toBeDefined()
    expect(await verify(await logoutToken({}, { typ: 'application/logout+jwt' }))).toBeDefined()
  })

  const hmacWithPublicKey = async (): Promise<string> => {
    const pem = createPublicKey({ key: published as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
    const h = b64({ alg: 'HS256', kid: 'k1', typ: 'logout+jwt' })
    const p = b64({ iss: ISS, aud: CLIENT, iat: s(), jti: 'x', sid: 'idp-s1', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })
    return `${h}.${p}.${createHmac('sha256', pem).update(`${h}.${p}`).digest('base64url')}`
  }
  const bad: Array<[string, () => Promise<string>]> = [
    ['a nonce (an ID token)', () => logoutToken({ nonce: 'n1' })],
    ['no events', () => logoutToken({ events: undefined })],
    ['the wrong event', () => logoutToken({ events: { 'http://schemas.openid.net/event/other': {} } })],
    ['events as a list', () => logoutToken({ events: [BACKCHANNEL_LOGOUT_EVENT] })],
    ['the wrong audience', () => logoutToken({ aud: 'another-client' })],
    ['the wrong issuer', () => logoutToken({ iss: 'https://evil.example/oauth2/default' })],
    ['an issuer with a trailing slash', () => logoutToken({ iss: ISS + '/' })],
    ['expired', () => logoutToken({ iat: s() - 3600, exp: s() - 3000 })],
    ['issued too long ago', () => logoutToken({ iat: s() - 900, exp: undefined })],
    ['issued in the future', () => logoutToken({ iat: s() + 900 })],
    ['an unknown kid', () => logoutToken({}, { kid: 'nope' }, stranger)],
    ['signed by a stranger under a known kid', () => logoutToken({}, {}, stranger)],
    ['alg none', async () => new UnsecuredJWT({ iss: ISS, aud: CLIENT, iat: s(), jti: 'x', sid: 'a', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }).encode()],
    ['HS256 keyed with the public key', hmacWithPublicKey],
    ['neither sid nor sub', () => logoutToken({ sid: undefined, sub: undefined })],
    ['an empty sid', () => logoutToken({ sid: '', sub: undefined })],
    ['no jti', () => logoutToken({ jti: undefined })],
    ['typ of an access token', () => logoutToken({}, { typ: 'at+jwt' })],
    ['not a JWT', async () => 'not-a-jwt'],
    ['far too long', async () => 'a'.repeat(20_000)],
  ]
  for (const [name, make] of bad) {
    it(`rejects ${name}`, async () => {
      await expect(verify(await make())).rejects.toMatchObject({ code: 'IDP_LOGOUT_TOKEN_INVALID' })
    })
  }
})

function revocationJwt(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, k: CryptoKey = key): Promise<string> {
  const body: Record<string, unknown> = { iss: ORG, sub: CLIENT, aud: ENDPOINT, iat: s(), nbf: s() - 300, exp: s() + 300, jti: `g-${Math.random()}`, ...claims }
  for (const [k2, v] of Object.entries(body)) if (v === undefined) delete body[k2]
  return new SignJWT(body).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'global-token-revocation+jwt', ...header }).sign(k)
}

describe('verifyRevocationCall (Okta Universal Logout)', () => {
  const call = (t: string, ks = keys()) =>
    verifyRevocationCall(t, { keysFor: (iss) => (iss === ORG || iss === ISS ? ks : undefined), clientId: CLIENT, endpointUrl: ENDPOINT, now: () => now })

  it("accepts Okta's JWT from the org or the issuer", async () => {
    expect(await call(await revocationJwt())).toMatchObject({ iss: ORG })
    expect(await call(await revocationJwt({ iss: ISS }))).toMatchObject({ iss: ISS })
  })
  const bad: Array<[string, () => Promise<string>]> = [
    ['no typ', () => revocationJwt({}, { typ: undefined })],
    ['a logout token typ', () => revocationJwt({}, { typ: 'logout+jwt' })],
    ['another issuer', () => revocationJwt({ iss: 'https://evil.okta.com' })],
    ['another app as subject', () => revocationJwt({ sub: 'another-client' })],
    ['another endpoint as audience', () => revocationJwt({ aud: 'https://other.corp.example/.gatehouse/global-token-revocation' })],
    ['expired', () => revocationJwt({ exp: s() - 120, nbf: s() - 900 })],
    ['no expiry', () => revocationJwt({ exp: undefined })],
    ['a lifetime of a day', () => revocationJwt({ exp: s() + 86_400 })],
    ['a stranger key', () => revocationJwt({}, {}, stranger)],
    ['no jti', () => revocationJwt({ jti: undefined })],
    ['garbage', async () => 'x.y.z'],
  ]
  for (const [name, make] of bad) {
    it(`rejects ${name}`, async () => {
      await expect(call(await make())).rejects.toMatchObject({ code: 'IDP_REVOCATION_AUTH_INVALID' })
    })
  }
})

describe('readRevocationSubject', () => {
  const cases: Array<[string, unknown, unknown]> = [
    ['email under sub_id', { sub_id: { format: 'email', email: 'a@example.com' } }, { format: 'email', email: 'a@example.com' }],
    ["email under subject (Okta's guide)", { subject: { format: 'email', email: 'a@example.com' } }, { format: 'email', email: 'a@example.com' }],
    ['iss_sub', { sub_id: { format: 'iss_sub', iss: ISS, sub: '00u1' } }, { format: 'iss_sub', iss: ISS, sub: '00u1' }],
    ['an unknown format', { sub_id: { format: 'phone_number', phone_number: '+1' } }, { error: expect.stringMatching(/unsupported subject format/) }],
    ['no subject', { user: 'a' }, { error: expect.any(String) }],
    [
      'both spellings disagreeing',
      { sub_id: { format: 'email', email: 'a@x.y' }, subject: { format: 'email', email: 'b@x.y' } },
      { error: expect.any(String) },
    ],
    ['email without an address', { sub_id: { format: 'email' } }, { error: expect.any(String) }],
    ['not an object', ['a'], { error: expect.any(String) }],
  ]
  for (const [name, body, want] of cases) it(name, () => expect(readRevocationSubject(body)).toEqual(want))
})
