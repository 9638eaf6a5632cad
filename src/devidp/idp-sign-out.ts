/**
 * Sign-out at the IdP itself: `/` shows who is signed in with a "Sign out of
 * the IdP" button; `POST /login/sign-out` ends the IdP session and tells the
 * apps, as Okta does when a person signs out of Okta: back-channel logout
 * tokens (the `logout` event, see logout-sender.ts) and a page that frames
 * every app's front-channel logout URL.
 */
import type http from 'node:http'
import { currentSession, SESSION_COOKIE } from './authorize.js'
import { userById, type IdpContext } from './context.js'
import { sendHtml } from './http.js'
import { frontchannelUrls } from './logout-sender.js'
import { frontchannelPage, homePage } from './pages.js'

export const IDP_HOME = '/'
export const IDP_SIGN_OUT = '/login/sign-out'

export async function idpHome(ctx: IdpContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const session = currentSession(ctx, req)
  const user = session === undefined ? undefined : userById(ctx, session.userId)
  sendHtml(res, 200, homePage({ who: user?.email, action: IDP_SIGN_OUT }), { 'cache-control': 'no-store' })
}

export async function idpSignOut(ctx: IdpContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'POST') return idpHome(ctx, req, res)
  const session = currentSession(ctx, req)
  const expired = `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly`
  const next = `${ctx.url}/login/signed-out`
  if (session === undefined) {
    res.writeHead(302, { location: next, 'set-cookie': expired, 'cache-control': 'no-store' })
    res.end()
    return
  }
  ctx.state.sessions.delete(session.id)
  ctx.counters.logouts++
  const server = ctx.model.servers.has('default') ? 'default' : 'org'
  const clientIds = [...ctx.model.apps.keys()]
  ctx.events.emit('logout', { serverId: server, sessionId: session.id, userId: session.userId, clientIds })
  sendHtml(res, 200, frontchannelPage({ urls: frontchannelUrls(ctx, server, session.id), next }), { 'set-cookie': expired, 'cache-control': 'no-store' })
}
