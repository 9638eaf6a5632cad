/**
 * The slice of Okta's management API gatehouse reads: `/api/v1/users/{id}/groups`
 * (and `/api/v1/groups`, `/api/v1/users/{id}`, for `check --online`). As Okta:
 * `Authorization: SSWS {api token}`, or `Bearer {token}` from the ORG server's
 * client-credentials grant carrying the right `okta.*` scope (a custom
 * server's token is refused); pages of at most 200 with `Link: <…>; rel="next"`
 * (an `after` cursor) and `rel="self"`; the `api` rate-limit bucket with
 * 429 and X-Rate-Limit-*; errors as Okta's `errorCode`/`errorSummary` bodies.
 */
import type http from 'node:http'
import { findUser, type IdpContext } from './context.js'
import { sendJson } from './http.js'
import type { DevGroup, DevUser } from './model.js'

const MAX_LIMIT = 200

function oktaError(res: http.ServerResponse, status: number, code: string, summary: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { errorCode: code, errorSummary: summary, errorLink: code, errorId: `oae${Date.now().toString(36)}`, errorCauses: [] }, headers)
}

/** The scopes the caller holds, or undefined after answering 401. An API token acts with its admin's rights: every read scope. */
function caller(ctx: IdpContext, req: http.IncomingMessage, res: http.ServerResponse): ReadonlySet<string> | 'all' | undefined {
  const h = req.headers.authorization ?? ''
  const ssws = /^SSWS\s+(\S+)$/i.exec(h)
  if (ssws !== null && ctx.model.apiTokens.has(ssws[1] as string)) return 'all'
  const bearer = /^Bearer\s+(\S+)$/i.exec(h)
  const t = bearer === null ? undefined : ctx.state.accessTokens.get(bearer[1] as string)
  // Only the org server issues tokens for Okta's own API.
  if (t !== undefined && t.serverId === 'org' && !t.revoked && t.expiresAtMs > ctx.now()) return new Set(t.scopes)
  oktaError(res, 401, 'E0000011', 'Invalid token provided', bearer === null ? {} : { 'www-authenticate': 'Bearer error="invalid_token"' })
  return undefined
}

function requireScope(held: ReadonlySet<string> | 'all', scope: string, res: http.ServerResponse): boolean {
  if (held === 'all' || held.has(scope)) return true
  oktaError(res, 403, 'E0000006', 'You do not have permission to perform the requested action', {
    'www-authenticate': `Bearer error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", scope="${scope}"`,
  })
  return false
}

function groupJson(g: DevGroup): Record<string, unknown> {
  return {
    id: g.id,
    created: '2026-01-01T00:00:00.000Z',
    lastUpdated: '2026-01-01T00:00:00.000Z',
    lastMembershipUpdated: '2026-01-01T00:00:00.000Z',
    objectClass: ['okta:user_group'],
    type: g.name === 'Everyone' ? 'BUILT_IN' : 'OKTA_GROUP',
    profile: { name: g.name, description: null },
    _links: {},
  }
}

function userJson(u: DevUser): Record<string, unknown> {
  return {
    id: u.id,
    status: u.status,
    profile: { login: u.login, email: u.email, firstName: u.name.split(' ')[0], lastName: u.name.split(' ').slice(1).join(' ') },
  }
}

/** One page after the `after` cursor, with Okta's Link header. */
function page(ctx: IdpContext, url: URL, res: http.ServerResponse, all: readonly DevGroup[]): void {
  const raw = url.searchParams.get('limit')
  const limit = raw === null ? MAX_LIMIT : Number(raw)
  if (!Number.isInteger(limit) || limit < 1) return oktaError(res, 400, 'E0000001', 'Api validation failed: limit')
  const size = Math.min(limit, MAX_LIMIT)
  const after = url.searchParams.get('after')
  const start = after === null ? 0 : all.findIndex((g) => g.id === after) + 1
  const items = all.slice(start, start + size)
  const base = `${ctx.url}${url.pathname}`
  const links = [`<${base}?limit=${size}>; rel="self"`]
  const last = items[items.length - 1]
  if (start + size < all.length && last !== undefined) links.push(`<${base}?after=${encodeURIComponent(last.id)}&limit=${size}>; rel="next"`)
  sendJson(res, 200, items.map(groupJson), { link: links.join(', ') })
}

export async function managementApi(ctx: IdpContext, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> {
  if (!url.pathname.startsWith('/api/v1/')) return false
  ctx.counters.apiCalls++
  if (ctx.outages.api) {
    req.socket.destroy()
    return true
  }
  if (!ctx.rate.admit('api', res)) return true
  if (req.method !== 'GET') {
    oktaError(res, 405, 'E0000022', 'The endpoint does not support the provided HTTP method')
    return true
  }
  const held = caller(ctx, req, res)
  if (held === undefined) return true
  const userGroups = /^\/api\/v1\/users\/([^/]+)\/groups$/.exec(url.pathname)
  const userOnly = /^\/api\/v1\/users\/([^/]+)$/.exec(url.pathname)
  if (userGroups !== null || userOnly !== null) {
    if (!requireScope(held, 'okta.users.read', res)) return true
    const id = decodeURIComponent(((userGroups ?? userOnly) as RegExpExecArray)[1] as string)
    const user = findUser(ctx, id)
    if (user === undefined) {
      oktaError(res, 404, 'E0000007', `Not found: Resource not found: ${id} (User)`)
      return true
    }
    if (userOnly !== null) {
      sendJson(res, 200, userJson(user))
      return true
    }
    const names = ['Everyone', ...user.groups.filter((g) => g !== 'Everyone')]
    page(
      ctx,
      url,
      res,
      names.map((n) => ctx.model.groups.get(n) ?? { id: `00g${Buffer.from(n).toString('hex').slice(0, 17)}`, name: n }),
    )
    return true
  }
  if (url.pathname === '/api/v1/groups') {
    if (!requireScope(held, 'okta.groups.read', res)) return true
    page(ctx, url, res, [...ctx.model.groups.values()])
    return true
  }
  oktaError(res, 404, 'E0000007', `Not found: Resource not found: ${url.pathname}`)
  return true
}
