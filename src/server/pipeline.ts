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
import { decide, identify, identifyNow, resolveRequest, sessionCookie, type Identified, type RouteResolution } from './resolve.js'

/**
 * Runs without a promise or a microtask when everything it needs is already in
 * memory (the common case for a signed-in user): then it returns undefined
 * with the reply sent or streaming. Otherwise it returns a promise of the reply.
 */
export function handleRequest(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> | undefined {
  const snap = gh.current()
  const raw = request.raw
  const note = request.gatehouse

  const r = resolveRequest(gh, snap, raw)
  switch (r.kind) {
    case 'bad-request':
      badRequest(request, reply, r.message)
      return undefined
    case 'jwks':
      reply.code(200).header('content-type', 'application/json').header('cache-control', 'public, max-age=300').send(gh.jwksJson)
      return undefined
    case 'not-found':
      note.outcome = 'not-found'
      notFound(request, reply)
      return undefined
    case 'special':
      note.outcome = 'special'
      return handleSpecial(gh, request, reply, r)
  }
  note.route = r.route.id

  const cookie = sessionCookie(snap, raw, r)
  const known = identifyNow(gh, r, cookie)
  if (known === undefined) return identify(gh, r, cookie).then((who) => proceed(gh, request, reply, r, who))
  const out = proceed(gh, request, reply, r, known)
  return out instanceof Promise ? out : undefined
}

function proceed(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, r: RouteResolution, who: Identified): FastifyReply | Promise<FastifyReply> {
  if (who.kind === 'store-down') return storeUnavailable(gh, request, reply, who.err)
  const note = request.gatehouse
  const session = who.session
  if (session !== undefined) note.user = session.email ?? session.sub

  const decision = decide(gh, request.raw, r, session)
  note.outcome = decision.outcome
  if (decision.outcome === 'login') {
    note.reason = decision.reason
    return loginRequired(gh, request, reply, r.host, r.scheme, r.path + r.query)
  }
  if (decision.outcome === 'deny') {
    note.reason = decision.reason
    note.criterion = decision.criterion
    // The log keeps the whole reason; the caller is told only the criterion and their own value.
    return denied(request, reply, r.route, session, decision.publicReason, r.host, r.scheme)
  }
  return forward(gh, request, reply, r.rt, { host: r.host, path: r.path, query: r.query, fwd: r.fwd, session })
}

function loginRequired(
  gh: Gatehouse,
  request: FastifyRequest,
  reply: FastifyReply,
  host: HostPort,
  scheme: 'http' | 'https',
  pathAndQuery: string,
): Promise<FastifyReply> | FastifyReply {
  const origin = `${scheme}://${host.authority}`
  if (!wantsHtml(request)) {
    const signIn = `${origin}${PATHS.signIn}?rd=${encodeURIComponent(origin + pathAndQuery)}`
    reply.header('www-authenticate', 'Bearer realm="gatehouse"')
    return sendJson(reply, 401, { error: 'login_required', message: 'Sign in first.', sign_in_url: signIn, request_id: String(request.id) })
  }
  return startLogin(gh, request, reply, host, scheme, new URL(origin + pathAndQuery))
}

function denied(
  request: FastifyRequest,
  reply: FastifyReply,
  route: CompiledRoute,
  session: ActiveSession | undefined,
  reason: string,
  host: HostPort,
  scheme: string,
): FastifyReply {
  const requestId = String(request.id)
  if (!wantsHtml(request)) return sendJson(reply, 403, { error: 'forbidden', route: route.id, reason, request_id: requestId })
  return sendHtml(
    reply,
    403,
    forbiddenPage({
      route: route.id,
      user: session === undefined ? 'not signed in' : (session.email ?? session.sub),
      groups: session?.groups ?? [],
      reason,
      requestId,
      signOutHref: `${scheme}://${host.authority}${PATHS.signOut}`,
    }),
  )
}
