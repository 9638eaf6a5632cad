/**
 * The IdP telling apps that someone signed out, as Okta does:
 *   - back channel (OpenID Connect Back-Channel Logout 1.0): a logout token
 *     (typ logout+jwt; iss, aud = client id, iat, exp, jti, the logout event,
 *     sid and/or sub) POSTed as a form to the app's back-channel URI;
 *   - front channel (Okta's Single Logout with user session details): the
 *     IdP's signed-out page frames `{uri}?iss=…&sid=…` for every app;
 *   - Universal Logout (global token revocation): a JSON subject POSTed to the
 *     app's endpoint with `Authorization: Bearer <JWT>` (typ
 *     global-token-revocation+jwt, iss = the org URL, sub = client id, aud =
 *     the endpoint, exp in 5 minutes) signed with the org's key.
 * Sign-out at the IdP sends the front and back channel; deactivating a user
 * sends the back channel (by sub) and Universal Logout. Tests also send on
 * demand, and forge tokens that a receiver must refuse.
 */
import { createHmac, createPublicKey, randomBytes } from 'node:crypto'
import dns from 'node:dns'
import { Agent, fetch as undiciFetch } from 'undici'
import { decodeJwt, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey } from 'jose'
import { issuerOf, findUser, userById, type IdpContext } from './context.js'
import type { DevApp, DevServer, DevUser } from './model.js'

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'

export interface LogoutDelivery {
  readonly channel: 'backchannel' | 'universal_logout'
  readonly clientId: string
  readonly url: string
  /** The HTTP status the app answered, or 0 when it could not be reached. */
  readonly status: number
  readonly atMs: number
}

/** How a forged token differs from a good one. */
export interface Forgery {
  /** Claims to set (undefined removes one). */
  readonly claims?: Record<string, unknown>
  readonly header?: Record<string, unknown>
  /** `stranger`: a key the IdP never published (with its kid or a new one); `none`: unsigned; `hs256-public`: HMAC keyed with the published public key. */
  readonly key?: 'stranger' | 'stranger-new-kid' | 'none' | 'hs256-public'
}

export interface LogoutAdmin {
  /** Send a back-channel logout token now, to one app (default: every app with a back-channel URI). Resolves with what the apps answered. */
  sendLogoutToken(opts: { user?: string; sid?: string; clientId?: string; server?: string }): Promise<LogoutDelivery[]>
  /** Send Universal Logout now for a user, to one app (default: every app with an endpoint). */
  sendUniversalLogout(opts: { user: string; clientId?: string; format?: 'email' | 'iss_sub' }): Promise<LogoutDelivery[]>
  /** A logout token for an app, bent as asked (for tests of the receiving side). */
  forgeLogoutToken(opts: { clientId: string; user?: string; sid?: string; server?: string } & Forgery): Promise<string>
  /** A Universal Logout JWT for an app's endpoint, bent as asked. */
  forgeUniversalLogoutJwt(opts: { clientId: string; endpoint?: string } & Forgery): Promise<string>
  /**
   * An access token with the claims of `like` (a token this IdP issued), bent as asked and signed
   * by `server`'s current key (default: the server that issued `like`): for tests of a resource
   * server's checks (an expired token, another issuer, a key never published, alg none, …).
   */
  forgeAccessToken(opts: { like: string; server?: string } & Forgery): Promise<string>
}

export interface LogoutSender extends LogoutAdmin {
  readonly deliveries: LogoutDelivery[]
}

const nowS = (ctx: IdpContext): number => Math.floor(ctx.now() / 1000)

type PostFetch = (url: string, init: RequestInit) => Promise<{ status: number; body: { cancel(): Promise<void> } | null }>

/**
 * `*.localhost` is loopback (RFC 6761), but the system resolver here does
 * not say so: the apps the local IdP calls (app.localhost:PORT in the demo
 * and tests) are reached on 127.0.0.1.
 */
const loopbackNames = new Agent({
  connect: {
    lookup: (host, opts, cb) =>
      host === 'localhost' || host.endsWith('.localhost') ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : dns.lookup(host, { ...opts, all: true }, cb),
  },
})
const defaultFetch: PostFetch = (url, init) => undiciFetch(url, { ...(init as object), dispatcher: loopbackNames }) as never

