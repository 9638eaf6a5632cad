/**
 * The local IdP's machine side, as Okta: API Services apps with client
 * credentials and private_key_jwt, custom scopes, access tokens with cid/scp
 * and no uid, introspection, and the management API that lists a user's
 * groups (SSWS or an org-server service-app token, Link pagination, 429).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { decodeJwt, exportJWK } from 'jose'
import { startDevIdp, type DevIdp } from '../../src/devidp/index.js'
import { base } from '../helpers/okta-flow.js'
import { clientAssertion, clientCredentials } from '../helpers/service-app.js'

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
const MANY = Array.from({ length: 250 }, (_, i) => `team-${String(i + 1).padStart(3, '0')}`)
let idp: DevIdp

beforeAll(async () => {
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'bot-key' }] }
  idp = await startDevIdp({
    model: {
      users: [
        { username: 'alice', password: 'alice', id: '00u1alice', email: 'alice@example.com', groups: ['admin'] },
        { username: 'many', password: 'many', id: '00u1many', email: 'many@example.com', groups: MANY },
      ],
      apps: [
        { client_id: 'web', client_secret: 's', redirect_uris: ['http://app.localhost/cb'] },
        { client_id: 'bot', token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], jwks, redirect_uris: [] },
        { client_id: 'stranger', token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], jwks, redirect_uris: [] },
        {
          client_id: 'directory',
          token_endpoint_auth_method: 'private_key_jwt',
          grant_types: ['client_credentials'],
          jwks,
          redirect_uris: [],
          okta_api_scopes: ['okta.groups.read', 'okta.users.read'],
        },
        {
          client_id: 'usersonly',
          token_endpoint_auth_method: 'private_key_jwt',
          grant_types: ['client_credentials'],
          jwks,
          redirect_uris: [],
          okta_api_scopes: ['okta.groups.read'],
        },
      ],
      servers: [
        {
          id: 'default',
          audience: 'api://default',
          scopes: ['reports.read', 'reports.write'],
          claims: [{ name: 'groups', value: { filter: { regex: '.*' } }, include_in: 'both' }],
          policies: [
            { name: 'bots', clients: ['bot'], rules: [{ grant_types: ['client_credentials'], scopes: ['reports.read'] }] },
            { name: 'people', clients: ['web'], rules: [{ grant_types: ['authorization_code', 'refresh_token'] }] },
          ],
        },
      ],
      api_tokens: [{ token: '00ssws-token', name: 'gatehouse directory' }],
    },
  })
})
afterAll(() => idp.close())

const tokenUrl = (server = 'default') => `${base(idp, server)}/token`

describe('client credentials with private_key_jwt', () => {
  it('gives a machine token: sub = cid = the client id, scp, the server audience, no uid', async () => {
    const r = await clientCredentials(tokenUrl(), 'bot', privateKey, 'reports.read')
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ token_type: 'Bearer', scope: 'reports.read', expires_in: 3600 })
    expect(r.body.id_token).toBeUndefined()
    expect(r.body.refresh_token).toBeUndefined()
    const claims = decodeJwt(r.body.access_token as string)
    expect(claims).toMatchObject({ iss: idp.issuer, aud: 'api://default', sub: 'bot', cid: 'bot', scp: ['reports.read'] })
    expect(claims.uid).toBeUndefined()
  })

  const refusals: Array<[string, () => Promise<{ status: number; body: Record<string, unknown> }>, number, string]> = [
    [
      'an assertion for another audience',
      async () => clientCredentials(tokenUrl(), 'bot', privateKey, 'reports.read', await clientAssertion(privateKey, 'bot', tokenUrl(), { aud: idp.issuer })),
      401,
      'invalid_client',
    ],
    [
      'an assertion that lives past an hour',
      async () =>
        clientCredentials(
          tokenUrl(),
          'bot',
          privateKey,
          'reports.read',
          await clientAssertion(privateKey, 'bot', tokenUrl(), { expS: Math.floor(Date.now() / 1000) + 7200 }),
        ),
      401,
      'invalid_client',
    ],
    ['an assertion signed by a key the app does not have', () => clientCredentials(tokenUrl(), 'bot', other.privateKey, 'reports.read'), 401, 'invalid_client'],
    ['an OpenID scope', () => clientCredentials(tokenUrl(), 'bot', privateKey, 'openid reports.read'), 400, 'invalid_scope'],
    ['no scope', () => clientCredentials(tokenUrl(), 'bot', privateKey, ''), 400, 'invalid_scope'],
    ['a scope the server does not define', () => clientCredentials(tokenUrl(), 'bot', privateKey, 'payroll.read'), 400, 'invalid_scope'],
    ['a scope no policy rule grants this client', () => clientCredentials(tokenUrl(), 'bot', privateKey, 'reports.write'), 400, 'access_denied'],
    ['a client no policy covers', () => clientCredentials(tokenUrl(), 'stranger', privateKey, 'reports.read'), 400, 'access_denied'],
    ['a custom scope at the org server', () => clientCredentials(tokenUrl('org'), 'directory', privateKey, 'reports.read'), 400, 'invalid_scope'],
    ['an Okta API scope not granted to the app', () => clientCredentials(tokenUrl('org'), 'usersonly', privateKey, 'okta.users.read'), 400, 'invalid_scope'],
  ]
  for (const [name, run, status, error] of refusals) {
    it(`refuses ${name}`, async () => {
      const r = await run()
      expect(r.status).toBe(status)
      expect(r.body.error).toBe(error)
    })
  }

  it('refuses an assertion used twice (jti once)', async () => {
    const a = await clientAssertion(privateKey, 'bot', tokenUrl(), { jti: randomUUID() })
    expect((await clientCredentials(tokenUrl(), 'bot', privateKey, 'reports.read', a)).status).toBe(200)
    const again = await clientCredentials(tokenUrl(), 'bot', privateKey, 'reports.read', a)
    expect(again).toMatchObject({ status: 401, body: { error: 'invalid_client' } })
  })
})

async function introspect(token: string, server = 'default', auth = 'web:s') {
  const res = await fetch(`${base(idp, server)}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(auth).toString('base64')}` },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('introspection', () => {
  it('is listed in discovery on both server kinds', async () => {
    for (const url of [`${idp.orgIssuer}/.well-known/openid-configuration`, `${idp.issuer}/.well-known/openid-configuration`]) {
      const doc = (await (await fetch(url)).json()) as Record<string, unknown>
      expect(doc.introspection_endpoint).toMatch(/\/v1\/introspect$/)
    }
  })
  it("answers active with RFC 7662's names for a live token, inactive for anything else, and needs client authentication", async () => {
    const t = (await clientCredentials(tokenUrl(), 'bot', privateKey, 'reports.read')).body.access_token as string
    expect((await introspect(t)).body).toMatchObject({
      active: true,
      client_id: 'bot',
      scope: 'reports.read',
      sub: 'bot',
      token_type: 'Bearer',
      aud: 'api://default',
    })
    expect((await introspect('no-such-token')).body).toEqual({ active: false })
    expect((await introspect(t, 'org')).body).toEqual({ active: false })
    expect((await introspect(t, 'default', 'web:wrong')).status).toBe(401)
  })
})

async function api(path: string, authorization: string) {
  const res = await fetch(`${idp.url}${path}`, { headers: { authorization, accept: 'application/json' } })
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown }
}

describe('management API', () => {
  const nextOf = (link: string | null) => /<([^>]+)>;\s*rel="next"/.exec(link ?? '')?.[1]

  it("lists a user's 250 groups in pages of 200 linked by rel=next, Everyone included, names in profile.name", async () => {
    const first = await api('/api/v1/users/00u1many/groups?limit=200', 'SSWS 00ssws-token')
    expect(first.status).toBe(200)
    expect((first.body as unknown[]).length).toBe(200)
    const next = nextOf(first.headers.get('link'))
    expect(next).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/users\/00u1many\/groups\?after=/)
    const second = await api(new URL(next as string).pathname + new URL(next as string).search, 'SSWS 00ssws-token')
    expect((second.body as unknown[]).length).toBe(51)
    expect(nextOf(second.headers.get('link'))).toBeUndefined()
    const names = [...(first.body as Array<{ profile: { name: string } }>), ...(second.body as Array<{ profile: { name: string } }>)].map((g) => g.profile.name)
    expect(names).toEqual(['Everyone', ...MANY])
  })

  it('accepts an org-server service-app token with the right scope, refuses one without it and any custom-server token', async () => {
    const org = (await clientCredentials(tokenUrl('org'), 'directory', privateKey, 'okta.groups.read okta.users.read')).body.access_token as string
    expect(decodeJwt(org)).toMatchObject({ iss: idp.orgIssuer, cid: 'directory', scp: ['okta.groups.read', 'okta.users.read'] })
    expect((await api('/api/v1/users/00u1alice/groups', `Bearer ${org}`)).status).toBe(200)
    const narrow = (await clientCredentials(tokenUrl('org'), 'usersonly', privateKey, 'okta.groups.read')).body.access_token as string
    const forbidden = await api('/api/v1/users/00u1alice/groups', `Bearer ${narrow}`)
    expect(forbidden).toMatchObject({ status: 403, body: { errorCode: 'E0000006' } })
    expect((await api('/api/v1/groups?limit=1', `Bearer ${narrow}`)).status).toBe(200)
    const custom = (await clientCredentials(tokenUrl(), 'bot', privateKey, 'reports.read')).body.access_token as string
    expect(await api('/api/v1/users/00u1alice/groups', `Bearer ${custom}`)).toMatchObject({ status: 401, body: { errorCode: 'E0000011' } })
    expect((await api('/api/v1/users/00u1alice/groups', 'SSWS wrong')).status).toBe(401)
    expect(await api('/api/v1/users/nobody/groups', 'SSWS 00ssws-token')).toMatchObject({ status: 404, body: { errorCode: 'E0000007' } })
  })

  it('answers 429 with X-Rate-Limit-* past the limit', async () => {
    idp.admin.setRateLimit('api', { limit: 1, windowSeconds: 60 })
    try {
      const ok = await api('/api/v1/users/00u1alice/groups', 'SSWS 00ssws-token')
      expect(ok.headers.get('x-rate-limit-remaining')).toBe('0')
      const limited = await api('/api/v1/users/00u1alice/groups', 'SSWS 00ssws-token')
      expect(limited.status).toBe(429)
      expect(limited.body).toMatchObject({ errorCode: 'E0000047' })
      expect(Number(limited.headers.get('x-rate-limit-reset'))).toBeGreaterThan(Date.now() / 1000)
    } finally {
      idp.admin.setRateLimit('api', undefined)
    }
  })
})
