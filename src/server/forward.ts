/**
 * Forwarding an allowed request: pick an upstream, build its URL (Pomerium's
 * `to` path and `prefix_rewrite`), set the upstream headers, stream both ways
 * through @fastify/reply-from. No retries behind the client's back; an
 * upstream that is down or slow gets a 502/504 page, never a hang.
 */
import './request-note.js'
import '@fastify/reply-from'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CompiledRoute } from '../config/types.js'
import type { ForwardedFacts } from '../proxy/client-address.js'
import type { Gatehouse } from './context.js'
import type { HostPort } from './host.js'
import type { ActiveSession } from './ports.js'
import { refuse } from './respond.js'
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

/** The path the upstream receives: `prefix_rewrite` replaces the matched prefix; a `to` path is prepended. */
export function upstreamPath(route: CompiledRoute, path: string, toPath: string): string {
  let p = path
  if (route.prefixRewrite !== undefined) {
    const prefix = route.path.kind === 'prefix' ? route.path.prefix : route.path.kind === 'path' ? route.path.path : '/'
    p = joinPath(route.prefixRewrite, path.startsWith(prefix) ? path.slice(prefix.length) : path)
  }
  if (toPath !== '/' && toPath !== '') p = joinPath(toPath, p)
  return p.startsWith('/') ? p : '/' + p
}

/** `a` + `b` with exactly one slash between them when both have one there. */
function joinPath(a: string, b: string): string {
  if (b === '') return a
  if (a.endsWith('/') && b.startsWith('/')) return a + b.slice(1)
  if (!a.endsWith('/') && !b.startsWith('/')) return `${a}/${b}`
  return a + b
}

export async function forward(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, rt: RouteRuntime, input: ForwardInput): Promise<FastifyReply> {
  const route = rt.route
  const up = rt.upstreams.next()
  const source = up.url.origin + upstreamPath(route, input.path, up.url.pathname)
  const session = input.session
  const assertion = session === undefined ? undefined : await gh.signer.assertionFor(session, input.host.hostname)
  const upstreamHost = route.preserveHostHeader ? input.host.authority : route.hostRewrite ?? up.url.host
  const cookieName = gh.current().config.cookie.name
  const query = input.query.length > 1 ? input.query.slice(1) : ''
  const started = process.hrtime.bigint()
  const note = request.gatehouse

  return reply.from(source, {
    timeout: route.timeoutMs,
    queryString: () => query,
    retryDelay: () => null,
    rewriteRequestHeaders: (req) =>
      rt.headers.upstream(req.raw.headers, {
        requestId: String(request.id),
        forwardedFor: input.fwd.forwardedFor,
        forwardedProto: input.fwd.proto,
        forwardedHost: input.fwd.host,
        host: upstreamHost,
        who: session,
        assertion,
        cookieName,
      }),
    rewriteHeaders: (headers) => {
      note.upstreamMs = Number(process.hrtime.bigint() - started) / 1e6
      const set = rt.headers.setResponseHeaders
      for (const name in set) headers[name.toLowerCase()] = set[name]
      return headers
    },
    onError: (r, { error }) => {
      note.upstreamMs = Number(process.hrtime.bigint() - started) / 1e6
      note.outcome = 'error'
      const isTimeout = (error as { statusCode?: number }).statusCode === 504
      const cause = (error as { cause?: { code?: string } }).cause
      note.reason = `upstream ${isTimeout ? 'timeout' : 'error'}${cause?.code === undefined ? '' : ` (${cause.code})`}`
      gh.log.warn({ reqId: request.id, route: route.id, upstream: up.url.origin, err: { code: cause?.code ?? (error as { code?: string }).code, message: error.message } }, 'upstream failed')
      refuse(request, r as FastifyReply, isTimeout
        ? { status: 504, error: 'upstream_timeout', title: 'The service took too long', message: `The service behind this address did not answer within ${route.timeoutMs / 1000}s.`, hint: 'Try again. If it keeps happening, the service may be overloaded, or the route needs a longer timeout.' }
        : { status: 502, error: 'upstream_unavailable', title: 'The service is unavailable', message: 'gatehouse could not reach the service behind this address.', hint: 'Try again in a moment. If it keeps happening, the service may be down.' })
    },
  })
}
