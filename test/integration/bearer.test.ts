/**
 * Bearer tokens through a running gatehouse, against the local Okta-shaped
 * IdP over HTTP: people's access tokens (authorization code) and a bot's
 * (an API Services app with private_key_jwt, client credentials) on routes
 * with `bearer_token_format: idp_access_token`; every way a token is refused
 * (401 with RFC 6750's challenge); the org server's tokens checked by
 * introspection; a `default` route where the header is the upstream's
 * business; and the example bot script run as the process a CI job would run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { exportJWK } from 'jose'
import type { Seen } from '../../src/demo/whoami.js'
import { base, signInForTokens } from '../helpers/okta-flow.js'
import { clientCredentials } from '../helpers/service-app.js'
import { CLIENT_ID, CLIENT_SECRET, startStack, type Stack } from '../helpers/stack.js'
import { readStream, startStreamingUpstream, type StreamingUpstream } from '../helpers/streaming-upstream.js'
import { connectWebSocket, mustOpen, startEchoUpstream } from '../helpers/websocket.js'

const run = promisify(execFile)
const bot = generateKeyPairSync('rsa', { modulusLength: 2048 })
const BOT_KID = 'bot-key-1'

/** A route as YAML lines, with the bearer keys and a policy written out. */
function bearerRoute(from: string, to: string, lines: readonly string[]): string {
  return [`  - from: ${from}`, `    to: ${to}`, ...lines.map((l) => `    ${l}`)].join('\n') + '\n'
}
const AT = ['bearer_token_format: idp_access_token', 'idp_access_token_allowed_audiences: [api://default]']
const allow = (criterion: string): string[] => ['policy:', '  - allow:', '      and:', `        - ${criterion}`]

let s: Stack
let org: Stack
let dir: string
let echo: Awaited<ReturnType<typeof startEchoUpstream>>
let events: StreamingUpstream

