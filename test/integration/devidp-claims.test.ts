/**
 * The local IdP behaves like Okta where a relying party can tell: both
 * server kinds, the groups claim as each configures it, the 100-group rules,
 * access policies and the tokens' shape. All over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose'
import { startDevIdp, type DevIdp } from '../../src/devidp/index.js'
import { authorize, signInForTokens, userinfo } from '../helpers/okta-flow.js'

const CB = 'http://app.localhost/cb'
const many = Array.from({ length: 150 }, (_, i) => `team-${String(i).padStart(3, '0')}`)
let idp: DevIdp

beforeAll(async () => {
  idp = await startDevIdp({
    model: {
      users: [
        { username: 'alice', password: 'alice', id: '00u1alice', email: 'alice@example.com', name: 'Alice', groups: ['admin', 'eng', 'eng-ops'] },
        { username: 'bob', password: 'bob', id: '00u1bob', email: 'bob@example.com', groups: ['eng'], email_verified: false },
        { username: 'mallory', password: 'mallory', id: '00u1mal', email: 'mallory@example.com', groups: many },
      ],
      apps: [
        { client_id: 'web', client_secret: 's', redirect_uris: [CB], groups_claim: { filter: { starts_with: 'eng' } } },
        { client_id: 'spa', client_secret: 's', redirect_uris: [CB], grant_types: ['authorization_code', 'implicit'] },
        { client_id: 'other', client_secret: 's', redirect_uris: [CB] },
      ],
      servers: [
        {
          id: 'default',
          claims: [
            { name: 'groups', value: { filter: { regex: 'team-.*|admin|eng' } }, include_in: 'both', scopes: 'any' },
            { name: 'Teams', value: { expression: 'Groups.startsWith("OKTA", "team-", 100)' }, include_in: 'id', scopes: ['teams'] },
          ],
          scopes: ['teams'],
          policies: [{ name: 'only web and spa', clients: ['web', 'spa'], rules: [{ access_token_lifetime_seconds: 600 }] }],
        },
        {
          id: 'aus2scoped',
          audience: 'api://scoped',
          scopes: ['groups'],
          claims: [{ name: 'groups', value: { filter: { equals: 'admin' } }, include_in: 'id', scopes: ['groups'] }],
          policies: [{ clients: 'all', rules: [{ scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'] }] }],
        },
        {
          id: 'aus3broken',
          claims: [{ name: 'groups', value: { expression: 'Groups.startsWith("OKTA", "team-", 200)' }, include_in: 'id' }],
          policies: [{ clients: 'all' }],
        },
      ],
    },
  })
})
afterAll(() => idp.close())

async function discovery(path: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${idp.url}${path}`)).json()) as Record<string, unknown>
}

describe('discovery: two server kinds on one IdP', () => {
  it('the org server sits at the root with /oauth2/v1 endpoints and always lists groups', async () => {
    const d = await discovery('/.well-known/openid-configuration')
    expect(d).toMatchObject({ issuer: idp.url, authorization_endpoint: `${idp.url}/oauth2/v1/authorize`, jwks_uri: `${idp.url}/oauth2/v1/keys` })
    expect(d.scopes_supported).toContain('groups')
  })

  it('a custom server has {issuer}/v1 endpoints and lists groups only when that scope exists on it', async () => {
    const d = await discovery('/oauth2/default/.well-known/openid-configuration')
    expect(d).toMatchObject({ issuer: `${idp.url}/oauth2/default`, token_endpoint: `${idp.url}/oauth2/default/v1/token` })
    expect(d.scopes_supported).not.toContain('groups')
    expect((await discovery('/oauth2/aus2scoped/.well-known/openid-configuration')).scopes_supported).toContain('groups')
    const missing = await fetch(`${idp.url}/oauth2/nosuch/.well-known/openid-configuration`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ errorCode: 'E0000007' })
  })
})

describe('the org server', () => {
  it('sends a thin ID token in the code flow; /userinfo has the profile, and the app groups claim only with the groups scope', async () => {
    const withGroups = await signInForTokens(idp, {
      server: 'org',
      clientId: 'web',
      secret: 's',
      redirectUri: CB,
      scope: 'openid profile email groups',
      username: 'alice',
    })
    expect(withGroups.status).toBe(200)
    const id = decodeJwt(String(withGroups.body.id_token))
    expect(id).toMatchObject({ iss: idp.url, sub: '00u1alice', aud: 'web', ver: 1 })
    expect(id.groups).toBeUndefined()
    expect(id.email).toBeUndefined()
    const info = await userinfo(idp, String(withGroups.body.access_token), 'org')
    expect(info.body).toMatchObject({ sub: '00u1alice', email: 'alice@example.com', name: 'Alice', groups: ['eng', 'eng-ops'] })

    const without = await signInForTokens(idp, {
      server: 'org',
      clientId: 'web',
      secret: 's',
      redirectUri: CB,
      scope: 'openid profile email',
      username: 'alice',
    })
    const info2 = await userinfo(idp, String(without.body.access_token), 'org')
    expect(info2.body.email).toBe('alice@example.com')
    expect(info2.body.groups).toBeUndefined()
  })

  it('issues access tokens meant for Okta only: audience the org, not verifiable with the published keys', async () => {
    const t = await signInForTokens(idp, { server: 'org', clientId: 'web', secret: 's', redirectUri: CB, scope: 'openid', username: 'alice' })
    const at = String(t.body.access_token)
    expect(decodeJwt(at).aud).toBe(idp.url)
    await expect(jwtVerify(at, createRemoteJWKSet(new URL(`${idp.url}/oauth2/v1/keys`)))).rejects.toThrow()
  })
})

describe('custom servers', () => {
  it('issue JWT access tokens for the audience with scp, cid, uid and sub = the login, for the policy rule’s lifetime', async () => {
    const t = await signInForTokens(idp, { clientId: 'web', secret: 's', redirectUri: CB, scope: 'openid profile email', username: 'alice' })
    const { payload } = await jwtVerify(String(t.body.access_token), createRemoteJWKSet(new URL(`${idp.issuer}/v1/keys`)), {
      issuer: idp.issuer,
      audience: 'api://default',
    })
    expect(payload).toMatchObject({ cid: 'web', uid: '00u1alice', sub: 'alice@example.com', scp: ['openid', 'profile', 'email'] })
    expect(payload.groups).toEqual(['admin', 'eng'])
    expect((payload.exp as number) - (payload.iat as number)).toBe(600)
    expect(t.body.expires_in).toBe(600)
    const id = decodeJwt(String(t.body.id_token))
    expect((id.exp as number) - (id.iat as number)).toBe(3600)
    expect(id).toMatchObject({ email: 'alice@example.com', email_verified: true, groups: ['admin', 'eng'] })
  })

  it('release a claim bound to a scope only with that scope; claim names are case-sensitive', async () => {
    const without = await signInForTokens(idp, { clientId: 'web', secret: 's', redirectUri: CB, scope: 'openid', username: 'mallory' })
    expect(decodeJwt(String(without.body.id_token)).Teams).toBeUndefined()
    const withScope = await signInForTokens(idp, { clientId: 'web', secret: 's', redirectUri: CB, scope: 'openid teams', username: 'mallory' })
    const id = decodeJwt(String(withScope.body.id_token))
    // A claim expression with a limit truncates there.
    expect((id.Teams as string[]).length).toBe(100)
    expect(id.teams).toBeUndefined()

    const scoped = await signInForTokens(idp, { server: 'aus2scoped', clientId: 'other', secret: 's', redirectUri: CB, scope: 'openid', username: 'alice' })
    expect(decodeJwt(String(scoped.body.id_token)).groups).toBeUndefined()
    const scoped2 = await signInForTokens(idp, {
      server: 'aus2scoped',
      clientId: 'other',
      secret: 's',
      redirectUri: CB,
      scope: 'openid groups',
      username: 'alice',
    })
    expect(decodeJwt(String(scoped2.body.id_token)).groups).toEqual(['admin'])
  })

  it('past 100 groups: the code flow is exempt, the implicit flow fails with Okta’s words, a limit over 100 cannot be evaluated', async () => {
    const code = await signInForTokens(idp, { clientId: 'web', secret: 's', redirectUri: CB, scope: 'openid', username: 'mallory' })
    expect((decodeJwt(String(code.body.id_token)).groups as string[]).length).toBe(150)
    const implicit = await authorize(idp, { clientId: 'spa', redirectUri: CB, scope: 'openid', responseType: 'id_token', username: 'mallory', pkce: false })
    expect(implicit.params.get('error_description')).toBe('The groups claim matched too many groups and must be configured to match fewer groups')
    const ok = await authorize(idp, { clientId: 'spa', redirectUri: CB, scope: 'openid', responseType: 'id_token', username: 'alice', pkce: false })
    expect(decodeJwt(ok.params.get('id_token') ?? '').groups).toEqual(['admin', 'eng'])
    const broken = await authorize(idp, { server: 'aus3broken', clientId: 'web', redirectUri: CB, scope: 'openid', username: 'mallory' })
    expect(broken.params.get('error_description')).toBe("The 'groups' user claim could not be evaluated.")
  })

  it('refuse a client no access-policy rule covers with access_denied "Policy evaluation failed…"', async () => {
    const a = await authorize(idp, { clientId: 'other', redirectUri: CB, scope: 'openid', username: 'alice' })
    expect(a.params.get('error')).toBe('access_denied')
    expect(a.params.get('error_description')).toBe('Policy evaluation failed for this request, please check the policy configurations.')
    expect(a.params.get('state')).toMatch(/^st-/)
    // A rule that allows only some scopes does not match a request for more.
    const b = await authorize(idp, { server: 'aus2scoped', clientId: 'other', redirectUri: CB, scope: 'openid phone', username: 'alice' })
    expect(b.params.get('error')).toBe('access_denied')
  })

  it('reject unknown scopes, an unregistered redirect URI and a missing state as Okta does', async () => {
    const a = await authorize(idp, { clientId: 'web', redirectUri: CB, scope: 'openid groups', username: 'alice' })
    expect(a.params.get('error')).toBe('invalid_scope')
    const b = await authorize(idp, { clientId: 'web', redirectUri: 'http://evil.example/cb', scope: 'openid', username: 'alice' })
    expect(b.page?.status).toBe(400)
    expect(b.page?.text).toContain('Login redirect URI')
    const c = await authorize(idp, { clientId: 'web', redirectUri: CB, scope: 'openid', extra: { state: '' } })
    expect(c.params.get('error')).toBe('invalid_request')
  })
})

describe('users', () => {
  it('carry email_verified from the model (true unless set to false)', async () => {
    const t = await signInForTokens(idp, { clientId: 'web', secret: 's', redirectUri: CB, scope: 'openid email', username: 'bob' })
    expect(decodeJwt(String(t.body.id_token))).toMatchObject({ email: 'bob@example.com', email_verified: false })
  })
})
