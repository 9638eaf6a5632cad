/**
 * Forwarding an allowed request: pick an upstream, build its URL (Pomerium's
 * `to` path and `prefix_rewrite`), set the upstream headers, stream both ways
 * (proxy/forwarder.ts). No retries behind the client's back; an upstream that
 * is down or slow gets a 502/504 page, never a hang.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Allow } from '../../authorize/verdict.js'
import { forwardRequest } from '../../proxy/forwarder.js'
import { upstreamPath } from '../../proxy/path.js'
import type { Gatehouse } from '../context.js'
import { badRequest, notFound, refuse } from '../pages/respond.js'
import type { UpstreamCall } from '../request-context.js'
import type { ActiveSession } from '../../authorize/ports.js'
import { followSession } from './follow-session.js'

/** Stream the allowed request to the route's upstream. */
export function forward(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, v: Allow): FastifyReply {
  const { rt, route, fwd } = v.target
  const ctx = request.gatehouse
  // A route without `to` answers forward-auth checks only.
  if (rt.upstreams === undefined) {
    ctx.outcome = 'not-found'
    return notFound(request, reply)
  }
  const up = rt.upstreams.next()
  const path = upstreamPath(route, v.target.path, up.pathname)
  if (path === undefined) {
    ctx.outcome = 'error'
    ctx.reason = 'rewritten path is not canonical'
    return badRequest(request, reply, 'The request path, once rewritten for this route, would leave the rewrite base.')
  }
  // One client address may hold only a share of the origin's connections.
  const release = gh.shares.take(up.origin, fwd.clientIp, ctx.snap.config.maxUpstreamRequestsPerClient)
  if (release === undefined) {
    ctx.outcome = 'error'
    ctx.reason = `client over its share of ${up.origin} (${ctx.snap.config.maxUpstreamRequestsPerClient} in progress)`
    reply.header('retry-after', '1')
    // Its body (if any) is not read: close the connection after answering.
    reply.header('connection', 'close')
    return refuse(request, reply, 'too_many_concurrent_requests')
  }
  reply.raw.once('close', release)
  const call: UpstreamCall = { origin: up.origin, startedMs: performance.now() }
  ctx.upstream = call
  const headers = rt.headers.upstream(request.raw.headers, {
    requestId: String(request.id),
    forwardedFor: fwd.forwardedFor,
    forwardedProto: fwd.proto,
    forwardedHost: fwd.host,
    host: route.preserveHostHeader ? v.target.host.authority : (route.hostRewrite ?? up.host),
    who: v.session,
    assertion: v.assertion,
    cookieName: ctx.snap.config.cookie.name,
  })
  forwardRequest(
    gh.dispatcher,
    request.raw,
    reply.raw,
    {
      origin: up.origin,
      path: path + (v.target.query.length > 1 ? v.target.query : ''),
      // Exactly the method the policy judged.
      method: v.target.method,
      headers,
      timeoutMs: route.timeoutMs,
      bodyIdleMs: route.idleTimeoutMs,
      bodyTotalMs: ctx.snap.config.timeoutReadMs,
      responseHeaders: rt.responseHeaders,
      ownCookieName: ctx.snap.config.cookie.name,
    },
    {
      onResponseStart(status, responseHeaders) {
        ctx.upstreamMs = performance.now() - call.startedMs
        if (v.session !== undefined && isOpenEnded(request.raw.method, status, responseHeaders)) followResponse(gh, request, reply, v, v.session)
      },
      onFailure(failure) {
        ctx.upstreamMs = performance.now() - call.startedMs
        ctx.outcome = 'error'
        const isTimeout = failure.kind === 'timeout'
        ctx.reason =
          failure.kind === 'request-timeout' ? 'request body too slow' : `upstream ${failure.kind}${failure.code === undefined ? '' : ` (${failure.code})`}`
        if (failure.kind !== 'request-timeout')
          gh.log.warn({ reqId: request.id, route: route.id, upstream: up.origin, err: { code: failure.code, message: failure.message } }, 'upstream failed')
        if (failure.kind === 'request-timeout') {
          // The rest of the body is not read: close the connection after answering.
          reply.header('connection', 'close')
          refuse(request, reply, 'request_timeout')
        } else if (isTimeout) {
          refuse(request, reply, 'upstream_timeout', {
            message: `The service behind this address did not answer within ${route.timeoutMs / 1000}s.`,
          })
        } else refuse(request, reply, 'upstream_unavailable')
      },
    },
  )
  return reply
}

/**
 * A response whose end nobody can foresee: server-sent events, or any body
 * of unknown length (no Content-Length: a chunked stream, a long poll). Such a
 * response may outlive its session, so it follows it as a WebSocket does.
 * Responses of known length are not listed: they end by themselves, and the
 * common case stays free of any bookkeeping.
 */
function isOpenEnded(method: string | undefined, status: number, headers: Readonly<Record<string, string | string[]>>): boolean {
  if (method === 'HEAD' || status === 204 || status === 304) return false
  const type = headers['content-type']
  if (typeof type === 'string' && type.toLowerCase().startsWith('text/event-stream')) return true
  return headers['content-length'] === undefined
}

/** When the session ends (or the token expires, or a re-check refuses), the response is cut: the client sees it incomplete, and the upstream request is aborted. */
function followResponse(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, v: Allow, session: ActiveSession): void {
  const res = reply.raw
  if (res.destroyed) return
  const route = v.target.route.id
  const untrack = followSession(gh, request.raw, { ...v, session }, false, (reason, shuttingDown) => {
    if (shuttingDown !== true) gh.log.info({ reqId: request.id, route, user: session.email ?? session.sub, reason }, 'streamed response closed by gatehouse')
    res.destroy()
  })
  res.once('close', untrack)
}
