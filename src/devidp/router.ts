/**
 * Paths → handlers, as Okta lays them out:
 *   /.well-known/openid-configuration            org server discovery
 *   /oauth2/v1/{endpoint}                         org server endpoints
 *   /oauth2/{id}/.well-known/openid-configuration custom server discovery
 *   /oauth2/{id}/v1/{endpoint}                    custom server endpoints
 *   /login/{id}, /login/signed-out                the sign-in form
 *   /, /login/sign-out                            who is signed in, and signing out of the IdP (idp-sign-out.ts)
 *   /devidp/admin/{name}                          the admin surface
 * Server endpoints are a table (`SERVER_ENDPOINTS`); other paths (Okta's
 * /api/v1, say) are added to `EXTRA_ROUTES`.
 */
import type http from 'node:http'
import type { DevIdpAdmin } from './admin.js'
import { adminHttp, ADMIN_PREFIX } from './admin-http.js'
import { authorize, signInForm } from './authorize.js'
import type { IdpContext } from './context.js'
import { discoveryDocument } from './discovery.js'
import { sendHtml, sendJson } from './http.js'
import type { DevServer } from './model.js'
import { idpErrorPage } from './pages.js'
import type { EndpointKind } from './rate-limit.js'
import { logout, revoke, userinfo } from './session-endpoints.js'
import { IDP_HOME, IDP_SIGN_OUT, idpHome, idpSignOut } from './idp-sign-out.js'
import { token } from './token.js'
import { introspect } from './introspect.js'
import { managementApi } from './management-api.js'

export type ServerEndpoint = (ctx: IdpContext, server: DevServer, req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>

function keys(ctx: IdpContext, server: DevServer, _req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  ctx.counters.jwksFetches++
  const ring = ctx.keys.get(server.id)
  sendJson(res, 200, ring?.jwks() ?? { keys: [] }, { 'cache-control': 'max-age=3600, must-revalidate' })
  return Promise.resolve()
}

/** `{base}/v1/{name}` on every server, with the rate-limit bucket it counts against. */
export const SERVER_ENDPOINTS = new Map<string, { kind: EndpointKind; handle: ServerEndpoint }>([
  ['authorize', { kind: 'authorize', handle: authorize }],
  ['token', { kind: 'token', handle: token }],
  ['keys', { kind: 'keys', handle: keys }],
  ['userinfo', { kind: 'userinfo', handle: userinfo }],
  ['logout', { kind: 'logout', handle: logout }],
  ['revoke', { kind: 'token', handle: revoke }],
  ['introspect', { kind: 'token', handle: introspect }],
])

export type ExtraRoute = (ctx: IdpContext, req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean>

/** Handlers tried, in order, for paths the table above does not know; each returns true when it answered. */
export const EXTRA_ROUTES: ExtraRoute[] = [managementApi]

function notFound(res: http.ServerResponse, what: string): void {
  sendJson(res, 404, { errorCode: 'E0000007', errorSummary: `Not found: Resource not found: ${what}`, errorLink: 'E0000007', errorCauses: [] })
}

export async function route(ctx: IdpContext, admin: DevIdpAdmin, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', ctx.url)
  const path = url.pathname
  // The IdP's own clock, as a relying party sees it (client assertions are judged by it).
  res.setHeader('date', new Date(ctx.now()).toUTCString())
  if (path === '/.well-known/openid-configuration' || path === '/.well-known/oauth-authorization-server') {
    if (!ctx.rate.admit('discovery', res)) return
    return sendJson(res, 200, discoveryDocument(ctx, ctx.model.servers.get('org') as DevServer), { 'cache-control': 'max-age=86400' })
  }
  const m = /^\/oauth2\/(?:v1\/([a-z_]+)|([A-Za-z0-9]+)\/(?:v1\/([a-z_]+)|\.well-known\/(openid-configuration|oauth-authorization-server)))$/.exec(path)
  if (m !== null) {
    const server = ctx.model.servers.get(m[1] !== undefined ? 'org' : (m[2] as string))
    if (server === undefined || (m[2] !== undefined && server.kind === 'org')) return notFound(res, `${m[2] ?? ''} (AuthorizationServer)`)
    if (m[4] !== undefined) {
      if (!ctx.rate.admit('discovery', res)) return
      return sendJson(res, 200, discoveryDocument(ctx, server), { 'cache-control': 'max-age=86400' })
    }
    const endpoint = SERVER_ENDPOINTS.get((m[1] ?? m[3]) as string)
    if (endpoint === undefined) return notFound(res, path)
    if (!ctx.rate.admit(endpoint.kind, res)) return
    return endpoint.handle(ctx, server, req, res)
  }
  if (path === IDP_HOME) return idpHome(ctx, req, res)
  if (path === IDP_SIGN_OUT) return idpSignOut(ctx, req, res)
  if (path === '/login/signed-out') return sendHtml(res, 200, idpErrorPage('Signed out', 'You are signed out of the local IdP.'))
  const login = /^\/login\/([A-Za-z0-9_-]+)$/.exec(path)
  if (login !== null) return signInForm(ctx, login[1] as string, req, res)
  if (path.startsWith(ADMIN_PREFIX)) return adminHttp(admin, path.slice(ADMIN_PREFIX.length), req, res)
  for (const extra of EXTRA_ROUTES) if (await extra(ctx, req, res, url)) return
  notFound(res, path)
}