beforeAll(async () => {
  echo = await startEchoUpstream()
  events = await startStreamingUpstream()
  const jwk = { ...(await exportJWK(bot.publicKey)), kid: BOT_KID }
  s = await startStack({
    idp: {
      model: {
        apps: [
          {
            client_id: 'reports-bot',
            token_endpoint_auth_method: 'private_key_jwt',
            grant_types: ['client_credentials'],
            jwks: { keys: [jwk] },
            redirect_uris: [],
          },
        ],
        servers: [
          {
            id: 'default',
            audience: 'api://default',
            scopes: ['reports.read', 'reports.write'],
            claims: [{ name: 'groups', value: { filter: { regex: '(?!Everyone$).*' } }, include_in: 'both', scopes: 'any' }],
            policies: [
              { name: 'bots', clients: ['reports-bot'], rules: [{ grant_types: ['client_credentials'], scopes: ['reports.read'] }] },
              { name: 'people', clients: 'all', rules: [{ grant_types: ['authorization_code', 'refresh_token'] }] },
            ],
          },
          // Another custom server of the same org, with the same audience: only its issuer and keys differ.
          {
            id: 'aus2other',
            audience: 'api://default',
            scopes: ['reports.read'],
            policies: [{ name: 'bots', clients: ['reports-bot'], rules: [{ grant_types: ['client_credentials'] }] }],
          },
        ],
      },
    },
    routes: ({ upstream, port }) =>
      bearerRoute(`http://groups.localhost:${port}`, upstream, [...AT, 'pass_identity_headers: true', ...allow('groups: admin')]) +
      bearerRoute(`http://scp.localhost:${port}`, upstream, [...AT, ...allow('claim/scp: {has: reports.read}')]) +
      bearerRoute(`http://cid.localhost:${port}`, upstream, [...AT, ...allow('claim/cid: {in: [reports-bot]}')]) +
      bearerRoute(`http://email.localhost:${port}`, upstream, [...AT, ...allow("email: {ends_with: '@example.com'}")]) +
      bearerRoute(`http://deny-email.localhost:${port}`, upstream, [
        ...AT,
        ...allow('claim/cid: {in: [reports-bot]}'),
        '  - deny:',
        '      or:',
        '        - email: {is: mallory@example.com}',
      ]) +
      bearerRoute(`http://aud.localhost:${port}`, upstream, [
        'bearer_token_format: idp_access_token',
        'idp_access_token_allowed_audiences: [api://reports]',
        'allow_any_authenticated_user: true',
      ]) +
      bearerRoute(`http://pass.localhost:${port}`, upstream, [...AT, 'pass_bearer_token: true', ...allow('claim/cid: {in: [reports-bot]}')]) +
      bearerRoute(`http://app.localhost:${port}`, upstream, ['allow_any_authenticated_user: true']) +
      bearerRoute(`http://idt.localhost:${port}`, upstream, ['bearer_token_format: idp_identity_token', ...allow('groups: admin')]) +
      bearerRoute(`http://live.localhost:${port}`, echo.url, [...AT, 'allow_websockets: true', ...allow('claim/cid: {in: [reports-bot]}')]) +
      bearerRoute(`http://events.localhost:${port}`, events.url, [...AT, ...allow('claim/cid: {in: [reports-bot]}')]) +
      // What the example bot calls: a name the system resolver knows.
      bearerRoute(`http://127.0.0.1:${port}`, upstream, [
        ...AT,
        'policy:',
        '  - allow:',
        '      and:',
        '        - claim/cid: {in: [reports-bot]}',
        '        - claim/scp: {has: reports.read}',
      ]),
  })
  org = await startStack({
    sharedIdp: s.idp,
    server: 'org',
    extra: `bearer_token_format: idp_access_token\nidp_access_token_allowed_audiences: ['${s.idp.url}']\n`,
    routes: ({ upstream, port }) => bearerRoute(`http://org.localhost:${port}`, upstream, allow('email: alice@example.com')),
  })
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-bot-'))
  writeFileSync(join(dir, 'bot.pem'), bot.privateKey.export({ type: 'pkcs8', format: 'pem' }))
}, 60_000)
afterAll(async () => {
  await org?.close()
  await s?.close()
  await echo?.close()
  await events?.close()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

const tokenUrl = (server = 'default'): string => `${base(s.idp, server)}/token`

async function botToken(server = 'default', scope = 'reports.read'): Promise<string> {
  const r = await clientCredentials(tokenUrl(server), 'reports-bot', bot.privateKey, scope)
  if (r.status !== 200) throw new Error(`client credentials refused: ${JSON.stringify(r.body)}`)
  return r.body.access_token as string
}

async function userToken(username: string, scope: string, server = 'default'): Promise<string> {
  const r = await signInForTokens(s.idp, {
    server,
    clientId: CLIENT_ID,
    secret: CLIENT_SECRET,
    redirectUri: s.url('app.localhost', '/.gatehouse/callback'),
    scope,
    username,
  })
  if (r.status !== 200) throw new Error(`sign-in refused: ${JSON.stringify(r.body)}`)
  return r.body.access_token as string
}

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly body: Record<string, unknown>
}

async function call(st: Stack, host: string, token: string | undefined, extra: Record<string, string> = {}): Promise<Answer> {
  const res = await st.client().get(st.url(host, '/api/report?x=1'), {
    headers: { accept: 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...extra },
  })
  const text = await res.text()
  let body: Record<string, unknown> = {}
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    body = { raw: text }
  }
  return { status: res.status, headers: res.headers as unknown as Headers, body }
}

/** No cookie and no redirect, ever, for a bearer request. */
function expectNoCookieNoRedirect(a: Answer): void {
  expect(a.headers.get('set-cookie')).toBeNull()
  expect(a.headers.get('location')).toBeNull()
}

const seen = (a: Answer): Seen => a.body as unknown as Seen

