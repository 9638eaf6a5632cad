/**
 * Forwarding an allowed request: pick an upstream, build its URL (Pomerium's
 * `to` path and `prefix_rewrite`), set the upstream headers, stream both ways
 * (proxy/forwarder.ts). No retries behind the client's back; an upstream that
 * is down or slow gets a 502/504 page, never a hang.
 */
import './request-note.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CompiledRoute } from '../config/types.js'
import type { ForwardedFacts } from '../proxy/client-address.js'
import type { Gatehouse } from './context.js'
import type { HostPort } from './host.js'
import type { ActiveSession } from './ports.js'
import { forwardRequest } from '../proxy/forwarder.js'
import { canonicalPath } from '../proxy/path.js'
import { badRequest, refuse } from './respond.js'
import type { RouteRuntime } from './snapshot.js'

export interface ForwardInput {
  readonly host: HostPort
  /** Canonical path (what the policy saw). */
  readonly path: string
  /** Raw query including '?', or ''. */
  readonly query: string
  readonly fwd: ForwardedFacts
  readonly session: ActiveSession | undefined
}

/**
 * The path the upstream receives: `prefix_rewrite` replaces the matched prefix; a `to` path is prepended.
 * undefined when the result is not canonical: `prefix: /pub1` rewritten to `/public/` would turn
 * `/pub1../private` into `/public/../private`, outside the rewrite base. The caller refuses with 400.
 */
export function upstreamPath(route: CompiledRoute, path: string, toPath: string): string | undefined {
  let p = path
  if (route.prefixRewrite !== undefined) {
    const prefix = route.path.kind === 'prefix' ? route.path.prefix : route.path.kind === 'path' ? route.path.path : '/'
    p = joinPath(route.prefixRewrite, path.startsWith(prefix) ? path.slice(prefix.length) : path)
  }
  if (toPath !== '/' && toPath !== '') p = joinPath(toPath, p)
  if (!p.startsWith('/')) p = '/' + p
  if (p === path) return p
  // Re-check after the rewrite: no dot segment, empty segment or anything the request path check refuses.
  const again = canonicalPath(p, '')
  return again.ok && again.path === p ? p : undefined
}

/** `a` + `b` with exactly one slash between them when both have one there. */
function joinPath(a: string, b: string): string {
  if (b === '') return a
  if (a.endsWith('/') && b.startsWith('/')) return a + b.slice(1)
  if (!a.endsWith('/') && !b.startsWith('/')) return `${a}/${b}`
  return a + b
}

/** One forwarded request's timing, kept on the request note. */
export interface UpstreamCall {
  readonly origin: string
  readonly startedMs: number
}

interface RouteForwarding {
  readonly responseHeaders: ReadonlyArray<readonly [string, string]>
}

// Per route, built once: the response headers the route sets, lower-cased.
const byRoute = new WeakMap<RouteRuntime, RouteForwarding>()

function routeForwarding(rt: RouteRuntime): RouteForwarding {
  let f = byRoute.get(rt)
  if (f === undefined) {
    f = { responseHeaders: Object.entries(rt.headers.setResponseHeaders).map(([name, value]) => [name.toLowerCase(), value] as const) }
    byRoute.set(rt, f)
  }
  return f
}

/**
 * Stream the request to the route's upstream. Synchronous when the session's
 * assertion is cached (the common case); a promise of the reply when one must
 * be signed first.
 */
export function forward(
  gh: Gatehouse,
  request: FastifyRequest,
  reply: FastifyReply,
  rt: RouteRuntime,
  input: ForwardInput,
): FastifyReply | Promise<FastifyReply> {
  const session = input.session
  if (session === undefined) return send(gh, request, reply, rt, input, undefined)
  const assertion = gh.signer.cached(session, input.host.hostname)
  if (assertion !== undefined) return send(gh, request, reply, rt, input, assertion)
  return gh.signer.assertionFor(session, input.host.hostname).then((jwt) => send(gh, request, reply, rt, input, jwt))
}

function send(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, rt: RouteRuntime, input: ForwardInput, assertion: string | undefined): FastifyReply {
  const route = rt.route
  const up = rt.upstreams.next()
  const note = request.gatehouse
  const path = upstreamPath(route, input.path, up.pathname)
  if (path === undefined) {
    note.outcome = 'error'
    note.reason = 'rewritten path is not canonical'
    return badRequest(request, reply, 'The request path, once rewritten for this route, would leave the rewrite base.')
  }
  const call: UpstreamCall = { origin: up.origin, startedMs: performance.now() }
  note.upstream = call
  const headers = rt.headers.upstream(request.raw.headers, {
    requestId: String(request.id),
    forwardedFor: input.fwd.forwardedFor,
    forwardedProto: input.fwd.proto,
    forwardedHost: input.fwd.host,
    host: route.preserveHostHeader ? input.host.authority : (route.hostRewrite ?? up.host),
    who: input.session,
    assertion,
    cookieName: gh.current().config.cookie.name,
  })
  forwardRequest(
    gh.dispatcher,
    request.raw,
    reply.raw,
    {
      origin: up.origin,
      path: path + (input.query.length > 1 ? input.query : ''),
      method: request.raw.method ?? 'GET',
      headers,
      timeoutMs: route.timeoutMs,
      responseHeaders: routeForwarding(rt).responseHeaders,
      ownCookieName: gh.current().config.cookie.name,
    },
    {
      onResponseStart() {
        note.upstreamMs = performance.now() - call.startedMs
      },
      onFailure(failure) {
        note.upstreamMs = performance.now() - call.startedMs
        note.outcome = 'error'
        const isTimeout = failure.kind === 'timeout'
        note.reason = `upstream ${failure.kind}${failure.code === undefined ? '' : ` (${failure.code})`}`
        gh.log.warn({ reqId: request.id, route: route.id, upstream: up.origin, err: { code: failure.code, message: failure.message } }, 'upstream failed')
        refuse(
          request,
          reply,
          isTimeout
            ? {
                status: 504,
                error: 'upstream_timeout',
                title: 'The service took too long',
                message: `The service behind this address did not answer within ${route.timeoutMs / 1000}s.`,
                hint: 'Try again. If it keeps happening, the service may be overloaded, or the route needs a longer timeout.',
              }
            : {
                status: 502,
                error: 'upstream_unavailable',
                title: 'The service is unavailable',
                message: 'gatehouse could not reach the service behind this address.',
                hint: 'Try again in a moment. If it keeps happening, the service may be down.',
              },
        )
      },
    },
  )
  return reply
}
