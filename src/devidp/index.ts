/**
 * The Okta-shaped local identity provider, on oidc-provider. It looks like an
 * Okta custom authorization server where a relying party can tell: issuer
 * `http://127.0.0.1:PORT/oauth2/default`, endpoints `{issuer}/v1/…`, a
 * `groups` claim, refresh tokens that rotate (reuse fails with
 * invalid_grant), several signing keys and early rotation, end-session that
 * requires `id_token_hint` and a registered post-logout URI, and
 * `access_denied` for users not assigned to the app. With `thinIdToken` the
 * ID token carries only `sub` and profile claims come from /userinfo, as
 * Okta's org authorization server does.
 *
 * For the demo and the tests only: it listens on 127.0.0.1.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { compactVerify, createLocalJWKSet, decodeJwt, exportJWK, generateKeyPair, type JWK } from 'jose'
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider'
import { idpErrorPage, loginPage } from './pages.js'
import { normaliseUsers, readUsersFile, type DevUser, type DevUserInput } from './users.js'

type ProviderClass = typeof import('oidc-provider').default
type ProviderInstance = InstanceType<ProviderClass>

export interface DevClient {
  readonly client_id: string
  readonly client_secret?: string
  readonly token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'
  readonly redirect_uris: readonly string[]
  readonly post_logout_redirect_uris?: readonly string[]
  readonly jwks?: { keys: JWK[] }
  readonly client_name?: string
}

export interface DevIdpOptions {
  readonly port?: number
  readonly users?: readonly DevUserInput[]
  readonly usersFile?: string
  readonly clients: readonly DevClient[]
  readonly idTokenTtlSeconds?: number
  readonly accessTokenTtlSeconds?: number
  readonly refreshTokenTtlSeconds?: number
  /** Okta's org server: thin ID tokens, profile and groups from /userinfo. */
  readonly thinIdToken?: boolean
}

export interface EndSessionCall {
  readonly idTokenHint: string | null
  readonly postLogoutRedirectUri: string | null
  readonly state: string | null
  readonly accepted: boolean
}

export interface DevIdp {
  readonly issuer: string
  readonly url: string
  readonly port: number
  readonly counters: { authorizationCodeGrants: number; refreshGrants: number; refreshFailures: number; jwksFetches: number; logouts: number; logins: number }
  readonly endSessions: EndSessionCall[]
  readonly users: readonly DevUser[]
  rotateKeys(opts?: { retireOldest?: boolean }): Promise<string>
  currentKid(): string
  setUserGroups(username: string, groups: string[]): void
  setUserActive(username: string, active: boolean): void
  setLatency(ms: number): void
  /** Close the listener (an outage); start() opens it again on the same port with the same state. */
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

let providerClass: Promise<ProviderClass> | undefined

/**
 * oidc-provider warns about Node 20 at import and about its in-memory adapter
 * at construction. Both are expected for a local test IdP; the demo's output
 * stays clean without them. Other warnings pass through.
 */
const EXPECTED_WARNINGS = ['Unsupported runtime', 'in-memory adapter']

// The one place that touches console: to filter oidc-provider's expected warnings.
/* eslint-disable no-console */
async function quietly<T>(fn: () => T | Promise<T>): Promise<T> {
  const original = console.warn
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && EXPECTED_WARNINGS.some((w) => (args[0] as string).includes(w))) return
    original(...args)
  }
  try {
    return await fn()
  } finally {
    console.warn = original
  }
}
/* eslint-enable no-console */

function loadProvider(): Promise<ProviderClass> {
  providerClass ??= quietly(async () => (await import('oidc-provider')).default)
  return providerClass
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 })
  const jwk = await exportJWK(privateKey)
  return { ...jwk, kid: `devidp-${Math.random().toString(36).slice(2, 10)}`, alg: 'RS256', use: 'sig' }
}

function publicOf(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk
  return pub
}

function readBody(req: http.IncomingMessage, limit = 16_384): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) reject(new Error('body too large'))
      else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