describe("people's access tokens", () => {
  it('are allowed by groups: alice (admin) through, bob (eng) 403 with the reason; the upstream gets her assertion and no Authorization', async () => {
    const alice = await call(s, 'groups.localhost', await userToken('alice', 'openid email'))
    expect(alice.status).toBe(200)
    expectNoCookieNoRedirect(alice)
    const got = seen(alice)
    expect(got.headers.authorization).toBeUndefined()
    expect(got.assertion).toMatchObject({ valid: true, claims: { sub: '00u1alice', email: 'alice@example.com', groups: ['admin', 'eng'] } })
    expect(got.headers['x-gatehouse-claim-email']).toBe('alice@example.com')

    const bob = await call(s, 'groups.localhost', await userToken('bob', 'openid email'))
    expect(bob.status).toBe(403)
    expectNoCookieNoRedirect(bob)
    expect(bob.body).toMatchObject({ error: 'forbidden', reason: expect.stringContaining('groups') })
  })

  it('are allowed by claim/scp: a token granted reports.read passes, one without it is 403', async () => {
    expect((await call(s, 'scp.localhost', await userToken('bob', 'openid reports.read'))).status).toBe(200)
    const without = await call(s, 'scp.localhost', await userToken('bob', 'openid email'))
    expect(without.status).toBe(403)
    expect(without.body).toMatchObject({ error: 'forbidden', reason: expect.stringContaining('claim/scp') })
  })

  it('match an email rule (the sub is the login); a person is not the bot on a claim/cid rule', async () => {
    const t = await userToken('alice', 'openid email')
    expect((await call(s, 'email.localhost', t)).status).toBe(200)
    expect((await call(s, 'cid.localhost', t)).status).toBe(403)
  })
})

describe('a machine token (client credentials with private_key_jwt)', () => {
  it('is allowed by claim/cid, and its upstream assertion names the client', async () => {
    const a = await call(s, 'cid.localhost', await botToken())
    expect(a.status).toBe(200)
    expectNoCookieNoRedirect(a)
    expect(seen(a).headers.authorization).toBeUndefined()
    expect(seen(a).assertion).toMatchObject({ valid: true, claims: { sub: 'reports-bot' } })
  })

  it('is refused by an email rule: a machine has no email, so an allow on it does not allow and a deny on it denies', async () => {
    const t = await botToken()
    const allowOnEmail = await call(s, 'email.localhost', t)
    expect(allowOnEmail.status).toBe(403)
    expect(allowOnEmail.body).toMatchObject({ error: 'forbidden', reason: expect.stringMatching(/machine token/) })
    const denyOnEmail = await call(s, 'deny-email.localhost', t)
    expect(denyOnEmail.status).toBe(403)
    expect(denyOnEmail.body).toMatchObject({ error: 'forbidden', reason: expect.stringMatching(/email/) })
  })

  it('reaches the upstream with its Authorization header only where the route sets pass_bearer_token', async () => {
    const t = await botToken()
    const passed = await call(s, 'pass.localhost', t)
    expect(passed.status).toBe(200)
    expect(seen(passed).headers.authorization).toBe(`Bearer ${t}`)
  })
})

