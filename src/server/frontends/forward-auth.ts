/**
 * The forward-auth front end: an ingress (nginx auth_request, ingress-nginx,
 * Traefik forwardAuth, Caddy forward_auth, Envoy ext_authz) asks "may this
 * request through?". The original request is read from the check request,
 * handed to the authorize core as plain facts, and the verdict comes back as
 * a status and identity headers. Nothing is forwarded from here.
 *
 *   /.gatehouse/verify[/…]        200 / 401 / 403, never a redirect (nginx auth_request)
 *   /.gatehouse/forward_auth[/…]  200; a browser that must sign in gets 302 to the
 *                                 route host's sign-in URL, an API client 401; 403 page or JSON
 *
 * Both answer on any Host, and only to peers in `trusted_proxies`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { authorize } from '../../authorize/decide.js'
import type { RequestFacts } from '../../authorize/facts.js'
import type { Allow, Verdict } from '../../authorize/verdict.js'
import { encodeHeaderList } from '../../proxy/headers.js'
import type { Gatehouse } from '../context.js'
import { badRequest, bearerRefused, loginRequired, notFound, refuse, wantsHtml } from '../pages/respond.js'
import { storeUnavailable } from '../pages/failures.js'
import { denied, noteVerdict } from './proxy.js'

export const FORWARD_AUTH_PATHS = { verify: '/.gatehouse/verify', forwardAuth: '/.gatehouse/forward_auth' } as const

export type ForwardAuthMode = 'verify' | 'forward_auth'

export interface CheckTarget {
  readonly mode: ForwardAuthMode
  /** The check request's path after the endpoint prefix ('' or '/…'). */
  readonly rest: string
  /** The check request's query, with '?', or ''. */
  readonly query: string
}

/** Whether a request target is a forward-auth check (any Host), and which. */
export function forwardAuthTarget(url: string): CheckTarget | undefined {
  if (!url.startsWith('/.gatehouse/')) return undefined
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const query = q === -1 ? '' : url.slice(q)
  for (const [mode, prefix] of [
    ['verify', FORWARD_AUTH_PATHS.verify],
    ['forward_auth', FORWARD_AUTH_PATHS.forwardAuth],
  ] as const) {
    if (path === prefix) return { mode, rest: '', query }
    if (path.startsWith(prefix + '/')) return { mode, rest: path.slice(prefix.length), query }
  }
  return undefined
}

type Headers = FastifyRequest['raw']['headers']

function one(h: Headers, name: string): string | undefined {
  const v = h[name]
  if (Array.isArray(v)) return v.length === 1 ? v[0] : undefined
  return v
}

