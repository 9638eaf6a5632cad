/**
 * The endpoints around a session: `/v1/userinfo` (the claims of the access
 * token's scopes; the org server's groups claim lives here), `/v1/logout`
 * (Okta's rules: `id_token_hint` required, an expired one accepted, the
 * `post_logout_redirect_uri` registered on the app, `state` echoed) and
 * `/v1/revoke`.
 */
import type http from 'node:http'
import { compactVerify, decodeJwt, decodeProtectedHeader } from 'jose'
import { SESSION_COOKIE } from './authorize.js'
import { authenticateClient } from './client-auth.js'
import { userClaims } from './claims.js'
import { endpointBase, issuerOf, userById, type IdpContext } from './context.js'
import { errorPage, OKTA, readBody, readCookie, sendHtml, sendJson } from './http.js'
import { frontchannelUrls } from './logout-sender.js'
import { frontchannelPage } from './pages.js'
import type { DevServer } from './model.js'

function invalidToken(res: http.ServerResponse, description: string): void {
  res.writeHead(401, {
    'www-authenticate': `Bearer authorization_uri="", error="invalid_token", error_description="${description}"`,
    'cache-control': 'no-store',
  })
  res.end()
}

export async function userinfo(ctx: IdpContext, server: DevServer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  ctx.counters.userinfoCalls++
  const auth = req.headers.authorization ?? ''
  const bearer = /^Bearer\s+(\S+)$/i.exec(auth)?.[1]
  const t = bearer === undefined ? undefined : ctx.state.accessTokens.get(bearer)
  if (t === undefined || t.revoked || t.expiresAtMs <= ctx.now() || t.serverId !== server.id || t.userId === undefined)
    return invalidToken(res, 'The access token is invalid.')
  if (!t.scopes.includes('openid')) {
    res.writeHead(403, {
      'www-authenticate':
        'Bearer error="insufficient_scope", error_description="The access token must provide access to at least one of these scopes - profile, email, address or phone"',
    })
    res.end()
    return
  }
  const user = userById(ctx, t.userId)
  const app = ctx.model.apps.get(t.clientId)
  if (user === undefined || user.status !== 'ACTIVE' || app === undefined) return invalidToken(res, 'The access token is invalid.')
  const claims = userClaims({ server, app, user, scopes: t.scopes, flow: 'authorization_code', kind: 'userinfo' })
  if (!claims.ok) return sendJson(res, 400, { error: 'server_error', error_description: claims.description })
  sendJson(res, 200, { sub: user.id, ...claims.claims })
}

export async function logout(ctx: IdpContext, server: DevServer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', ctx.url)
  const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams
  const call = {
    serverId: server.id,
    idTokenHint: params.get('id_token_hint'),
    postLogoutRedirectUri: params.get('post_logout_redirect_uri'),
    state: params.get('state'),
  }
  const refuse = (why: string): void => {
    ctx.endSessions.push({ ...call, accepted: false, error: why })
    errorPage(res, 400, 'invalid_request', why)
  }
  if (call.idTokenHint === null) return refuse(OKTA.noIdTokenHint)
  let clientId: string
  let userId: string
  let hintSid: string | undefined
  try {
    // Okta accepts an expired hint: only the signature and the issuer are checked.
    const kid = decodeProtectedHeader(call.idTokenHint).kid
    const key = kid === undefined ? undefined : await ctx.keys.get(server.id)?.publicKeyFor(kid)
    if (key === undefined) throw new Error('unknown key')
    await compactVerify(call.idTokenHint, key)
    const claims = decodeJwt(call.idTokenHint)
    if (claims.iss !== issuerOf(ctx, server)) throw new Error('other issuer')
    clientId = String(Array.isArray(claims.aud) ? claims.aud[0] : claims.aud)
    userId = String(claims.sub)
    hintSid = typeof claims.sid === 'string' ? claims.sid : undefined
  } catch {
    return refuse("The 'id_token_hint' parameter is not a valid ID token issued by this authorization server.")
  }
  const app = ctx.model.apps.get(clientId)
  if (call.postLogoutRedirectUri !== null && !(app?.postLogoutRedirectUris ?? []).includes(call.postLogoutRedirectUri))
    return refuse(OKTA.logoutRedirectNotRegistered)
  ctx.counters.logouts++
  ctx.endSessions.push({ ...call, accepted: true })
  const sid = readCookie(req.headers.cookie, SESSION_COOKIE)
  const session = sid === undefined ? undefined : ctx.state.sessions.get(sid)
  // The session the hint was issued in, when the browser's cookie is gone (Okta ends it either way).
  const hinted = session ?? ctx.state.sessions.get(hintSid ?? '')
  if (hinted !== undefined) {
    ctx.state.sessions.delete(hinted.id)
    ctx.events.emit('logout', { serverId: server.id, sessionId: hinted.id, userId: hinted.userId, clientIds: [clientId] })
  } else {
    ctx.events.emit('logout', { serverId: server.id, sessionId: '', userId, clientIds: [clientId] })
  }
  let target: string
  if (call.postLogoutRedirectUri === null) target = `${ctx.url}/login/signed-out`
  else {
    const u = new URL(call.postLogoutRedirectUri)
    if (call.state !== null) u.searchParams.set('state', call.state)
    target = u.href
  }
  const expired = `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly`
  // Single Logout: every app with a front-channel URI is told in a frame before the browser moves on.
  const frames = hinted === undefined ? [] : frontchannelUrls(ctx, server.id, hinted.id)
  if (frames.length > 0) return sendHtml(res, 200, frontchannelPage({ urls: frames, next: target }), { 'set-cookie': expired, 'cache-control': 'no-store' })
  res.writeHead(302, { location: target, 'set-cookie': expired, 'cache-control': 'no-store' })
  res.end()
}

export async function revoke(ctx: IdpContext, server: DevServer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'The revocation endpoint accepts POST only.' })
  const form = new URLSearchParams(await readBody(req))
  const auth = await authenticateClient(ctx, req, form, `${endpointBase(ctx, server)}/revoke`)
  if (!auth.ok) return sendJson(res, 401, { error: auth.error, error_description: auth.description })
  const value = form.get('token') ?? ''
  const familyId = ctx.state.refreshIndex.get(value)
  const family = familyId === undefined ? undefined : ctx.state.refreshFamilies.get(familyId)
  if (family !== undefined && family.clientId === auth.app.clientId) family.revoked = true
  const at = ctx.state.accessTokens.get(value)
  if (at !== undefined && at.clientId === auth.app.clientId) at.revoked = true
  // RFC 7009: 200 whether or not the token was known.
  res.writeHead(200, { 'cache-control': 'no-store' })
  res.end()
}
