/**
 * The local IdP over time, as Okta: refresh tokens (only with
 * offline_access and the grant; rotating with a grace period, reuse revokes
 * the family; or persistent), refresh errors in Okta's words, rate limits,
 * logout rules, key rotation, private_key_jwt checks and the admin surface.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, exportJWK, SignJWT } from 'jose'
import { startDevIdp, type DevIdp } from '../../src/devidp/index.js'
import { base, signInForTokens, tokenRequest } from '../helpers/okta-flow.js'

const CB = 'http://app.localhost/cb'
const OUT = 'http://app.localhost/signed_out'
let offsetMs = 0
let idp: DevIdp
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })

beforeAll(async () => {
  idp = await startDevIdp({
    now: () => Date.now() + offsetMs,
    model: {
      users: [
        { username: 'alice', password: 'alice', id: '00u1alice', email: 'alice@example.com', groups: ['admin'] },
        { username: 'bob', password: 'bob', id: '00u1bob', email: 'bob@example.com', groups: ['eng'] },
        { username: 'carol', password: 'carol', id: '00u1carol', email: 'carol@example.com', groups: ['eng'] },
      ],
      apps: [
        {
          client_id: 'rotating',
          client_secret: 's',
          redirect_uris: [CB],
          post_logout_redirect_uris: [OUT],
          refresh_token: { rotation: 'rotate', grace_period_seconds: 30 },
        },
        { client_id: 'persistent', client_secret: 's', redirect_uris: [CB] },
        { client_id: 'nogrant', client_secret: 's', redirect_uris: [CB], grant_types: ['authorization_code'] },
        {
          client_id: 'pkjwt',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] },
          redirect_uris: [CB],
        },
      ],
    },
  })
})
afterAll(() => idp.close())

const login = (clientId: string, username: string, scope = 'openid offline_access') =>
  signInForTokens(idp, { clientId, secret: 's', redirectUri: CB, scope, username })
const refresh = (clientId: string, token: string, secret = 's') =>
  tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: token }, { clientId, secret })

describe('refresh tokens', () => {
  it('come only with offline_access and the Refresh Token grant on the app', async () => {
    expect((await login('persistent', 'alice', 'openid')).body.refresh_token).toBeUndefined()
    expect((await login('nogrant', 'alice')).body.refresh_token).toBeUndefined()
    expect(typeof (await login('persistent', 'alice')).body.refresh_token).toBe('string')
  })

  it('persistent (the web-app default): the same token comes back and keeps working', async () => {
    const rt = String((await login('persistent', 'alice')).body.refresh_token)
    const r1 = await refresh('persistent', rt)
    expect(r1.status).toBe(200)
    expect(r1.body.refresh_token).toBe(rt)
    expect((await refresh('persistent', rt)).status).toBe(200)
  })

  it('rotating: a new token each time, the old one works for the grace period, reuse after it revokes the whole family', async () => {
    offsetMs = 0
    const rt1 = String((await login('rotating', 'alice')).body.refresh_token)
    const r2 = await refresh('rotating', rt1)
    const rt2 = String(r2.body.refresh_token)
    expect(rt2).not.toBe(rt1)
    // Within 30 s the previous token still works (a second tab refreshing at once).
    expect((await refresh('rotating', rt1)).status).toBe(200)
    const rt3 = String((await refresh('rotating', rt2)).body.refresh_token)
    offsetMs = 31_000
    const reuse = await refresh('rotating', rt1)
    expect(reuse.body).toEqual({ error: 'invalid_grant', error_description: 'The refresh token is invalid or expired.' })
    // The family is gone: even the newest token fails now.
    expect((await refresh('rotating', rt3)).body.error).toBe('invalid_grant')
    offsetMs = 0
  })

  it('fail in Okta’s words: deactivated or unassigned user (invalid_grant), rotated secret (invalid_client), grant removed (unauthorized_client)', async () => {
    const rtBob = String((await login('persistent', 'bob')).body.refresh_token)
    idp.admin.deactivateUser('bob')
    expect((await refresh('persistent', rtBob)).body).toEqual({ error: 'invalid_grant', error_description: 'The refresh token is invalid or expired.' })
    idp.admin.activateUser('bob')

    const rtCarol = String((await login('persistent', 'carol')).body.refresh_token)
    idp.admin.unassignUser('persistent', 'carol')
    expect((await refresh('persistent', rtCarol)).body.error).toBe('invalid_grant')
    idp.admin.assignUser('persistent', 'carol')

    const rt = String((await login('rotating', 'alice')).body.refresh_token)
    const fresh = idp.admin.rotateClientSecret('rotating')
    const r = await refresh('rotating', rt)
    expect(r.status).toBe(401)
    expect(r.body).toEqual({ error: 'invalid_client', error_description: 'The client secret supplied for a confidential client is invalid.' })
    expect((await refresh('rotating', rt, fresh)).status).toBe(200)
    idp.admin.rotateClientSecret('rotating', { secret: 's' })

    const rt4 = String((await login('persistent', 'alice')).body.refresh_token)
    idp.admin.setGrantEnabled('persistent', 'refresh_token', false)
    const g = await refresh('persistent', rt4)
    expect(g.body).toEqual({
      error: 'unauthorized_client',
      error_description: 'The client is not authorized to use the provided grant type. Configured grant types: [authorization_code].',
    })
    idp.admin.setGrantEnabled('persistent', 'refresh_token', true)
  })
})

describe('rate limits', () => {
  it('answer 429 with X-Rate-Limit-* and Okta’s errorCode/errorSummary body, then recover', async () => {
    idp.admin.setRateLimit('token', { limit: 1, windowSeconds: 60 })
    try {
      const first = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: 'x' }, { clientId: 'persistent', secret: 's' })
      expect(first.headers.get('x-rate-limit-remaining')).toBe('0')
      const limited = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: 'x' }, { clientId: 'persistent', secret: 's' })
      expect(limited.status).toBe(429)
      expect(limited.body).toMatchObject({ errorCode: 'E0000047', errorSummary: 'API call exceeded rate limit due to too many requests.' })
      expect(limited.body.error).toBeUndefined()
      expect(limited.headers.get('x-rate-limit-limit')).toBe('1')
      expect(Number(limited.headers.get('x-rate-limit-reset'))).toBeGreaterThan(Date.now() / 1000)
    } finally {
      idp.admin.setRateLimit('token', undefined)
    }
    expect((await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: 'x' }, { clientId: 'persistent', secret: 's' })).status).toBe(400)
  })
})

describe('logout', () => {
  const logoutUrl = (q: Record<string, string>) => `${base(idp)}/logout?${new URLSearchParams(q)}`

  it('requires id_token_hint and a registered post_logout_redirect_uri; accepts an expired hint and echoes state', async () => {
    const t = await login('rotating', 'alice', 'openid')
    const hint = String(t.body.id_token)
    const missing = await fetch(logoutUrl({ post_logout_redirect_uri: OUT }), { redirect: 'manual' })
    expect(missing.status).toBe(400)
    const foreign = await fetch(logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: 'http://evil.example/' }), { redirect: 'manual' })
    expect(foreign.status).toBe(400)
    offsetMs = 2 * 3600_000
    const ok = await fetch(logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: OUT, state: 'xyz' }), { redirect: 'manual' })
    offsetMs = 0
    expect(ok.status).toBe(302)
    expect(ok.headers.get('location')).toBe(`${OUT}?state=xyz`)
  })
})

describe('signing keys', () => {
  it('publish-ahead: the next key is in /keys before it signs; then it signs and the old one stays published', async () => {
    const keysNow = async () => ((await (await fetch(`${base(idp)}/keys`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
    const before = idp.admin.currentKid('default')
    const next = await idp.admin.rotateKeys('default', 'publish-ahead')
    expect(await keysNow()).toEqual(expect.arrayContaining([before, next]))
    expect(decodeProtectedHeader(String((await login('persistent', 'alice', 'openid')).body.id_token)).kid).toBe(before)
    expect(await idp.admin.rotateKeys('default', 'activate')).toBe(next)
    expect(decodeProtectedHeader(String((await login('persistent', 'alice', 'openid')).body.id_token)).kid).toBe(next)
    expect(await keysNow()).toEqual(expect.arrayContaining([before, next]))
  })

  it('emergency: a key never published signs at once', async () => {
    const published = ((await (await fetch(`${base(idp)}/keys`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
    const kid = await idp.admin.rotateKeys('default', 'emergency')
    expect(published).not.toContain(kid)
    expect(decodeProtectedHeader(String((await login('persistent', 'alice', 'openid')).body.id_token)).kid).toBe(kid)
  })
})

describe('private_key_jwt', () => {
  const assertion = (o: { iat?: number }, aud = `${base(idp)}/token`) =>
    new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('pkjwt')
      .setSubject('pkjwt')
      .setAudience(aud)
      .setIssuedAt(o.iat ?? Math.floor(Date.now() / 1000))
      .setExpirationTime('5m')
      .sign(privateKey)
  const send = async (jwt: string) =>
    tokenRequest(
      idp,
      {
        grant_type: 'refresh_token',
        refresh_token: 'x',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: jwt,
      },
      { clientId: 'pkjwt' },
    )

  it('needs aud = the token endpoint itself, a fresh jti and no iat in the future', async () => {
    const good = await assertion({})
    expect((await send(good)).body.error).toBe('invalid_grant') // authenticated: the refresh token is what fails
    expect((await send(good)).body.error).toBe('invalid_client') // the same jti again
    expect((await send(await assertion({}, idp.issuer))).body.error).toBe('invalid_client')
    expect((await send(await assertion({ iat: Math.floor(Date.now() / 1000) + 600 }))).body.error).toBe('invalid_client')
  })
})

describe('the admin surface over HTTP', () => {
  it('changes a user’s groups for the next sign-in', async () => {
    const res = await fetch(`${idp.url}/devidp/admin/setUserGroups`, { method: 'POST', body: JSON.stringify({ args: ['bob', ['eng', 'ops']] }) })
    expect(res.status).toBe(200)
    expect(decodeJwt(String((await login('persistent', 'bob', 'openid')).body.id_token)).groups).toEqual(['eng', 'ops'])
    const bad = await fetch(`${idp.url}/devidp/admin/nosuch`, { method: 'POST', body: '{}' })
    expect(bad.status).toBe(404)
  })
})
