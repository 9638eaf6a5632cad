/**
 * The request, top to bottom: resolve (host → path → special → route),
 * identify (session), decide (policy), then answer or forward.
 */
import './request-note.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PATHS } from '../constants.js'
import type { CompiledRoute } from '../config/types.js'
import type { Gatehouse } from './context.js'
import type { HostPort } from './host.js'
import { forbiddenPage } from './pages/index.js'
import { badRequest, notFound, sendHtml, sendJson, wantsHtml } from './respond.js'
import { storeUnavailable } from './failures.js'
import { forward } from './forward.js'
import { handleSpecial } from './special.js'
import { startLogin } from './sign-in.js'
import type { ActiveSession } from './ports.js'
import { decide, identify, resolveRequest } from './resolve.js'

export async function handleRequest(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const snap = gh.current()
  const raw = request.raw
  const note = request.gatehouse

  const r = resolveRequest(gh, snap, raw)
  switch (r.kind) {
    case 'bad-request':
      return badRequest(request, reply, r.message)
    case 'jwks':
      return reply.code(200).header('content-type', 'application/json').header('cache-control', 'public, max-age=300').send(gh.jwksJson)
    case 'not-found':
      note.outcome = 'not-found'
      return notFound(request, reply)
    case 'special':
      note.outcome = 'special'
      return handleSpecial(gh, request, reply, r)
  }
  note.route = r.route.id

  const who = await identify(gh, snap, raw, r)
  if (who.kind === 'store-down') return storeUnavailable(gh, request, reply, who.err)
  const session = who.session
  if (session !== undefined) note.user = session.email ?? session.sub

  const decision = decide(gh, raw, r, session)
  note.outcome = decision.outcome
  if (decision.outcome === 'login') {
    note.reason = decision.reason
    return loginRequired(gh, request, reply, r.host, r.scheme, r.path + r.query)
  }
  if (decision.outcome === 'deny') {
    note.reason = decision.reason
    note.criterion = decision.criterion
    return denied(request, reply, r.route, session, decision.reason, r.host, r.scheme)
  }
  return forward(gh, request, reply, r.rt, { host: r.host, path: r.path, query: r.query, fwd: r.fwd, session })
}

function loginRequired(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, host: HostPort, scheme: 'http' | 'https', pathAndQuery: string): Promise<FastifyReply> | FastifyReply {
  const origin = `${scheme}://${host.authority}`
  if (!wantsHtml(request)) {
    const signIn = `${origin}${PATHS.signIn}?rd=${encodeURIComponent(origin + pathAndQuery)}`
    reply.header('www-authenticate', 'Bearer realm="gatehouse"')
    return sendJson(reply, 401, { error: 'login_required', message: 'Sign in first.', sign_in_url: signIn, request_id: String(request.id) })
  }
  return startLogin(gh, request, reply, host, scheme, new URL(origin + pathAndQuery))
}

function denied(request: FastifyRequest, reply: FastifyReply, route: CompiledRoute, session: ActiveSession | undefined, reason: string, host: HostPort, scheme: string): FastifyReply {
  const requestId = String(request.id)
  if (!wantsHtml(request)) return sendJson(reply, 403, { error: 'forbidden', route: route.id, reason, request_id: requestId })
  return sendHtml(
    reply,
    403,
    forbiddenPage({
      route: route.id,
      user: session === undefined ? 'not signed in' : session.email ?? session.sub,
      groups: session?.groups ?? [],
      reason,
      requestId,
      signOutHref: `${scheme}://${host.authority}${PATHS.signOut}`,
    }),
  )
}
