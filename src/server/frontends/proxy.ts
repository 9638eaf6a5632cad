/**
 * The reverse-proxy front end: the request's facts go to the authorize core;
 * the verdict comes back as a forward, a sign-in, a refusal, or one of
 * gatehouse's own endpoints.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { IncomingMessage } from 'node:http'
import { PATHS } from '../../constants.js'
import { authorize } from '../../authorize/decide.js'
import type { RequestFacts } from '../../authorize/facts.js'
import type { Verdict } from '../../authorize/verdict.js'
import type { Gatehouse } from '../context.js'
import { forbiddenPage } from '../pages/index.js'
import { badRequest, bearerRefused, loginRequired, notFound, sendHtml, sendJson, wantsHtml } from '../pages/respond.js'
import { REFUSALS } from '../pages/refusals.js'
import { storeUnavailable } from '../pages/failures.js'
import { handleEndpoint } from '../endpoints/index.js'
import { startLogin } from '../endpoints/sign-in.js'
import { sendToSignInHost } from '../endpoints/authenticate/handoff.js'
import type { RequestContext } from '../request-context.js'
import { forward } from './forward.js'

/**
 * The request's one Host header. Node keeps the first of several; a request
 * with more than one is refused (RFC 9112 §3.2: 400), since a proxy or an
 * upstream in front of or behind gatehouse may read another one than was judged.
 */
export function singleHost(raw: IncomingMessage): string | undefined {
  const h = raw.rawHeaders
  let seen = 0
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string
    if (name.length === 4 && name.toLowerCase() === 'host' && ++seen > 1) return undefined
  }
  return raw.headers.host
}

/** The facts of a request as it reached gatehouse's listener. */
export function factsOf(gh: Gatehouse, raw: IncomingMessage, isWebSocket: boolean): RequestFacts {
  return {
    method: raw.method ?? 'GET',
    scheme: gh.listenerProto,
    host: singleHost(raw),
    target: raw.url ?? '',
    peer: raw.socket.remoteAddress,
    headers: raw.headers,
    isWebSocket,
  }
}

/** Write what the verdict says about the request into its context (the log line and the metrics read it). */
export function noteVerdict(ctx: RequestContext, v: Verdict): void {
  switch (v.kind) {
    case 'not-found':
      ctx.outcome = 'not-found'
      return
    case 'endpoint':
      ctx.outcome = 'special'
      return
    case 'bad-request':
    case 'jwks':
      return
    case 'store-down':
      ctx.route = v.target.route.id
      return
    case 'sign-in':
      ctx.route = v.target.route.id
      ctx.outcome = 'login'
      ctx.reason = v.reason
      return
    case 'bearer-refused':
      ctx.route = v.target.route.id
      ctx.outcome = 'deny'
      ctx.reason = v.description
      return
    case 'deny':
      ctx.route = v.target.route.id
      if (v.session !== undefined) ctx.user = v.session.email ?? v.session.sub
      ctx.outcome = 'deny'
      ctx.reason = v.reason
      ctx.criterion = v.criterion
      return
    case 'allow':
      ctx.route = v.target.route.id
      if (v.session !== undefined) ctx.user = v.session.email ?? v.session.sub
      ctx.outcome = 'allow'
  }
}

/**
 * Runs without a promise or a microtask when everything it needs is already in
 * memory (the common case for a signed-in user): then it returns undefined
 * with the reply sent or streaming. Otherwise it returns a promise of the reply.
 */
export function handleRequest(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> | undefined {
  const v = authorize(gh, request.gatehouse.snap, factsOf(gh, request.raw, false))
  if (v instanceof Promise) return v.then((verdict) => answer(gh, request, reply, verdict))
  const out = answer(gh, request, reply, v)
  return out instanceof Promise ? out : undefined
}

function answer(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, v: Verdict): FastifyReply | Promise<FastifyReply> {
  noteVerdict(request.gatehouse, v)
  switch (v.kind) {
    case 'bad-request':
      return badRequest(request, reply, v.message)
    case 'jwks':
      return reply.code(200).header('content-type', 'application/json').header('cache-control', 'public, max-age=300').send(gh.jwksJson)
    case 'not-found':
      return notFound(request, reply)
    case 'endpoint':
      return handleEndpoint(gh, request, reply, v)
    case 'store-down':
      return storeUnavailable(gh, request, reply, v.err)
    case 'sign-in': {
      // With a sign-in host the verdict already holds the signed request: the browser goes there at once.
      if (wantsHtml(request) && v.handoff !== undefined) return sendToSignInHost(request, reply, v.target.scheme, v.handoff)
      if (wantsHtml(request))
        return startLogin(
          gh,
          request,
          reply,
          v.target.host,
          v.target.scheme,
          new URL(v.target.scheme + '://' + v.target.host.authority + v.target.path + v.target.query),
        )
      return loginRequired(request, reply, v.signInUrl)
    }
    case 'bearer-refused':
      // RFC 6750: the challenge names the problem; no cookie, no redirect.
      return bearerRefused(request, reply, v.status, v.description)
    case 'deny':
      return denied(request, reply, v)
    case 'allow':
      return forward(gh, request, reply, v)
  }
}

export function denied(request: FastifyRequest, reply: FastifyReply, v: Extract<Verdict, { kind: 'deny' }>): FastifyReply {
  const requestId = String(request.id)
  const status = REFUSALS.forbidden.status
  // The log keeps the whole reason; the caller is told only the criterion and their own value.
  if (!wantsHtml(request)) return sendJson(reply, status, { error: 'forbidden', route: v.target.route.id, reason: v.publicReason, request_id: requestId })
  return sendHtml(
    reply,
    status,
    forbiddenPage({
      route: v.target.route.id,
      user: v.session === undefined ? 'not signed in' : (v.session.email ?? v.session.sub),
      groups: v.session?.groups ?? [],
      reason: v.publicReason,
      requestId,
      signOutHref: `${v.target.scheme}://${v.target.host.authority}${PATHS.signOut}`,
    }),
  )
}