export async function startDevIdp(opts: DevIdpOptions): Promise<DevIdp> {
  const Provider = await loadProvider()
  const users = opts.users !== undefined ? normaliseUsers(opts.users) : readUsersFile(opts.usersFile ?? 'config/devidp-users.yaml')
  const bySub = (sub: string): DevUser | undefined => users.find((u) => u.sub === sub)
  const counters = { authorizationCodeGrants: 0, refreshGrants: 0, refreshFailures: 0, jwksFetches: 0, logouts: 0, logins: 0 }
  const endSessions: EndSessionCall[] = []
  let keys: JWK[] = [await newSigningKey(), await newSigningKey()]
  let latencyMs = 0

  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  const issuer = `${url}/oauth2/default`

  function configuration(): Configuration {
    return {
      clients: opts.clients.map((c) => ({
        client_id: c.client_id,
        ...(c.client_secret === undefined ? {} : { client_secret: c.client_secret }),
        token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
        redirect_uris: [...c.redirect_uris],
        post_logout_redirect_uris: [...(c.post_logout_redirect_uris ?? [])],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        ...(c.jwks === undefined ? {} : { jwks: c.jwks }),
        ...(c.client_name === undefined ? {} : { client_name: c.client_name }),
      })),
      jwks: { keys: keys as never },
      findAccount: (_ctx, sub) => {
        const u = bySub(sub)
        if (u === undefined || !u.active) return undefined
        return {
          accountId: u.sub,
          claims: () => ({
            sub: u.sub,
            email: u.email,
            email_verified: true,
            name: u.name,
            preferred_username: u.email,
            groups: [...u.groups],
            ver: 1,
            idp: 'devidp',
          }),
        }
      },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username', 'groups'], groups: ['groups'] },
      scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
      // Okta's custom server puts the groups claim in the ID token; its org server sends a thin one.
      conformIdTokenClaims: opts.thinIdToken === true,
      features: {
        devInteractions: { enabled: false },
        rpInitiatedLogout: { enabled: true },
        revocation: { enabled: true },
        introspection: { enabled: true },
        userinfo: { enabled: true },
      },
      routes: {
        authorization: '/v1/authorize',
        token: '/v1/token',
        jwks: '/v1/keys',
        userinfo: '/v1/userinfo',
        end_session: '/v1/logout',
        revocation: '/v1/revoke',
        introspection: '/v1/introspect',
      },
      ttl: {
        IdToken: opts.idTokenTtlSeconds ?? 3600,
        AccessToken: opts.accessTokenTtlSeconds ?? 3600,
        RefreshToken: opts.refreshTokenTtlSeconds ?? 90 * 24 * 3600,
        AuthorizationCode: 60,
        Interaction: 600,
        Session: 14 * 24 * 3600,
        Grant: 90 * 24 * 3600,
      },
      // Okta rotates refresh tokens on every use; reusing an old one fails with invalid_grant.
      rotateRefreshToken: true,
      // Okta issues a refresh token for offline_access without prompt=consent.
      issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
      // First-party app: no consent screen; every requested scope is granted.
      loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
        const accountId = ctx.oidc.session?.accountId
        const client = ctx.oidc.client
        if (accountId === undefined || client === undefined) return undefined
        const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId })
        grant.addOIDCScope([...(ctx.oidc.requestParamScopes ?? new Set<string>())].join(' '))
        grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name', 'preferred_username', 'groups'])
        await grant.save()
        return grant
      },
      pkce: { required: () => false },
      cookies: { keys: ['devidp-local-cookie-key-not-secret'] },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      renderError: (ctx, out) => {
        ctx.type = 'html'
        ctx.body = idpErrorPage('400 Bad Request', `${String(out.error)}: ${String(out.error_description ?? '')}`)
      },
      clockTolerance: 5,
    }
  }

  let provider!: ProviderInstance
  const build = async (): Promise<void> => {
    provider = await quietly(() => new Provider(issuer, configuration()))
    provider.proxy = false
    provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
      const gt = (ctx.oidc.params as { grant_type?: string } | undefined)?.grant_type
      if (gt === 'authorization_code') counters.authorizationCodeGrants++
      if (gt === 'refresh_token') counters.refreshGrants++
    })
    provider.on('grant.error', (ctx: KoaContextWithOIDC) => {
      if ((ctx.oidc.params as { grant_type?: string } | undefined)?.grant_type === 'refresh_token') counters.refreshFailures++
    })
  }
  await build()

  async function interaction(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res)
    const clientId = String(details.params.client_id ?? '')
    const action = `/interaction/${details.uid}`
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(loginPage({ action, clientName: clientId }))
      return
    }
    const form = new URLSearchParams(await readBody(req))
    const username = form.get('username') ?? ''
    const user = users.find((u) => u.username === username || u.email === username)
    if (user === undefined || user.password !== form.get('password') || !user.active) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(loginPage({ action, clientName: clientId, username, error: 'Unable to sign in: unknown user, wrong password, or a deactivated account.' }))
      return
    }
    if (!user.assigned) {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'User is not assigned to the client application.' },
        { mergeWithLastSubmission: false },
      )
      return
    }
    counters.logins++
    await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false })
  }

  async function logout(req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams): Promise<void> {
    const call = { idTokenHint: query.get('id_token_hint'), postLogoutRedirectUri: query.get('post_logout_redirect_uri'), state: query.get('state') }
    const refuse = (why: string): void => {
      endSessions.push({ ...call, accepted: false })
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' })
      res.end(idpErrorPage('400 Bad Request', why))
    }
    // Okta requires id_token_hint and a registered post-logout redirect URI.
    if (call.idTokenHint === null) return refuse('id_token_hint is required')
    let clientId: string
    try {
      await compactVerify(call.idTokenHint, createLocalJWKSet({ keys: keys.map(publicOf) }))
      const aud = decodeJwt(call.idTokenHint).aud
      clientId = String(Array.isArray(aud) ? aud[0] : aud)
    } catch {
      return refuse('id_token_hint is not a token this IdP issued')
    }
    const client = opts.clients.find((c) => c.client_id === clientId)
    if (call.postLogoutRedirectUri !== null && !(client?.post_logout_redirect_uris ?? []).includes(call.postLogoutRedirectUri)) {
      return refuse('post_logout_redirect_uri is not registered as a sign-out redirect URI for this app')
    }
    counters.logouts++
    endSessions.push({ ...call, accepted: true })
    const expired = ['_session', '_session.sig', '_session.legacy', '_session.legacy.sig'].map((n) => `${n}=; Path=/; Max-Age=0; HttpOnly`)
    const target =
      call.postLogoutRedirectUri === null
        ? `${url}/signed-out`
        : `${call.postLogoutRedirectUri}${call.state === null ? '' : `${call.postLogoutRedirectUri.includes('?') ? '&' : '?'}state=${encodeURIComponent(call.state)}`}`
    res.writeHead(302, { location: target, 'set-cookie': expired })
    res.end()
  }

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const handle = async (): Promise<void> => {
      const u = new URL(req.url ?? '/', url)
      if (u.pathname === '/oauth2/default/v1/logout') return logout(req, res, u.searchParams)
      if (u.pathname.startsWith('/interaction/')) return interaction(req, res)
      if (u.pathname === '/signed-out') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end(idpErrorPage('Signed out', 'You are signed out of the local IdP.'))
        return
      }
      if (u.pathname === '/oauth2/default' || u.pathname.startsWith('/oauth2/default/')) {
        if (u.pathname === '/oauth2/default/v1/keys') counters.jwksFetches++
        // Mounted under the issuer's path: oidc-provider reads the mount from originalUrl.
        const r = req as http.IncomingMessage & { originalUrl?: string }
        r.originalUrl = req.url
        req.url = (req.url ?? '/').slice('/oauth2/default'.length) || '/'
        provider.callback()(req, res)
        return
      }
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found')
    }
    const go = (): void =>
      void handle().catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/html; charset=utf-8' })
        res.end(idpErrorPage('Error', err instanceof Error ? err.message : 'internal error'))
      })
    if (latencyMs > 0) setTimeout(go, latencyMs)
    else go()
  })

  const sockets = new Set<import('node:net').Socket>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })

  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve()
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
    })

  return {
    issuer,
    url,
    port,
    counters,
    endSessions,
    users,
    async rotateKeys(o = {}) {
      const fresh = await newSigningKey()
      keys = [fresh, ...keys]
      if (o.retireOldest !== false && keys.length > 3) keys = keys.slice(0, 3)
      await build() // grants and sessions live in oidc-provider's shared in-memory adapter and survive
      return fresh.kid as string
    },
    currentKid: () => keys[0]?.kid as string,
    setUserGroups(username, groups) {
      const u = users.find((x) => x.username === username)
      if (u === undefined) throw new Error(`no user ${username}`)
      u.groups = [...groups]
    },
    setUserActive(username, active) {
      const u = users.find((x) => x.username === username)
      if (u === undefined) throw new Error(`no user ${username}`)
      u.active = active
    },
    setLatency(ms) {
      latencyMs = ms
    },
    stop,
    start: () => new Promise<void>((resolve) => (server.listening ? resolve() : server.listen(port, '127.0.0.1', () => resolve()))),
    close: stop,
  }
}
