import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import http from 'node:http'
import { listenLocal, type LocalServer } from '../../helpers/local-server.js'
import { createPublicKey } from 'node:crypto'
import fc from 'fast-check'
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK } from 'jose'
import { createHmac } from 'node:crypto'
import { createKeySet, NO_NONCE, verifyIdToken, openLoginState, sealLoginState, loginStateKey, checkDiscovery } from '../../../src/identity/index.js'
import type { FetchLike } from '../../../src/identity/key-set.js'

let server: http.Server
let local: LocalServer
let jwksUrl: URL
let published: JWK[] = []
let up = true
let key1: import('jose').CryptoKey
let key2: import('jose').CryptoKey
const now = Date.now()

const ISS = 'https://acme.okta.com/oauth2/default'
const AUD = '0oa-client'

beforeAll(async () => {
  const a = await generateKeyPair('RS256', { extractable: true })
  const b = await generateKeyPair('RS256', { extractable: true })
  key1 = a.privateKey
  key2 = b.privateKey
  published = [{ ...(await exportJWK(a.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }]
  ;(globalThis as { pub2?: JWK }).pub2 = { ...(await exportJWK(b.publicKey)), kid: 'k2', alg: 'RS256', use: 'sig' }
  server = http.createServer((_req, res) => {
    if (!up) {
      res.writeHead(503).end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }))
  })
  local = await listenLocal(server)
  jwksUrl = new URL(`${local.url}/keys`)
})
afterAll(() => local.close())

function sign(claims: Record<string, unknown>, key = key1, kid = 'k1'): Promise<string> {
  const iat = Math.floor(now / 1000)
  return new SignJWT({ nonce: 'n1', iss: ISS, aud: AUD, sub: '00u1', iat, exp: iat + 3600, ...claims }).setProtectedHeader({ alg: 'RS256', kid }).sign(key)
}
const expect_ = { issuer: ISS, clientId: AUD, expectedNonce: 'n1', now: () => now }
const keys = (cooldownMs = 30_000) => createKeySet({ jwksUri: jwksUrl, fetch: (u, i) => fetch(u, i), now: () => now, cooldownMs })

