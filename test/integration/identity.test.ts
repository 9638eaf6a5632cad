import { afterAll, describe, expect, it } from 'vitest'
import { generateKeyPairSync } from 'node:crypto'
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK } from 'jose'
import { createIdentityProvider } from '../../src/identity/index.js'
import { startDevIdp, type DevIdp } from '../../src/devidp/index.js'
import { createHttpClient } from '../helpers/http-client.js'
import { signInAtIdp } from '../helpers/idp-login.js'
import { ROUTES_APP_ADMIN, startStack } from '../helpers/stack.js'
import type { Seen } from '../../src/demo/whoami.js'

const closers: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

/** The relying party alone against the IdP: begin → form → callback → tokens. */
async function codeFlow(idp: DevIdp, rp: ReturnType<typeof createIdentityProvider>, redirectUri: string) {
  const c = createHttpClient()
  const start = await rp.beginLogin(new URL('http://app.localhost/x'), redirectUri)
  const page = await c.follow(await c.get(start.authorizationUrl), start.authorizationUrl)
  const back = await signInAtIdp(c, page, { username: 'alice', password: 'alice' }, (u) => u.pathname === '/cb')
  // The last hop is the callback on the relying party, which is not running here.
  const callback = back.visited.find((u) => u.pathname === '/cb') ?? back.url
  return rp.completeLogin(callback, start.sealed)
}