describe('refused tokens: 401 with WWW-Authenticate: Bearer error="invalid_token"', () => {
  const cases: Array<[string, () => Promise<{ host?: string; token: string }>, RegExp]> = [
    ['no token', async () => ({ token: '' }), /./],
    ['a token for another audience', async () => ({ host: 'aud.localhost', token: await botToken() }), /audience/],
    [
      'a token from another issuer',
      async () => ({ token: await s.idp.admin.forgeAccessToken({ like: await botToken(), claims: { iss: 'https://evil.example/oauth2/default' } }) }),
      /issuer/,
    ],
    [
      'an expired token',
      async () => {
        const nowS = Math.floor(Date.now() / 1000)
        return { token: await s.idp.admin.forgeAccessToken({ like: await botToken(), claims: { iat: nowS - 7200, exp: nowS - 3600 } }) }
      },
      /expired/,
    ],
    ['alg none', async () => ({ token: await s.idp.admin.forgeAccessToken({ like: await botToken(), key: 'none' }) }), /algorithm|malformed/],
    [
      'HS256 keyed with the published public key',
      async () => ({ token: await s.idp.admin.forgeAccessToken({ like: await botToken(), key: 'hs256-public' }) }),
      /algorithm/,
    ],
    ['a token from another custom server of the same org', async () => ({ token: await botToken('aus2other') }), /issuer/],
    [
      'a token signed by a key the IdP never published (its kid)',
      async () => ({ token: await s.idp.admin.forgeAccessToken({ like: await botToken(), key: 'stranger' }) }),
      /signature/,
    ],
    [
      'a token signed by a key the IdP never published (a new kid)',
      async () => ({ token: await s.idp.admin.forgeAccessToken({ like: await botToken(), key: 'stranger-new-kid' }) }),
      /key the issuer does not publish/,
    ],
    ['an ID token instead of an access token', async () => ({ token: await idTokenOf('alice') }), /not an access token|audience/],
    ['garbage', async () => ({ token: 'not-a-token' }), /not active|cannot be checked/],
  ]
  for (const [name, make, description] of cases) {
    it(name, async () => {
      const { host = 'cid.localhost', token } = await make()
      const a = await call(s, host, undefined, token === '' ? {} : { authorization: `Bearer ${token}` })
      expect(a.status).toBe(401)
      expectNoCookieNoRedirect(a)
      const challenge = a.headers.get('www-authenticate') ?? ''
      if (token === '') {
        // No credential at all: a challenge without an error code (RFC 6750 §3.1).
        expect(challenge).toMatch(/^Bearer /)
        return
      }
      expect(challenge).toMatch(/^Bearer error="invalid_token", error_description="[^"\\]+"$/)
      expect(challenge).toMatch(description)
      expect(a.body).toMatchObject({ error: 'invalid_token' })
    })
  }

  it('nothing refused reached the upstream, and no token appears in the log', async () => {
    const before = s.upstream.requests.length
    await call(s, 'cid.localhost', 'not-a-token')
    expect(s.upstream.requests.length).toBe(before)
    const t = await botToken()
    await call(s, 'aud.localhost', t)
    expect(s.logs.join('')).not.toContain(t)
  })
})

async function idTokenOf(username: string): Promise<string> {
  const r = await signInForTokens(s.idp, {
    clientId: CLIENT_ID,
    secret: CLIENT_SECRET,
    redirectUri: s.url('app.localhost', '/.gatehouse/callback'),
    scope: 'openid email',
    username,
  })
  return r.body.id_token as string
}