describe('verifyIdToken', () => {
  it('accepts a good token', async () => {
    const claims = await verifyIdToken(await sign({ email: 'a@b.c', groups: ['admin'] }), keys(), expect_)
    expect(claims).toMatchObject({ sub: '00u1', email: 'a@b.c' })
  })

  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const forged: Array<[string, () => Promise<string>, RegExp | string]> = [
    [
      'alg none',
      async () => new UnsecuredJWT({ iss: ISS, aud: AUD, sub: 'x', nonce: 'n1', exp: Math.floor(now / 1000) + 60, iat: Math.floor(now / 1000) }).encode(),
      'IDP_TOKEN_INVALID',
    ],
    ['no alg', async () => `${b64({ typ: 'JWT' })}.${b64({ iss: ISS, aud: AUD, sub: 'x' })}.`, 'IDP_TOKEN_INVALID'],
    [
      'HS256 signed with the RSA public key',
      async () => {
        const pem = createPublicKey({ key: published[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
        const h = b64({ alg: 'HS256', kid: 'k1' })
        const p = b64({ iss: ISS, aud: AUD, sub: 'x', nonce: 'n1', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 60 })
        return `${h}.${p}.${createHmac('sha256', pem).update(`${h}.${p}`).digest('base64url')}`
      },
      'IDP_TOKEN_INVALID',
    ],
    ['wrong audience', () => sign({ aud: 'someone-else' }), 'IDP_TOKEN_INVALID'],
    [
      'wrong issuer',
      () =>
        new SignJWT({ nonce: 'n1' })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .setIssuer('https://evil.okta.com')
          .setAudience(AUD)
          .setSubject('x')
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(key1),
      'IDP_TOKEN_INVALID',
    ],
    [
      'issuer with a trailing slash',
      () =>
        new SignJWT({ nonce: 'n1' })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .setIssuer(ISS + '/')
          .setAudience(AUD)
          .setSubject('x')
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(key1),
      'IDP_TOKEN_INVALID',
    ],
    [
      'expired',
      () =>
        new SignJWT({ nonce: 'n1' })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .setIssuer(ISS)
          .setAudience(AUD)
          .setSubject('x')
          .setIssuedAt(Math.floor(now / 1000) - 7200)
          .setExpirationTime(Math.floor(now / 1000) - 3600)
          .sign(key1),
      'IDP_TOKEN_INVALID',
    ],
    [
      'no exp',
      () =>
        new SignJWT({ nonce: 'n1' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISS).setAudience(AUD).setSubject('x').setIssuedAt().sign(key1),
      'IDP_TOKEN_INVALID',
    ],
    ['absurd exp', () => sign({ exp: 1e300 }), 'IDP_TOKEN_INVALID'],
    ['wrong nonce', () => sign({ nonce: 'other' }), 'IDP_TOKEN_INVALID'],
    ['azp of another client', () => sign({ azp: 'other' }), 'IDP_TOKEN_INVALID'],
    ['two audiences, no azp', () => sign({ aud: [AUD, 'x'] }), 'IDP_TOKEN_INVALID'],
    ['signed by an unknown key', () => sign({}, key2, 'k-unknown'), 'IDP_TOKEN_INVALID'],
  ]
  for (const [name, make, code] of forged) {
    it(`refuses: ${name}`, async () => {
      await expect(verifyIdToken(await make(), keys(), expect_)).rejects.toMatchObject({ code })
    })
  }

  it('cannot skip the nonce check by omission: NO_NONCE must be said', async () => {
    await expect(verifyIdToken(await sign({ nonce: undefined }), keys(), { ...expect_, expectedNonce: NO_NONCE })).resolves.toBeDefined()
    await expect(verifyIdToken(await sign({ nonce: undefined }), keys(), expect_)).rejects.toMatchObject({ code: 'IDP_TOKEN_INVALID' })
  })

  it('verifies a token from a rotated key after exactly one refetch, and rate-limits unknown kids', async () => {
    // Its own clock and an in-memory keys endpoint (through the key set's injected fetch): the
    // cooldown is judged on this clock only, so neither real time nor a loaded machine's slow
    // loopback HTTP can move a fetch into or out of the cooldown window.
    let clock = Date.parse('2026-01-05T10:00:00Z')
    let served: JWK[] = [...published]
    let calls = 0
    const jwks: FetchLike = async () => {
      calls++
      return new Response(JSON.stringify({ keys: served }), { headers: { 'content-type': 'application/json' } })
    }
    const ks = createKeySet({ jwksUri: new URL('https://acme.okta.com/oauth2/default/v1/keys'), fetch: jwks, now: () => clock, cooldownMs: 30_000 })
    const at = { ...expect_, now: () => clock }
    const signAt = (key: typeof key1, kid: string): Promise<string> => {
      const iat = Math.floor(clock / 1000)
      return new SignJWT({ nonce: 'n1', iss: ISS, aud: AUD, sub: '00u1', iat, exp: iat + 3600 }).setProtectedHeader({ alg: 'RS256', kid }).sign(key)
    }
    await ks.refresh()
    expect(calls).toBe(1)
    served = [...served, (globalThis as unknown as { pub2: JWK }).pub2]
    clock += 31_000
    await verifyIdToken(await signAt(key2, 'k2'), ks, at)
    expect(calls).toBe(2)
    // 2 000 forged kids inside the cooldown: no further fetch. (The kid is read
    // before the signature is checked, so one signed token with other headers will do.)
    const [, payload, sig] = (await signAt(key2, 'k2')).split('.')
    const forge = (kid: string): string => `${Buffer.from(JSON.stringify({ alg: 'RS256', kid })).toString('base64url')}.${payload}.${sig}`
    const flood = await Promise.allSettled(Array.from({ length: 2_000 }, (_, i) => verifyIdToken(forge(`bogus-${i}`), ks, at)))
    expect(flood.every((r) => r.status === 'rejected')).toBe(true)
    expect(calls).toBe(2)
    // One millisecond before the cooldown ends: still none.
    clock += 29_999
    await expect(verifyIdToken(forge('edge'), ks, at)).rejects.toMatchObject({ code: 'IDP_TOKEN_INVALID' })
    expect(calls).toBe(2)
    // After the cooldown, one more fetch for an unknown kid, not one per token.
    clock += 1
    await Promise.allSettled(Array.from({ length: 100 }, (_, i) => verifyIdToken(forge(`late-${i}`), ks, at)))
    expect(calls).toBe(3)
  })

  it('keeps verifying with known keys while the keys endpoint is down', async () => {
    const ks = keys(0)
    await ks.refresh()
    up = false
    try {
      await expect(verifyIdToken(await sign({}), ks, expect_)).resolves.toBeDefined()
    } finally {
      up = true
    }
  })
})

describe('discovery check', () => {
  const doc = { issuer: ISS, authorization_endpoint: `${ISS}/v1/authorize`, token_endpoint: `${ISS}/v1/token`, jwks_uri: `${ISS}/v1/keys` }
  it('requires the issuer to match exactly and shows both values', () => {
    expect(() => checkDiscovery(ISS + '/', doc)).toThrow(
      /"https:\/\/acme.okta.com\/oauth2\/default" but idp_provider_url is "https:\/\/acme.okta.com\/oauth2\/default\/"/,
    )
    expect(checkDiscovery(ISS, doc).issuer).toBe(ISS)
  })
  it('refuses http endpoints off loopback', () => {
    expect(() => checkDiscovery(ISS, { ...doc, token_endpoint: 'http://acme.okta.com/token' })).toThrow(/https/)
  })
})

describe('login state', () => {
  const k = loginStateKey(Buffer.alloc(32, 1))
  it('round-trips and expires', () => {
    const s = { state: 's', nonce: 'n', codeVerifier: 'v', returnTo: 'https://a/', redirectUri: 'https://a/cb', createdAtMs: 1000 }
    expect(openLoginState(sealLoginState(s, k), k, 2000)).toEqual(s)
    expect(openLoginState(sealLoginState(s, k), k, 1000 + 11 * 60_000)).toBeUndefined()
    expect(openLoginState(sealLoginState(s, k), loginStateKey(Buffer.alloc(32, 2)), 2000)).toBeUndefined()
  })
  it('opens any garbage to undefined, never throwing', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 5000 }), (g) => {
        expect(openLoginState(g, k, 0)).toBeUndefined()
      }),
    )
  })
})