const ABSOLUTE = /^(https?):\/\/([^/?#]*)([^#]*)$/i
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,32}$/

/** The original request an ingress asks about, or why it cannot be read. */
export type Original =
  | { readonly ok: true; readonly scheme: 'http' | 'https'; readonly host: string; readonly target: string; readonly method: string }
  | { readonly ok: false; readonly message: string }

function fromUrl(url: string, method: string, source: string): Original {
  const m = ABSOLUTE.exec(url)
  if (m === null) return { ok: false, message: `${source} is not an absolute http(s) URL.` }
  const authority = m[2] as string
  if (authority.includes('@')) return { ok: false, message: `${source} carries user information.` }
  const rest = m[3] as string
  return {
    ok: true,
    scheme: (m[1] as string).toLowerCase() as 'http' | 'https',
    host: authority,
    target: rest === '' ? '/' : rest.startsWith('?') ? '/' + rest : rest,
    method,
  }
}

function methodOf(sent: string | undefined, fallback: string): string | undefined {
  if (sent === undefined) return fallback
  return TOKEN.test(sent) ? sent.toUpperCase() : undefined
}

/**
 * First match wins: the `uri` query parameter (a full URL); X-Original-URL (+ X-Original-Method);
 * X-Forwarded-Proto + X-Forwarded-Host + X-Forwarded-Uri (+ X-Forwarded-Method); otherwise the
 * check request itself (its Host, the path after the endpoint prefix, its query and method).
 */
export function originalRequest(check: CheckTarget, h: Headers, method: string, listenerProto: 'http' | 'https'): Original {
  if (check.query.length > 1) {
    const uri = new URLSearchParams(check.query.slice(1)).get('uri')
    if (uri !== null) {
      const m = methodOf(one(h, 'x-original-method') ?? one(h, 'x-forwarded-method'), method)
      if (m === undefined) return { ok: false, message: 'The original method is not an HTTP method.' }
      return fromUrl(uri, m, 'The uri parameter')
    }
  }
  const originalUrl = one(h, 'x-original-url')
  if (originalUrl !== undefined) {
    const m = methodOf(one(h, 'x-original-method'), method)
    if (m === undefined) return { ok: false, message: 'X-Original-Method is not an HTTP method.' }
    return fromUrl(originalUrl, m, 'X-Original-URL')
  }
  const proto = one(h, 'x-forwarded-proto')
  const fhost = one(h, 'x-forwarded-host')
  const furi = one(h, 'x-forwarded-uri')
  if (fhost !== undefined && furi !== undefined) {
    const p = (proto ?? listenerProto).toLowerCase()
    if (p !== 'http' && p !== 'https') return { ok: false, message: 'X-Forwarded-Proto is neither http nor https.' }
    if (!furi.startsWith('/')) return { ok: false, message: 'X-Forwarded-Uri does not start with "/".' }
    const m = methodOf(one(h, 'x-forwarded-method'), method)
    if (m === undefined) return { ok: false, message: 'X-Forwarded-Method is not an HTTP method.' }
    return { ok: true, scheme: p, host: fhost, target: furi, method: m }
  }
  const p = (proto ?? listenerProto).toLowerCase()
  const host = one(h, 'host')
  if (host === undefined) return { ok: false, message: 'The check request names no original request and has no Host.' }
  return { ok: true, scheme: p === 'https' ? 'https' : 'http', host, target: (check.rest === '' ? '/' : check.rest) + check.query, method }
}

/** Answer a forward-auth check. */
export function handleForwardAuth(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, check: CheckTarget): FastifyReply | Promise<FastifyReply> {
  const ctx = request.gatehouse
  ctx.frontend = 'forward_auth'
  reply.header('cache-control', 'no-store')
  const peer = request.raw.socket.remoteAddress
  if (peer === undefined || !ctx.snap.clientAddress.isTrusted(peer)) {
    ctx.outcome = 'deny'
    ctx.reason = 'forward-auth check from a peer outside trusted_proxies'
    ctx.criterion = 'trusted_proxies'
    return refuse(request, reply, 'forward_auth_untrusted')
  }
  const o = originalRequest(check, request.raw.headers, request.raw.method ?? 'GET', gh.listenerProto)
  if (!o.ok) {
    ctx.outcome = 'error'
    ctx.reason = o.message
    return badRequest(request, reply, o.message)
  }
  const facts: RequestFacts = { method: o.method, scheme: o.scheme, host: o.host, target: o.target, peer, headers: request.raw.headers, isWebSocket: false }
  const v = authorize(gh, ctx.snap, facts)
  if (v instanceof Promise) return v.then((verdict) => answer(gh, request, reply, check.mode, verdict))
  return answer(gh, request, reply, check.mode, v)
}

function answer(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, mode: ForwardAuthMode, v: Verdict): FastifyReply {
  noteVerdict(request.gatehouse, v)
  switch (v.kind) {
    case 'bad-request':
      return badRequest(request, reply, v.message)
    case 'not-found':
      return notFound(request, reply)
    case 'jwks':
    case 'endpoint':
      // Public: the JWKS and gatehouse's own endpoints need no identity (the ingress should route /.gatehouse/ to gatehouse).
      return reply.code(200).send()
    case 'store-down':
      return storeUnavailable(gh, request, reply, v.err)
    case 'sign-in':
      if (mode === 'forward_auth' && wantsHtml(request)) return reply.code(302).header('location', v.signInUrl).send()
      return loginRequired(request, reply, v.signInUrl)
    case 'bearer-refused':
      // The same RFC 6750 answer as the proxy: no redirect for a token.
      return bearerRefused(request, reply, v.status, v.description)
    case 'deny':
      return denied(request, reply, v)
    case 'allow':
      return allowed(request, reply, v)
  }
}

/** Names the upstream would get that describe the hop, not the identity: the ingress sets its own. */
const HOP_NAMES = new Set(['host', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'])

/** 200 with what the ingress copies upstream: exactly the identity headers the reverse proxy would set, and oauth2-proxy's names. */
export function identityHeaders(request: FastifyRequest, v: Allow): Record<string, string> {
  const { rt, fwd } = v.target
  const all = rt.headers.upstream(
    {},
    {
      requestId: String(request.id),
      forwardedFor: fwd.forwardedFor,
      forwardedProto: fwd.proto,
      forwardedHost: fwd.host,
      host: v.target.host.authority,
      who: v.session,
      assertion: v.assertion,
      cookieName: request.gatehouse.snap.config.cookie.name,
    },
  )
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(all)) {
    if (HOP_NAMES.has(name)) continue
    out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  const who = v.session
  if (who !== undefined) {
    out['x-auth-request-user'] = clean(who.sub)
    if (who.email !== undefined) out['x-auth-request-email'] = clean(who.email)
    out['x-auth-request-groups'] = encodeHeaderList(who.groups)
    const preferred = who.claims.preferred_username
    if (typeof preferred === 'string' && preferred.length > 0) out['x-auth-request-preferred-username'] = clean(preferred)
  }
  return out
}

function clean(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[\x00-\x1f\x7f]/g, ' ')
}

function allowed(request: FastifyRequest, reply: FastifyReply, v: Allow): FastifyReply {
  reply.headers(identityHeaders(request, v))
  return reply.code(200).send()
}
