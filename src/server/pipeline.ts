/**
 * The request, top to bottom: host → path → special endpoints → route →
 * identity → policy → upstream. Each step either answers or hands on.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PATHS, SPECIAL_PREFIX } from '../constants.js'
import type { CompiledRoute } from '../config/types.js'
import type { RequestFacts } from '../policy/types.js'
import { normalizeRequestPath } from '../proxy/path.js'
import type { Gatehouse } from './context.js'
import { parseHost, type HostPort } from './host.js'
import { readCookie } from './cookies.js'
import { forbiddenPage } from './pages/index.js'
import { badRequest, notFound, sendHtml, sendJson, wantsHtml } from './respond.js'
import { storeUnavailable } from './failures.js'
import { externalScheme, type RouteRuntime } from './snapshot.js'
import { forward } from './forward.js'
import { handleSpecial } from './special.js'
import { sessionCookieName, startLogin } from './sign-in.js'
import type { ActiveSession, LoadResult } from './ports.js'
import './request-note.js'

export async function handleRequest(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const snap = gh.current()
  const raw = request.raw
  const note = request.gatehouse

  const host = parseHost(raw.headers.host)
  if (host === undefined) return badRequest(request, reply, 'The Host header is missing or malformed.')
  const target = normalizeRequestPath(raw.url ?? '')
  if (!target.ok) return badRequest(request, reply, `The request path was refused: ${target.reason}.`)

  // The JWKS is public and apps fetch it from their own route host.
  if (target.path === PATHS.jwks || target.path === PATHS.pomeriumJwks) {
    return reply.code(200).header('content-type', 'application/json').header('cache-control', 'public, max-age=300').send(gh.jwksJson)
  }

  // A Host without a port means the scheme's default port.
  const port = host.port ?? (gh.listenerProto === 'https' ? 443 : 80)
  const scheme = externalScheme(snap, host.hostname, port)
  if (scheme === undefined || !snap.config.routeTable.hasHost(host.hostname, port)) {
    note.outcome = 'not-found'
    return notFound(request, reply)
  }

  if (target.path.startsWith(SPECIAL_PREFIX) || target.path === SPECIAL_PREFIX.slice(0, -1)) {
    note.outcome = 'special'
    return handleSpecial(gh, request, reply, { host, scheme, path: target.path })
  }

  const route = snap.config.routeTable.match(host.hostname, port, target.path)
  if (route === undefined) {
    note.outcome = 'not-found'
    return notFound(request, reply)
  }
  note.route = route.id
  const rt = snap.routes[route.index] as RouteRuntime
  const fwd = snap.clientAddress.resolve(raw.socket.remoteAddress, raw.headers, gh.listenerProto, host.authority)

  // Public routes never touch the session store: they keep working when it is down.
  let session: ActiveSession | undefined
  if (route.policy.needsSession) {
    let loaded: LoadResult
    try {
      loaded = await gh.sessions.load(readCookie(raw.headers.cookie, sessionCookieName(snap.config, scheme)))
    } catch (err) {
      return storeUnavailable(gh, request, reply, err)
    }
    if (loaded.kind === 'session') {
      session = loaded.session
      note.user = session.email ?? session.sub
    }
  }

  const facts: RequestFacts = {
    method: raw.method ?? 'GET',
    path: target.path,
    sourceIp: fwd.clientIp,
    isCorsPreflight: raw.method === 'OPTIONS' && raw.headers.origin !== undefined && raw.headers['access-control-request-method'] !== undefined,
  }
  const decision = route.policy.evaluate(session, facts, gh.now())
  note.outcome = decision.outcome
  if (decision.outcome === 'login') {
    note.reason = decision.reason
    return loginRequired(gh, request, reply, host, scheme, target.path + target.query)
  }
  if (decision.outcome === 'deny') {
    note.reason = decision.reason
    note.criterion = decision.criterion
    return denied(request, reply, route, session, decision.reason, host, scheme)
  }
  return forward(gh, request, reply, rt, { host, path: target.path, query: target.query, fwd, session })
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