describe('identity against the Okta-shaped IdP', () => {
  it("private_key_jwt: the client assertion's audience is the token endpoint itself, as Okta requires", async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const jwk = { ...(await exportJWK(publicKey)), alg: 'RS256', use: 'sig' }
    const idp = await startDevIdp({
      users: [{ username: 'alice', password: 'alice', email: 'alice@example.com', groups: ['admin'] }],
      clients: [{ client_id: 'pkjwt', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, redirect_uris: ['http://app.localhost/cb'] }],
    })
    closers.push(() => idp.close())
    const { rp, assertions } = privateKeyJwtProvider(idp.issuer, 'pkjwt', privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), [
      'openid',
      'email',
      'profile',
      'offline_access',
    ])
    const { signedIn } = await codeFlow(idp, rp, 'http://app.localhost/cb')
    expect(signedIn.groups).toEqual(['admin'])
    expect(assertions.length).toBeGreaterThan(0)
    expect(decodeJwt(assertions[0] as string).aud).toBe(`${idp.issuer}/v1/token`)
  })

  it('private_key_jwt: kid in the header, alg from the key’s curve, and iat not in the future by the IdP’s clock', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' })
    const idp = await startDevIdp({
      // The IdP's clock runs five minutes behind ours.
      now: () => Date.now() - 300_000,
      users: [{ username: 'alice', password: 'alice', email: 'alice@example.com', groups: ['admin'] }],
      clients: [
        {
          client_id: 'pk384',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [await exportJWK(publicKey)] },
          redirect_uris: ['http://app.localhost/cb'],
        },
      ],
    })
    closers.push(() => idp.close())
    const { rp, assertions } = privateKeyJwtProvider(idp.issuer, 'pk384', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), [
      'openid',
      'email',
      'profile',
    ])
    const { signedIn } = await codeFlow(idp, rp, 'http://app.localhost/cb')
    expect(signedIn.groups).toEqual(['admin'])
    const header = decodeProtectedHeader(assertions[0] as string)
    expect(header).toEqual({ alg: 'ES384', kid: await calculateJwkThumbprint(await exportJWK(publicKey)) })
    expect((decodeJwt(assertions[0] as string).iat as number) * 1000).toBeLessThanOrEqual(Date.now() - 300_000 + 1000)
  })

  it("thin ID tokens (Okta's org server): groups and profile come from userinfo", async () => {
    const idp = await startDevIdp({
      users: [{ username: 'alice', password: 'alice', email: 'alice@example.com', name: 'Alice', groups: ['admin', 'eng', 'Everyone'] }],
      clients: [{ client_id: 'thin', client_secret: 's', redirect_uris: ['http://app.localhost/cb'], groups_claim: { filter: { regex: '.*' } } }],
    })
    closers.push(() => idp.close())
    const rp = createIdentityProvider(
      {
        provider: 'okta',
        providerUrl: idp.orgIssuer,
        clientId: 'thin',
        clientSecret: 's',
        clientAuthMethod: 'client_secret_basic',
        clientPrivateKeyPem: undefined,
        scopes: ['openid', 'email', 'profile', 'groups'],
        groupsClaim: 'groups',
        groupsFilter: /^(admin|eng)$/,
      },
      Buffer.alloc(32, 3),
    )
    const { signedIn } = await codeFlow(idp, rp, 'http://app.localhost/cb')
    expect(decodeJwt(signedIn.idToken).groups).toBeUndefined()
    expect(signedIn).toMatchObject({ email: 'alice@example.com', name: 'Alice', groups: ['admin', 'eng'] })
  })

  it('the IdP rotates its keys: new sign-ins verify after one refetch, live sessions are untouched', async () => {
    const s = await startStack({ routes: ROUTES_APP_ADMIN, jwksCooldownMs: 0 })
    closers.push(() => s.close())
    const a = s.client()
    await s.signIn(a, s.url('app.localhost', '/'), 'alice')
    const fetchesBefore = s.idp.counters.jwksFetches
    const oldKid = s.idp.currentKid()
    const newKid = await s.idp.rotateKeys()
    expect(newKid).not.toBe(oldKid)
    const b = s.client()
    const done = await s.signIn(b, s.url('app.localhost', '/'), 'bob')
    expect(done.res.status).toBe(200)
    expect(s.idp.counters.jwksFetches - fetchesBefore).toBe(1)
    const seen = (await (await b.get(s.url('app.localhost', '/'), { headers: { accept: 'application/json' } })).json()) as Seen
    expect(seen.assertion?.claims?.email).toBe('bob@example.com')
    expect((await a.get(s.url('app.localhost', '/'), { headers: { accept: 'application/json' } })).status).toBe(200)
  })

  it('the IdP goes down: live sessions keep working, a sign-in in progress gets a clear 502, and it recovers', async () => {
    const s = await startStack({ routes: ROUTES_APP_ADMIN })
    closers.push(() => s.close())
    const a = s.client()
    await s.signIn(a, s.url('app.localhost', '/'), 'alice')
    const b = s.client()
    const first = await b.get(s.url('app.localhost', '/'), { headers: { accept: 'text/html' } })
    const state = new URL(first.headers.get('location') ?? '').searchParams.get('state') ?? ''
    await s.idp.stop()
    try {
      expect((await a.get(s.url('app.localhost', '/'), { headers: { accept: 'application/json' } })).status).toBe(200)
      const cb = await b.get(s.url('app.localhost', `/.gatehouse/callback?code=some-code&state=${state}&iss=${encodeURIComponent(s.idp.issuer)}`), {
        headers: { accept: 'text/html' },
      })
      expect(cb.status).toBe(502)
      expect(await cb.text()).toContain('could not reach the identity provider')
    } finally {
      await s.idp.start()
    }
    const c = s.client()
    expect((await s.signIn(c, s.url('app.localhost', '/'), 'bob')).res.status).toBe(200)
  })
})

/** An identity provider for `clientId` authenticating with private_key_jwt, and the client assertions it sends to the token endpoint. */
function privateKeyJwtProvider(
  issuer: string,
  clientId: string,
  privateKeyPem: string,
  scopes: string[],
): { rp: ReturnType<typeof createIdentityProvider>; assertions: string[] } {
  const assertions: string[] = []
  const rp = createIdentityProvider(
    {
      provider: 'okta',
      providerUrl: issuer,
      clientId,
      clientSecret: undefined,
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKeyPem: privateKeyPem,
      scopes,
      groupsClaim: 'groups',
      groupsFilter: undefined,
    },
    Buffer.alloc(32, 3),
    {
      fetch: async (input, init) => {
        const body = init?.body
        if (body instanceof URLSearchParams && body.has('client_assertion')) assertions.push(body.get('client_assertion') as string)
        return fetch(input, init)
      },
    },
  )
  return { rp, assertions }
}
