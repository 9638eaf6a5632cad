/**
 * `/v1/authorize` and the sign-in form behind it. What Okta checks before it
 * redirects anywhere (client, registered redirect URI) gets an error page;
 * everything after goes back to the redirect URI with `error`, Okta's
 * `error_description` and the request's `state`: unknown scopes, a missing
 * state or nonce, PKCE the app requires, `prompt=none` with no session, a
 * user not assigned to the app, an access policy with no matching rule.
 */
import type http from 'node:http'
import { evaluateAccessPolicy } from './access-policy.js'
import { checkClaims } from './claims.js'
import { findUser, isAssigned, nowSeconds, userById, type IdpContext } from './context.js'
import { errorPage, OKTA, readBody, readCookie, redirectError, redirectWith, sendHtml } from './http.js'
import { issueTokens } from './issue.js'
import type { DevServer, DevUser } from './model.js'
import { loginPage } from './pages.js'
import { randomId, type IdpSession, type PendingAuthorization } from './state.js'

export const SESSION_COOKIE = 'devidp_sid'
const OIDC_SCOPES = ['openid', 'profile', 'email', 'address', 'phone', 'offline_access']
const PENDING_TTL_MS = 10 * 60_000

export function scopesSupported(server: DevServer): string[] {
  return [...OIDC_SCOPES, ...server.scopes.filter((s) => !OIDC_SCOPES.includes(s))]
}

export function currentSession(ctx: IdpContext, req: http.IncomingMessage): IdpSession | undefined {
  const id = readCookie(req.headers.cookie, SESSION_COOKIE)
  const s = id === undefined ? undefined : ctx.state.sessions.get(id)
  if (s === undefined) return undefined
  const user = userById(ctx, s.userId)
  return user?.status === 'ACTIVE' ? s : undefined
}

export async function authorize(ctx: IdpContext, server: DevServer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const q = new URL(req.url ?? '/', ctx.url).searchParams
  const app = ctx.model.apps.get(q.get('client_id') ?? '')
  if (app === undefined || !app.active) return errorPage(res, 400, 'invalid_client', "Invalid value for 'client_id' parameter.")
  const redirectUri = q.get('redirect_uri') ?? ''
  if (!app.redirectUris.includes(redirectUri)) return errorPage(res, 400, 'invalid_request', OKTA.redirectNotRegistered)
  const responseType = (q.get('response_type') ?? '').split(' ').filter(Boolean).sort().join(' ')
  const implicit = responseType === 'id_token' || responseType === 'id_token token' || responseType === 'token'
  const modeParam = q.get('response_mode')
  const mode = modeParam === 'form_post' || modeParam === 'fragment' || modeParam === 'query' ? modeParam : implicit ? 'fragment' : 'query'
  const state = q.get('state') ?? undefined
  const fail = (error: string, description: string): void => redirectError(res, redirectUri, mode, error, description, state)

  if (responseType !== 'code' && !implicit)
    return fail(
      'unsupported_response_type',
      `The response type is not supported by the authorization server. Configured response types: [code, token, id_token].`,
    )
  if ((responseType === 'code' && !app.grantTypes.has('authorization_code')) || (implicit && !app.grantTypes.has('implicit')))
    return fail('unauthorized_client', 'The client is not authorized to use the provided response type.')
  if (state === undefined || state === '') return fail('invalid_request', "The authorization request is missing the 'state' parameter.")
  const scopes = (q.get('scope') ?? '').split(' ').filter(Boolean)
  if (scopes.length === 0) return fail('invalid_scope', 'The authorization request must contain a scope.')
  const supported = scopesSupported(server)
  if (scopes.some((s) => !supported.includes(s))) return fail('invalid_scope', OKTA.invalidScope)
  const nonce = q.get('nonce') ?? undefined
  if (responseType.includes('id_token') && nonce === undefined)
    return fail('invalid_request', "The 'nonce' parameter is required for authorize requests with either the 'id_token' or 'token' response types.")
  const codeChallenge = q.get('code_challenge') ?? undefined
  if (codeChallenge !== undefined && q.get('code_challenge_method') !== 'S256')
    return fail('invalid_request', "The 'code_challenge_method' parameter must be 'S256'.")
  if (codeChallenge === undefined && app.requirePkce && responseType === 'code')
    return fail('invalid_request', "PKCE code challenge is required when the token endpoint authentication method is 'NONE'.")

  const pending: PendingAuthorization = {
    id: randomId(),
    serverId: server.id,
    clientId: app.clientId,
    redirectUri,
    responseType,
    scopes,
    state,
    nonce,
    codeChallenge,
    responseMode: mode,
    createdAtMs: ctx.now(),
  }
  const prompt = (q.get('prompt') ?? '').split(' ')
  const session = currentSession(ctx, req)
  if (session !== undefined && !prompt.includes('login')) {
    const user = userById(ctx, session.userId) as DevUser
    return complete(ctx, pending, user, session, res)
  }
  if (prompt.includes('none')) return fail('login_required', OKTA.loginRequired)
  for (const [id, p] of ctx.state.pending) if (ctx.now() - p.createdAtMs > PENDING_TTL_MS) ctx.state.pending.delete(id)
  ctx.state.pending.set(pending.id, pending)
  res.writeHead(302, { location: `${ctx.url}/login/${pending.id}`, 'cache-control': 'no-store' })
  res.end()
}