describe('ID tokens as the credential (bearer_token_format: idp_identity_token)', () => {
  it("alice's ID token is alice (groups from its claim); bob's is refused by the policy; an access token is not an ID token", async () => {
    const alice = await call(s, 'idt.localhost', await idTokenOf('alice'))
    expect(alice.status).toBe(200)
    expectNoCookieNoRedirect(alice)
    expect(seen(alice).assertion).toMatchObject({ valid: true, claims: { sub: '00u1alice', email: 'alice@example.com' } })
    expect((await call(s, 'idt.localhost', await idTokenOf('bob'))).status).toBe(403)
    const access = await call(s, 'idt.localhost', await userToken('alice', 'openid email'))
    expect(access.status).toBe(401)
    expect(access.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
  })
})

describe("the org server's tokens (meant for Okta): checked by introspection", () => {
  it('a live token is introspected once, then answered from the cache; the policy judges its user; an unknown token is 401', async () => {
    const t = await userToken('alice', 'openid email', 'org')
    const before = s.idp.counters.introspections
    const first = await call(org, 'org.localhost', t)
    expect(first.status).toBe(200)
    expect(seen(first).assertion).toMatchObject({ valid: true, claims: { sub: '00u1alice' } })
    expect((await call(org, 'org.localhost', t)).status).toBe(200)
    expect(s.idp.counters.introspections).toBe(before + 1)
    const bobs = await call(org, 'org.localhost', await userToken('bob', 'openid email', 'org'))
    expect(bobs.status).toBe(403)
    const unknown = await call(org, 'org.localhost', 'opaque-token-the-idp-never-issued')
    expect(unknown.status).toBe(401)
    expect(unknown.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token", error_description=".*not active/)
  })
})

describe('a `default` route: the Authorization header is the upstream’s business', () => {
  it('is passed through untouched and the request is judged by the cookie', async () => {
    const t = await botToken()
    // A token and no cookie: not signed in (the token means nothing to gatehouse here).
    const anonymous = await call(s, 'app.localhost', t)
    expect(anonymous.status).toBe(401)
    expect(anonymous.body).toMatchObject({ error: 'login_required' })
    // A cookie and someone else's token: the cookie's user, the header as the client sent it.
    const client = s.client()
    await s.signIn(client, s.url('app.localhost', '/'), 'bob')
    const res = await client.get(s.url('app.localhost', '/api'), { headers: { accept: 'application/json', authorization: `Bearer ${t}` } })
    expect(res.status).toBe(200)
    const got = (await res.json()) as Seen
    expect(got.headers.authorization).toBe(`Bearer ${t}`)
    expect(got.assertion).toMatchObject({ valid: true, claims: { email: 'bob@example.com' } })
  })
})

describe('open connections opened with a token close when the token expires', () => {
  /** A token the IdP's own key signed, like the bot's, that expires in two seconds. */
  const shortLived = async (): Promise<string> => s.idp.admin.forgeAccessToken({ like: await botToken(), claims: { exp: Math.floor(Date.now() / 1000) + 2 } })

  it('a WebSocket: 1008 with the reason at the exp; one with a longer-lived token stays open', async () => {
    const short = mustOpen(await connectWebSocket(s.url('live.localhost', '/socket'), undefined, { authorization: `Bearer ${await shortLived()}` }))
    const long = mustOpen(await connectWebSocket(s.url('live.localhost', '/socket'), undefined, { authorization: `Bearer ${await botToken()}` }))
    expect(await short.echo('hi')).toBe('echo:hi')
    expect(await short.closed).toEqual({ code: 1008, reason: 'the access token expired' })
    expect(await long.echo('still')).toBe('echo:still')
    long.ws.close()
    await long.closed
  })

  it('a WebSocket upgrade with a refused token is 401 and never reaches the upstream', async () => {
    const refused = await connectWebSocket(s.url('live.localhost', '/socket'), undefined, { authorization: 'Bearer not-a-token' })
    expect(refused).toEqual({ status: 401 })
  })

  it('a streamed response: cut at the exp', async () => {
    const res = await s
      .client()
      .get(s.url('events.localhost', '/feed'), { headers: { accept: 'text/event-stream', authorization: `Bearer ${await shortLived()}` } })
    expect(res.status).toBe(200)
    const stream = readStream(res.body as ReadableStream<Uint8Array>)
    events.push('first')
    await stream.next('first')
    expect(await stream.ended).toBe('cut')
  })
})

describe('the example bot script', () => {
  const runBot = (url: string, scope: string) =>
    run(process.execPath, ['examples/machine-access/bot.mjs', url], {
      env: {
        PATH: process.env.PATH ?? '',
        OKTA_ISSUER: s.idp.issuer,
        CLIENT_ID: 'reports-bot',
        PRIVATE_KEY_FILE: join(dir, 'bot.pem'),
        KEY_ID: BOT_KID,
        SCOPE: scope,
      },
      timeout: 30_000,
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
    )

  it('gets a token with its private key and calls the route: 200 with what the upstream saw', async () => {
    const r = await runBot(`http://127.0.0.1:${s.port}/api/summary`, 'reports.read')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const [status, ...rest] = r.stdout.split('\n')
    expect(status?.trim()).toBe('200')
    const got = JSON.parse(rest.join('\n')) as Seen
    expect(got.url).toBe('/api/summary')
    expect(got.headers.authorization).toBeUndefined()
    expect(got.assertion).toMatchObject({ valid: true, claims: { sub: 'reports-bot' } })
  })

  it('is refused at the IdP for a scope its access policy does not grant (exit 1, says why)', async () => {
    const r = await runBot(`http://127.0.0.1:${s.port}/api/summary`, 'reports.write')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/token request refused: access_denied/)
  })
})
