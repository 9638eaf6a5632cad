/**
 * Minting the tokens of one grant: the access token (a JWT for the server's
 * audience on a custom server, an Okta-only token on the org server), the ID
 * token when `openid` was granted, and a refresh token only when
 * `offline_access` was granted and the app has the Refresh Token grant.
 */
import { userClaims } from './claims.js'
import { issuerOf, nowSeconds, type IdpContext } from './context.js'
import type { Flow } from './groups-claim.js'
import type { DevApp, DevServer, DevUser } from './model.js'
import { randomId, type RefreshFamily } from './state.js'
import { signAccessToken, signIdToken } from './tokens.js'

export interface GrantInput {
  readonly server: DevServer
  readonly app: DevApp
  readonly user: DevUser
  readonly scopes: readonly string[]
  readonly flow: Flow
  readonly nonce: string | undefined
  readonly authTimeS: number
  readonly sessionId: string
  readonly accessTokenTtlSeconds: number
  /** The family a refresh continues; a new one is started otherwise. */
  readonly family?: RefreshFamily
  /** Implicit: which tokens the response type asked for. */
  readonly want?: { accessToken: boolean; idToken: boolean }
}

export interface IssuedTokens {
  readonly token_type: 'Bearer'
  readonly expires_in: number
  readonly scope: string
  readonly access_token?: string
  readonly id_token?: string
  readonly refresh_token?: string
}

export type IssueResult = { readonly ok: true; readonly tokens: IssuedTokens } | { readonly ok: false; readonly description: string }

export async function issueTokens(ctx: IdpContext, g: GrantInput): Promise<IssueResult> {
  const issuer = issuerOf(ctx, g.server)
  const nowS = nowSeconds(ctx)
  const want = g.want ?? { accessToken: true, idToken: true }
  const ac = userClaims({ server: g.server, app: g.app, user: g.user, scopes: g.scopes, flow: g.flow, kind: 'access' })
  if (!ac.ok) return ac
  const idc = userClaims({ server: g.server, app: g.app, user: g.user, scopes: g.scopes, flow: g.flow, kind: 'id' })
  if (!idc.ok) return idc
  let accessToken: string | undefined
  if (want.accessToken) {
    const key = g.server.kind === 'org' ? ctx.orgAccessKey : (ctx.keys.get(g.server.id)?.active() ?? ctx.orgAccessKey)
    accessToken = await signAccessToken(key, {
      issuer,
      audience: g.server.kind === 'org' ? ctx.url : g.server.audience,
      clientId: g.app.clientId,
      userId: g.user.id,
      subject: g.user.login,
      scopes: g.scopes,
      authTimeS: g.authTimeS,
      claims: ac.claims,
      ttlSeconds: g.accessTokenTtlSeconds,
      nowS,
    })
    ctx.state.accessTokens.set(accessToken, {
      serverId: g.server.id,
      clientId: g.app.clientId,
      userId: g.user.id,
      scopes: g.scopes,
      expiresAtMs: (nowS + g.accessTokenTtlSeconds) * 1000,
      revoked: false,
    })
  }
  let idToken: string | undefined
  if (want.idToken && g.scopes.includes('openid')) {
    const keys = ctx.keys.get(g.server.id)
    if (keys === undefined) throw new Error(`no keys for server ${g.server.id}`)
    idToken = await signIdToken(keys, {
      issuer,
      clientId: g.app.clientId,
      userId: g.user.id,
      orgIdpId: ctx.orgIdpId,
      authTimeS: g.authTimeS,
      nonce: g.nonce,
      accessToken,
      ...(g.sessionId === '' ? {} : { sessionId: g.sessionId }),
      claims: idc.claims,
      ttlSeconds: ctx.model.idTokenTtlSeconds,
      nowS,
    })
  }
  const refreshToken = g.flow === 'implicit' ? undefined : nextRefreshToken(ctx, g)
  return {
    ok: true,
    tokens: {
      token_type: 'Bearer',
      expires_in: g.accessTokenTtlSeconds,
      scope: g.scopes.join(' '),
      ...(accessToken === undefined ? {} : { access_token: accessToken }),
      ...(idToken === undefined ? {} : { id_token: idToken }),
      ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    },
  }
}

/** Okta issues a refresh token only for offline_access with the Refresh Token grant enabled on the app. */
function nextRefreshToken(ctx: IdpContext, g: GrantInput): string | undefined {
  if (!g.scopes.includes('offline_access') || !g.app.grantTypes.has('refresh_token')) return undefined
  const f = g.family
  if (f !== undefined) {
    if (g.app.refresh.rotation === 'persistent') return f.current
    const fresh = randomId()
    f.previous.set(f.current, ctx.now() + g.app.refresh.gracePeriodSeconds * 1000)
    f.current = fresh
    ctx.state.refreshIndex.set(fresh, f.id)
    return fresh
  }
  const token = randomId()
  const family: RefreshFamily = {
    id: randomId('rtf'),
    serverId: g.server.id,
    clientId: g.app.clientId,
    userId: g.user.id,
    sessionId: g.sessionId,
    scopes: g.scopes,
    authTimeS: g.authTimeS,
    current: token,
    previous: new Map(),
    expiresAtMs: g.app.refresh.lifetimeSeconds === undefined ? undefined : ctx.now() + g.app.refresh.lifetimeSeconds * 1000,
    revoked: false,
  }
  ctx.state.refreshFamilies.set(family.id, family)
  ctx.state.refreshIndex.set(token, family.id)
  return token
}