export function createLogoutSender(ctx: IdpContext, fetchImpl: PostFetch = defaultFetch): LogoutSender {
  const deliveries: LogoutDelivery[] = []
  let stranger: Promise<CryptoKey> | undefined
  const strangerKey = (): Promise<CryptoKey> => (stranger ??= generateKeyPair('RS256').then((k) => k.privateKey))

  const apps = (clientId: string | undefined, has: (a: DevApp) => boolean): DevApp[] =>
    [...ctx.model.apps.values()].filter((a) => (clientId === undefined || a.clientId === clientId) && has(a))
  const serverFor = (id: string | undefined): DevServer => {
    const s = (id === undefined ? undefined : ctx.model.servers.get(id)) ?? ctx.model.servers.get('default') ?? ctx.model.servers.get('org')
    if (s === undefined) throw new Error('no authorization server to sign with')
    return s
  }
  const userOf = (name: string | undefined): DevUser | undefined => {
    if (name === undefined) return undefined
    const u = findUser(ctx, name) ?? userById(ctx, name)
    if (u === undefined) throw new Error(`no user ${name}`)
    return u
  }

  async function sign(server: DevServer, claims: Record<string, unknown>, typ: string, f: Forgery = {}): Promise<string> {
    const ring = ctx.keys.get(server.id)
    if (ring === undefined) throw new Error(`no keys for server ${server.id}`)
    const k = ring.active()
    const body: Record<string, unknown> = { ...claims, ...(f.claims ?? {}) }
    for (const [name, v] of Object.entries(body)) if (v === undefined) delete body[name]
    const header: Record<string, unknown> = { alg: k.alg, kid: k.kid, typ, ...(f.header ?? {}) }
    for (const [name, v] of Object.entries(header)) if (v === undefined) delete header[name]
    if (f.key === 'none') return new UnsecuredJWT(body).encode()
    if (f.key === 'hs256-public') {
      const jwk = ring.jwks().keys.find((j) => j.kid === k.kid)
      const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
      const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
      const input = `${b64({ ...header, alg: 'HS256' })}.${b64(body)}`
      return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`
    }
    const key = f.key === 'stranger' || f.key === 'stranger-new-kid' ? await strangerKey() : k.privateKey
    if (f.key === 'stranger-new-kid') header.kid = `unknown-${randomBytes(4).toString('hex')}`
    return new SignJWT(body).setProtectedHeader(header as { alg: string }).sign(key)
  }

  function logoutClaims(server: DevServer, clientId: string, user: DevUser | undefined, sid: string | undefined): Record<string, unknown> {
    const t = nowS(ctx)
    return {
      iss: issuerOf(ctx, server),
      aud: clientId,
      iat: t,
      exp: t + 120,
      jti: randomBytes(16).toString('base64url'),
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      ...(user === undefined ? {} : { sub: user.id }),
      ...(sid === undefined || sid === '' ? {} : { sid }),
    }
  }

  function revocationClaims(clientId: string, endpoint: string): Record<string, unknown> {
    const t = nowS(ctx)
    return { jti: randomBytes(16).toString('base64url'), iss: ctx.url, sub: clientId, aud: endpoint, exp: t + 300, nbf: t - 300, iat: t }
  }

  async function post(channel: LogoutDelivery['channel'], clientId: string, url: string, init: RequestInit): Promise<LogoutDelivery> {
    let status = 0
    try {
      const res = await fetchImpl(url, { ...init, method: 'POST', redirect: 'manual', signal: AbortSignal.timeout(5000) })
      status = res.status
      await res.body?.cancel()
    } catch {
      status = 0
    }
    const d: LogoutDelivery = { channel, clientId, url, status, atMs: ctx.now() }
    deliveries.push(d)
    return d
  }

  async function sendLogoutToken(opts: { user?: string; sid?: string; clientId?: string; server?: string }): Promise<LogoutDelivery[]> {
    const user = userOf(opts.user)
    if (user === undefined && (opts.sid === undefined || opts.sid === '')) throw new Error('a logout token names a user, a session, or both')
    const server = serverFor(opts.server)
    return Promise.all(
      apps(opts.clientId, (a) => a.logout.backchannelUri !== undefined).map(async (a) => {
        const token = await sign(server, logoutClaims(server, a.clientId, user, opts.sid), 'logout+jwt')
        return post('backchannel', a.clientId, a.logout.backchannelUri as string, {
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ logout_token: token }).toString(),
        })
      }),
    )
  }

  async function sendUniversalLogout(opts: { user: string; clientId?: string; format?: 'email' | 'iss_sub' }): Promise<LogoutDelivery[]> {
    const user = userOf(opts.user) as DevUser
    const org = serverFor('org')
    return Promise.all(
      apps(opts.clientId, (a) => a.logout.universalLogout !== undefined).map(async (a) => {
        const ul = a.logout.universalLogout as NonNullable<DevApp['logout']['universalLogout']>
        const format = opts.format ?? ul.subjectFormat
        const jwt = await sign(org, revocationClaims(a.clientId, ul.endpoint), 'global-token-revocation+jwt')
        // The subject as the app knows the user: the issuer its tokens carry and the user id.
        const subject = format === 'email' ? { format, email: user.email } : { format, iss: issuerOf(ctx, serverFor(undefined)), sub: user.id }
        return post('universal_logout', a.clientId, ul.endpoint, {
          headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}` },
          body: JSON.stringify({ subject }),
        })
      }),
    )
  }

  // Sign-out at the IdP (its logout endpoint, or its own sign-out button): the back channel, for that session.
  ctx.events.on('logout', (e) => void sendLogoutToken({ user: e.userId, sid: e.sessionId, server: e.serverId }).catch(() => undefined))
  // Deactivation: every session of the user, by subject, and Universal Logout.
  ctx.events.on('tokens-revoked', (e) => {
    if (e.why !== 'user deactivated') return
    void sendLogoutToken({ user: e.userId }).catch(() => undefined)
    void sendUniversalLogout({ user: e.userId }).catch(() => undefined)
  })

  return {
    deliveries,
    sendLogoutToken,
    sendUniversalLogout,
    async forgeLogoutToken(o) {
      const server = serverFor(o.server)
      return sign(server, logoutClaims(server, o.clientId, userOf(o.user), o.sid), 'logout+jwt', o)
    },
    async forgeUniversalLogoutJwt(o) {
      const endpoint = o.endpoint ?? ctx.model.apps.get(o.clientId)?.logout.universalLogout?.endpoint
      if (endpoint === undefined) throw new Error(`app ${o.clientId} has no Universal Logout endpoint`)
      return sign(serverFor('org'), revocationClaims(o.clientId, endpoint), 'global-token-revocation+jwt', o)
    },
    async forgeAccessToken(o) {
      const claims = decodeJwt(o.like) as Record<string, unknown>
      const issuedBy = [...ctx.model.servers.values()].find((s) => issuerOf(ctx, s) === claims.iss)
      // Okta's access tokens carry no typ: the header is alg and kid, as this IdP issues them.
      return sign(serverFor(o.server ?? issuedBy?.id), claims, 'JWT', { ...o, header: { typ: undefined, ...o.header } })
    },
  }
}

/** The front-channel URLs the IdP's signed-out page frames for an IdP session that just ended: every app with a front-channel URI. */
export function frontchannelUrls(ctx: IdpContext, serverId: string, sessionId: string): string[] {
  const server = ctx.model.servers.get(serverId) ?? ctx.model.servers.get('default') ?? ctx.model.servers.get('org')
  if (server === undefined || sessionId === '') return []
  const iss = issuerOf(ctx, server)
  return [...ctx.model.apps.values()]
    .filter((a) => a.logout.frontchannelUri !== undefined)
    .map((a) => {
      const u = new URL(a.logout.frontchannelUri as string)
      u.searchParams.set('iss', iss)
      u.searchParams.set('sid', sessionId)
      return u.href
    })
}