/** GET shows the form; POST checks the password, starts the IdP session and finishes the authorization. */
export async function signInForm(ctx: IdpContext, pendingId: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const pending = ctx.state.pending.get(pendingId)
  if (pending === undefined) return errorPage(res, 400, 'invalid_request', 'This sign-in has expired. Start again from the application.')
  const app = ctx.model.apps.get(pending.clientId)
  const action = `/login/${pendingId}`
  const clientName = app?.name ?? pending.clientId
  if (req.method !== 'POST') return sendHtml(res, 200, loginPage({ action, clientName }))
  const form = new URLSearchParams(await readBody(req))
  const username = form.get('username') ?? ''
  const user = findUser(ctx, username)
  if (user === undefined || user.password !== form.get('password') || user.status !== 'ACTIVE') {
    return sendHtml(res, 200, loginPage({ action, clientName, username, error: 'Unable to sign in: unknown user, wrong password, or a deactivated account.' }))
  }
  ctx.state.pending.delete(pendingId)
  ctx.counters.logins++
  const session: IdpSession = { id: randomId('102'), userId: user.id, authTimeS: nowSeconds(ctx) }
  ctx.state.sessions.set(session.id, session)
  // Lax, not None: browsers drop a SameSite=None cookie that is not Secure, and the local IdP speaks plain http.
  return complete(ctx, pending, user, session, res, [`${SESSION_COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Lax`])
}

async function complete(
  ctx: IdpContext,
  p: PendingAuthorization,
  user: DevUser,
  session: IdpSession,
  res: http.ServerResponse,
  cookies: string[] = [],
): Promise<void> {
  const headers: Record<string, string | string[]> = cookies.length === 0 ? {} : { 'set-cookie': cookies }
  const fail = (error: string, description: string): void =>
    redirectWith(res, p.redirectUri, p.responseMode, { error, error_description: description, state: p.state }, headers)
  const server = ctx.model.servers.get(p.serverId)
  const app = ctx.model.apps.get(p.clientId)
  if (server === undefined || app === undefined) return fail('server_error', 'The authorization server or the app no longer exists.')
  if (!isAssigned(app, user)) return fail('access_denied', OKTA.notAssigned)
  const implicit = p.responseType !== 'code'
  const policy = evaluateAccessPolicy(server, app.clientId, implicit ? 'implicit' : 'authorization_code', user, p.scopes)
  if (!policy.ok) return fail('access_denied', OKTA.policyFailed)
  const flow = implicit ? 'implicit' : 'authorization_code'
  const claims = checkClaims({ server, app, user, scopes: p.scopes, flow })
  if (!claims.ok) return fail('server_error', claims.description)
  if (!implicit) {
    const code = randomId()
    ctx.state.codes.set(code, {
      code,
      serverId: server.id,
      clientId: app.clientId,
      userId: user.id,
      sessionId: session.id,
      redirectUri: p.redirectUri,
      scopes: p.scopes,
      nonce: p.nonce,
      codeChallenge: p.codeChallenge,
      authTimeS: session.authTimeS,
      expiresAtMs: ctx.now() + 60_000,
    })
    return redirectWith(res, p.redirectUri, p.responseMode, { code, state: p.state }, headers)
  }
  const issued = await issueTokens(ctx, {
    server,
    app,
    user,
    scopes: p.scopes.filter((s) => s !== 'offline_access'),
    flow,
    nonce: p.nonce,
    authTimeS: session.authTimeS,
    sessionId: session.id,
    accessTokenTtlSeconds: policy.rule?.accessTokenLifetimeSeconds ?? 3600,
    want: { accessToken: p.responseType.includes('token') && p.responseType !== 'id_token', idToken: p.responseType.includes('id_token') },
  })
  if (!issued.ok) return fail('server_error', issued.description)
  const t = issued.tokens
  const params: Record<string, string> = { state: p.state, scope: t.scope }
  if (t.access_token !== undefined) Object.assign(params, { access_token: t.access_token, token_type: 'Bearer', expires_in: String(t.expires_in) })
  if (t.id_token !== undefined) params.id_token = t.id_token
  return redirectWith(res, p.redirectUri, p.responseMode, params, headers)
}
