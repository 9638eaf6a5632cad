import { beforeAll, describe, expect, it } from 'vitest'
import { createHmac, createPublicKey } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK } from 'jose'
import { createBearerVerifier, createKeySet, type BearerServer } from '../../../src/identity/index.js'
import type { RouteBearer } from '../../../src/config/types.js'
import { policy, req } from '../policy/helpers.js'

const ISS = 'https://acme.okta.com/oauth2/default'
const AT: Extract<RouteBearer, { format: 'idp_access_token' }> = { format: 'idp_access_token', allowedAudiences: ['api://default'], passToken: false }
const ID: Extract<RouteBearer, { format: 'idp_identity_token' }> = { format: 'idp_identity_token', passToken: false }

let now = Date.parse('2026-12-02T12:00:00Z')
let signing: CryptoKey
let stranger: CryptoKey
let published: JWK[]
let jwksFetches = 0

/** The IdP's key set, over an injected fetch that serves its JWKS and counts the fetches. */
function keySet(cooldownMs = 30_000) {
  return createKeySet({
    jwksUri: new URL('https://acme.okta.com/oauth2/default/v1/keys'),
    fetch: async () => {
      jwksFetches++
      return new Response(JSON.stringify({ keys: published }), { headers: { 'content-type': 'application/json' } })
    },
    now: () => now,
    cooldownMs,
  })
}

function verifier(over: Partial<BearerServer> = {}, maxEntries?: number) {
  const keys = keySet()
  const server: BearerServer = { issuer: ISS, keys, introspect: undefined, isOrgServer: false, ...over }
  return createBearerVerifier({
    server: async () => server,
    now: () => now,
    clientId: '0oa-web',
    identity: { groupsClaim: 'groups', groupsFilter: undefined },
    ...(maxEntries === undefined ? {} : { maxEntries }),
  })
}

function at(claims: Record<string, unknown> = {}, key = signing, header: Record<string, unknown> = { alg: 'RS256', kid: 'k1' }): Promise<string> {
  const iat = Math.floor(now / 1000)
  return new SignJWT({
    iss: ISS,
    aud: 'api://default',
    sub: 'alice@corp.com',
    uid: '00u-alice',
    cid: '0oa-web',
    scp: ['openid', 'reports.read'],
    iat,
    exp: iat + 3600,
    ...claims,
  })
    .setProtectedHeader(header as { alg: string })
    .sign(key)
}
const machineToken = (claims: Record<string, unknown> = {}) => at({ sub: '0oa-bot', uid: undefined, cid: '0oa-bot', scp: ['reports.read'], ...claims })

