/**
 * `/v1/introspect` (RFC 7662) on the org server and on custom servers: the
 * caller authenticates as a client of the org (as at the token endpoint); an
 * access token this server issued that is unexpired, unrevoked and whose
 * user is still active is `active: true` with its claims under RFC 7662's
 * names (`scope`, `client_id`, `username`) next to Okta's (`uid`); anything
 * else is `{active: false}` and nothing more.
 */
import type http from 'node:http'
import { decodeJwt } from 'jose'
import { authenticateClient } from './client-auth.js'
import { endpointBase, userById, type IdpContext } from './context.js'
import { readBody, sendJson } from './http.js'
import type { DevServer } from './model.js'

export async function introspect(ctx: IdpContext, server: DevServer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'The introspection endpoint accepts POST only.' })
  ctx.counters.introspections++
  const form = new URLSearchParams(await readBody(req))
  const auth = await authenticateClient(ctx, req, form, `${endpointBase(ctx, server)}/introspect`)
  if (!auth.ok) return sendJson(res, 401, { error: auth.error, error_description: auth.description })
  const value = form.get('token')
  if (value === null || value === '') return sendJson(res, 400, { error: 'invalid_request', error_description: "The 'token' parameter is required." })
  const t = ctx.state.accessTokens.get(value)
  const user = t?.userId === undefined ? undefined : userById(ctx, t.userId)
  const alive = t !== undefined && t.serverId === server.id && !t.revoked && t.expiresAtMs > ctx.now() && (t.userId === undefined || user?.status === 'ACTIVE')
  if (!alive) return sendJson(res, 200, { active: false })
  const claims = decodeJwt(value)
  const { scp, cid, ver: _ver, ...rest } = claims
  sendJson(res, 200, {
    ...rest,
    active: true,
    token_type: 'Bearer',
    scope: Array.isArray(scp) ? scp.join(' ') : '',
    client_id: cid,
    ...(user === undefined ? {} : { username: user.login }),
  })
}