beforeAll(async () => {
  const a = await generateKeyPair('RS256', { extractable: true })
  const b = await generateKeyPair('RS256', { extractable: true })
  signing = a.privateKey
  stranger = b.privateKey
  published = [{ ...(await exportJWK(a.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }]
})

describe('access tokens, verified offline', () => {
  it('a user token is that user: user = uid, email = sub (the login), claim/* as sent', async () => {
    const r = await verifier().verify(await at({ groups: ['eng'] }), AT)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.identity).toMatchObject({ kind: 'user', sub: '00u-alice', email: 'alice@corp.com', groups: ['eng'] })
    expect(r.identity.unknown).toBeUndefined()
    expect(r.identity.claims.scp).toEqual(['openid', 'reports.read'])
  })

  it('a user token without a groups claim has unknown groups, saying why', async () => {
    const r = await verifier().verify(await at(), AT)
    expect(r.ok && r.identity.unknown?.groups).toMatch(/carries no "groups" claim/)
  })

  it('a groups claim at the cap of 100 may be incomplete', async () => {
    const groups = Array.from({ length: 100 }, (_, i) => `g${i}`)
    const r = await verifier().verify(await at({ groups }), AT)
    expect(r.ok && r.identity.unknown?.groups).toBe("the groups from Okta may be incomplete (100 groups, the claim's cap)")
  })

  it('a client-credentials token is a machine: authenticated, claim/* known, email/user/groups unknown', async () => {
    const r = await verifier().verify(await machineToken(), AT)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.identity).toMatchObject({ kind: 'machine', sub: '0oa-bot', email: undefined })
    const p = (yaml: string) => policy(yaml).evaluate(r.identity, req(), now)
    expect(p('allow: {and: [{claim/cid: {in: [0oa-bot]}}, {claim/scp: reports.read}]}').outcome).toBe('allow')
    expect(p('allow: {and: [{authenticated_user: true}]}').outcome).toBe('allow')
    const denied = p('[{allow: {or: [{authenticated_user: true}]}}, {deny: {or: [{email: {ends_with: "@contractor.com"}}]}}]')
    expect(denied).toMatchObject({ outcome: 'deny', because: 'deny-unknown', criterion: 'email' })
    expect(denied.reason).toMatch(/a machine token \(client credentials\) has no email/)
  })

  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const refused: Array<[string, () => Promise<string>, RegExp]> = [
    ['wrong audience', () => at({ aud: 'api://other' }), /audience is not accepted/],
    ['wrong issuer', () => at({ iss: 'https://evil.okta.com/oauth2/default' }), /not issued by the configured issuer/],
    ['another custom server of the same org', () => at({ iss: 'https://acme.okta.com/oauth2/aus-other' }), /not issued by the configured issuer/],
    ['expired past the 60 s leeway', () => at({ exp: Math.floor(now / 1000) - 61 }), /has expired/],
    ['not valid yet', () => at({ nbf: Math.floor(now / 1000) + 120 }), /not valid yet/],
    ['issued in the future', () => at({ iat: Math.floor(now / 1000) + 120 }), /issued in the future/],
    ['an ID token (no client id)', () => at({ cid: undefined, aud: 'api://default' }), /not an access token/],
    ['signed by a key the issuer never published', () => at({}, stranger, { alg: 'RS256', kid: 'k-stranger' }), /key the issuer does not publish/],
    ['signed by an unpublished key under a published kid', () => at({}, stranger), /signature does not verify/],
    ['alg none', async () => new UnsecuredJWT({ iss: ISS, aud: 'api://default', sub: 'x', cid: 'c', iat: 1, exp: 9e9 }).encode(), /algorithm|malformed/],
    [
      'HS256 with the public key as the secret',
      async () => {
        const pem = createPublicKey({ key: published[0] as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
        const h = b64({ alg: 'HS256', kid: 'k1' })
        const p = b64({ iss: ISS, aud: 'api://default', sub: 'x', cid: 'c', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 60 })
        return `${h}.${p}.${createHmac('sha256', pem).update(`${h}.${p}`).digest('base64url')}`
      },
      /algorithm/,
    ],
    ['garbage', async () => 'not-a-token', /not a JWT and the issuer offers no introspection/],
    ['three dots of garbage', async () => 'a.b.c', /malformed/],
  ]
  for (const [name, make, why] of refused) {
    it(`refuses: ${name}`, async () => {
      const r = await verifier().verify(await make(), AT)
      expect(r.ok).toBe(false)
      if (r.ok) return
      expect(r.status).toBe(401)
      expect(r.description).toMatch(why)
      expect(r.description).not.toMatch(/["\r\n]/)
    })
  }

  it('a verified token is cached by digest: no second key fetch or signature check, and the audience is checked per route', async () => {
    const v = verifier()
    const token = await at()
    jwksFetches = 0
    expect(v.peek(token, AT)).toBeUndefined()
    expect((await v.verify(token, AT)).ok).toBe(true)
    expect((await v.verify(token, AT)).ok).toBe(true)
    // Cached: answered without a promise, and the key is a digest, never the token.
    const hit = v.peek(token, AT)
    expect(hit).toMatchObject({ ok: true, identity: { sub: '00u-alice' } })
    expect(hit?.ok === true && hit.key).not.toContain(token.slice(0, 20))
    expect(v.size).toBe(1)
    expect(jwksFetches).toBe(1)
    const other = await v.verify(token, { ...AT, allowedAudiences: ['api://reports'] })
    expect(other).toMatchObject({ ok: false, status: 401 })
  })

  it('a cached token stops working when it expires', async () => {
    const v = verifier()
    const token = await at({ exp: Math.floor(now / 1000) + 10 })
    expect((await v.verify(token, AT)).ok).toBe(true)
    const saved = now
    now += 71_000
    try {
      expect(await v.verify(token, AT)).toMatchObject({ ok: false, description: expect.stringMatching(/expired/) })
    } finally {
      now = saved
    }
  })

  it('the cache is bounded', async () => {
    const v = verifier({}, 3)
    for (let i = 0; i < 6; i++) expect((await v.verify(await at({ jti: `t${i}` }), AT)).ok).toBe(true)
    expect(v.size).toBe(3)
  })

  it('a flood of unknown kids costs at most one key fetch per cooldown', async () => {
    const v = verifier()
    await v.verify(await at(), AT)
    jwksFetches = 0
    const forged = await Promise.all(Array.from({ length: 20 }, (_, i) => at({}, stranger, { alg: 'RS256', kid: `forged-${i}` })))
    const results = await Promise.all(forged.map((t) => v.verify(t, AT)))
    expect(results.every((r) => !r.ok && r.status === 401)).toBe(true)
    expect(jwksFetches).toBeLessThanOrEqual(1)
  })
})

describe('access tokens through introspection', () => {
  const answers = new Map<string, Record<string, unknown>>()
  let calls = 0
  const introspect = async (token: string) => {
    calls++
    return answers.get(token) ?? { active: false }
  }

  it('an org-server token is asked about at the introspection endpoint, and the answer cached for at most 5 minutes', async () => {
    const v = verifier({ isOrgServer: true, issuer: 'https://acme.okta.com', introspect })
    const exp = Math.floor(now / 1000) + 3600
    answers.set('opaque-1', {
      active: true,
      iss: 'https://acme.okta.com',
      aud: 'api://default',
      sub: 'alice@corp.com',
      username: 'alice@corp.com',
      uid: '00u-alice',
      client_id: '0oa-web',
      scope: 'openid reports.read',
      exp,
      iat: exp - 3600,
      token_type: 'Bearer',
    })
    calls = 0
    const r = await v.verify('opaque-1', AT)
    expect(r).toMatchObject({
      ok: true,
      identity: { kind: 'user', sub: '00u-alice', email: 'alice@corp.com', claims: { scp: ['openid', 'reports.read'], cid: '0oa-web' } },
    })
    await v.verify('opaque-1', AT)
    expect(calls).toBe(1)
    const saved = now
    now += 5 * 60_000 + 1
    try {
      await v.verify('opaque-1', AT)
      expect(calls).toBe(2)
    } finally {
      now = saved
    }
  })

  it('an inactive token, another issuer, or a refresh token is refused', async () => {
    const v = verifier({ isOrgServer: true, issuer: 'https://acme.okta.com', introspect })
    const base = { active: true, aud: 'api://default', sub: '0oa-bot', client_id: '0oa-bot', exp: Math.floor(now / 1000) + 60 }
    answers.set('other-iss', { ...base, iss: 'https://evil.okta.com' })
    answers.set('refresh', { ...base, iss: 'https://acme.okta.com', token_type: 'refresh_token' })
    expect(await v.verify('never-issued', AT)).toMatchObject({ ok: false, status: 401, description: expect.stringMatching(/not active/) })
    expect(await v.verify('other-iss', AT)).toMatchObject({ ok: false, status: 401, description: expect.stringMatching(/issuer/) })
    expect(await v.verify('refresh', AT)).toMatchObject({ ok: false, status: 401, description: expect.stringMatching(/not an access token/) })
  })

  it('a JWT from another issuer is refused without asking the IdP', async () => {
    const v = verifier({ isOrgServer: true, issuer: 'https://acme.okta.com', introspect })
    calls = 0
    expect(await v.verify(await at({ iss: 'https://evil.okta.com' }), AT)).toMatchObject({ ok: false, status: 401 })
    expect(calls).toBe(0)
  })

  it('the IdP unreachable is 503, not a verdict on the token, and nothing is cached', async () => {
    const v = verifier({
      isOrgServer: true,
      issuer: 'https://acme.okta.com',
      introspect: async () => {
        throw new TypeError('fetch failed', { cause: new Error('ECONNREFUSED') })
      },
    })
    expect(await v.verify('opaque-1', AT)).toMatchObject({ ok: false, status: 503 })
    expect(v.size).toBe(0)
  })
})

describe('ID tokens as bearer credentials', () => {
  const idt = (claims: Record<string, unknown> = {}) => {
    const iat = Math.floor(now / 1000)
    return new SignJWT({ iss: ISS, aud: '0oa-web', sub: '00u-alice', email: 'alice@corp.com', groups: ['eng'], iat, exp: iat + 3600, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(signing)
  }
  it('an ID token for idp_client_id is its user, no nonce needed', async () => {
    const r = await verifier().verify(await idt(), ID)
    expect(r).toMatchObject({ ok: true, identity: { kind: 'user', sub: '00u-alice', email: 'alice@corp.com', groups: ['eng'] } })
  })
  it('an ID token for another client, or an access token, is refused', async () => {
    expect(await verifier().verify(await idt({ aud: '0oa-other' }), ID)).toMatchObject({ ok: false, status: 401 })
    expect(await verifier().verify(await at(), ID)).toMatchObject({ ok: false, status: 401 })
  })
  it('an unverified email is unknown', async () => {
    const r = await verifier().verify(await idt({ email_verified: false }), ID)
    expect(r.ok && r.identity.unknown?.email).toBe('the email is not verified')
  })
})
