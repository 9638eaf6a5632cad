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
import { isForwardAuthHost, type ForwardAuthHost } from '../../config/forward-auth-url.js'
import { parseHost } from '../../authorize/host.js'
import { bearerRefused, loginRequired, refuse, wantsHtml } from '../pages/respond.js'
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

/**
 * On the `forward_auth_url` host, Pomerium's shape: `/?uri=…` is a forward_auth check and
 * `/verify?uri=…` a verify check (the original request read as for the /.gatehouse/ endpoints).
 */
/**
 * The check a request asks for, if any: gatehouse's own check paths on any
 * Host (the ingress calls gatehouse's own address), or `/` and `/verify` on
 * Pomerium's forward_auth_url host (anything else there is no route). The
 * HTTP pipeline and the upgrade listener both ask here.
 */
export function checkTargetOf(fa: ForwardAuthHost | undefined, hostHeader: string | undefined, url: string): CheckTarget | undefined {
  const own = forwardAuthTarget(url)
  if (own !== undefined || fa === undefined) return own
  const h = parseHost(hostHeader)
  if (h === undefined || !isForwardAuthHost(fa, h.hostname, h.port)) return undefined
  return pomeriumCheckTarget(url)
}

export function pomeriumCheckTarget(url: string): CheckTarget | undefined {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const query = q === -1 ? '' : url.slice(q)
  if (path === '/') return { mode: 'forward_auth', rest: '', query }
  if (path === '/verify') return { mode: 'verify', rest: '', query }
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
  | { readonly ok: false; readonly message: string; readonly methodUnknown?: true }

/** One description of the original request, as one source in the check request gives it. */
interface Described {
  readonly source: string
  readonly scheme: 'http' | 'https' | undefined
  readonly host: string
  readonly target: string
  /** The method this source states, if it states one. */
  readonly method: string | undefined
  /**
   * Whether the check's own method may stand for the original one when no source states it: only
   * for the `uri` parameter (Pomerium's shape) and the check itself (Envoy keeps the client's
   * method). A proxy that names the URL in headers sends its check as GET whatever the client
   * sent (nginx's auth_request subrequest, Traefik, Caddy), so there the method is unknown.
   */
  readonly checkMethodCounts: boolean
}

type Reading = Described | { readonly problem: string } | undefined

function fromUrl(url: string, method: string | undefined, source: string, checkMethodCounts: boolean): Reading {
  const m = ABSOLUTE.exec(url)
  if (m === null) return { problem: `${source} is not an absolute http(s) URL.` }
  const authority = m[2] as string
  if (authority.includes('@')) return { problem: `${source} carries user information.` }
  const rest = m[3] as string
  return {
    source,
    scheme: (m[1] as string).toLowerCase() as 'http' | 'https',
    host: authority,
    target: rest === '' ? '/' : rest.startsWith('?') ? '/' + rest : rest,
    method,
    checkMethodCounts,
  }
}

/** A stated method: absent, or an HTTP token (upper-cased); anything else is a problem. */
function statedMethod(sent: string | undefined, source: string): string | undefined | { readonly problem: string } {
  if (sent === undefined) return undefined
  return TOKEN.test(sent) ? sent.toUpperCase() : { problem: `${source} is not an HTTP method.` }
}

function uriParameter(check: CheckTarget, h: Headers): Reading {
  // Only on the bare endpoint: after a path suffix (Envoy's path_prefix) the query is the original request's own.
  if (check.rest !== '' || check.query.length <= 1) return undefined
  const uri = new URLSearchParams(check.query.slice(1)).get('uri')
  if (uri === null) return undefined
  const m = statedMethod(one(h, 'x-original-method') ?? one(h, 'x-forwarded-method'), 'The original method')
  if (typeof m === 'object') return m
  return fromUrl(uri, m, 'The uri parameter', true)
}

function originalUrlHeader(h: Headers): Reading {
  const url = one(h, 'x-original-url')
  if (url === undefined) return undefined
  const m = statedMethod(one(h, 'x-original-method'), 'X-Original-Method')
  if (typeof m === 'object') return m
  return fromUrl(url, m, 'X-Original-URL', false)
}

function forwardedHeaders(h: Headers): Reading {
  const host = one(h, 'x-forwarded-host')
  const uri = one(h, 'x-forwarded-uri')
  if (host === undefined || uri === undefined) return undefined
  const proto = one(h, 'x-forwarded-proto')?.toLowerCase()
  if (proto !== undefined && proto !== 'http' && proto !== 'https') return { problem: 'X-Forwarded-Proto is neither http nor https.' }
  if (!uri.startsWith('/')) return { problem: 'X-Forwarded-Uri does not start with "/".' }
  const m = statedMethod(one(h, 'x-forwarded-method'), 'X-Forwarded-Method')
  if (typeof m === 'object') return m
  return { source: 'X-Forwarded-Host/-Uri', scheme: proto, host, target: uri, method: m, checkMethodCounts: false }
}

/** Envoy's path_prefix: the check's own Host, the path after the endpoint, its query and method. */
function checkItself(check: CheckTarget, h: Headers, method: string): Reading {
  const host = one(h, 'host')
  if (host === undefined) return { problem: 'The check request names no original request and has no Host.' }
  return { source: 'the check request', scheme: undefined, host, target: (check.rest === '' ? '/' : check.rest) + check.query, method, checkMethodCounts: true }
}

function disagreement(a: Described, b: Described): string | undefined {
  const differ =
    a.host.toLowerCase() !== b.host.toLowerCase() ||
    a.target !== b.target ||
    (a.scheme !== undefined && b.scheme !== undefined && a.scheme !== b.scheme) ||
    (a.method !== undefined && b.method !== undefined && a.method !== b.method)
  return differ ? `${a.source} and ${b.source} describe different requests.` : undefined
}

/**
 * First match wins: the `uri` query parameter (a full URL); X-Original-URL (+ X-Original-Method);
 * X-Forwarded-Proto + X-Forwarded-Host + X-Forwarded-Uri (+ X-Forwarded-Method); otherwise the
 * check request itself (its Host, the path after the endpoint prefix, its query and method).
 *
 * Each proxy sets its own source and passes the client's other headers (and, for Caddy, the
 * client's query) along: a client could add an X-Original-URL of its choosing on its way through
 * Traefik or Caddy, or a `?uri=` through Caddy or Envoy. So every source present must describe the
 * same request (host, target, and scheme and method where both state them): two that differ are a
 * 400, never a choice. A path suffix on the endpoint is itself such a source (Envoy put it there).
 *
 * The method is the one a source states (X-Original-Method, X-Forwarded-Method). Only the `uri`
 * parameter and the check itself fall back to the check's own method: when headers name the URL
 * but nothing states the method, the method is unknown and the check is refused (a POST must never
 * be judged as the GET the ingress sent its check with).
 */
export function originalRequest(check: CheckTarget, h: Headers, method: string, listenerProto: 'http' | 'https'): Original {
  const readings: Reading[] = [uriParameter(check, h), originalUrlHeader(h), forwardedHeaders(h)]
  if (check.rest !== '' || readings.every((r) => r === undefined)) readings.push(checkItself(check, h, method))
  const found: Described[] = []
  for (const r of readings) {
    if (r === undefined) continue
    if ('problem' in r) return { ok: false, message: r.problem }
    found.push(r)
  }
  const first = found[0] as Described
  for (const other of found.slice(1)) {
    const why = disagreement(first, other)
    if (why !== undefined) return { ok: false, message: why }
  }
  const scheme = first.scheme ?? found.find((d) => d.scheme !== undefined)?.scheme ?? forwardedProto(h, listenerProto)
  const stated = first.method ?? found.find((d) => d.method !== undefined)?.method
  if (stated === undefined && !found.every((d) => d.checkMethodCounts)) {
    const named = found.find((d) => !d.checkMethodCounts) as Described
    return {
      ok: false,
      methodUnknown: true,
      message: `${named.source} names the original request but no header states its method (the check's own method is not the client's).`,
    }
  }
  return { ok: true, scheme, host: first.host, target: first.target, method: stated ?? method }
}

function forwardedProto(h: Headers, listenerProto: 'http' | 'https'): 'http' | 'https' {
  const p = one(h, 'x-forwarded-proto')?.toLowerCase()
  return p === 'https' || p === 'http' ? p : listenerProto
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
    if (o.methodUnknown === true) return refuse(request, reply, 'forward_auth_method_unknown', { message: o.message })
    return refuse(request, reply, 'bad_request', { message: o.message, ...onlyAuthRequestStatuses(check.mode) })
  }
  const isWebSocket = describesWebSocket(request.raw.headers)
  // As the WebSocket front end: the opening handshake is a GET (RFC 6455 §4.1), and only a GET is judged as one.
  if (isWebSocket && o.method !== 'GET') {
    const message = 'A WebSocket upgrade must be a GET request.'
    ctx.outcome = 'error'
    ctx.reason = `a WebSocket upgrade with method ${o.method}`
    return refuse(request, reply, 'bad_request', { message, ...onlyAuthRequestStatuses(check.mode) })
  }
  const facts: RequestFacts = { method: o.method, scheme: o.scheme, host: o.host, target: o.target, peer, headers: request.raw.headers, isWebSocket }
  const v = authorize(gh, ctx.snap, facts)
  if (v instanceof Promise) return v.then((verdict) => answer(gh, request, reply, check.mode, verdict))
  return answer(gh, request, reply, check.mode, v)
}

/**
 * Whether the original request is a WebSocket upgrade: the check carries the client's
 * `Upgrade: websocket` (Caddy's forward_auth copies it; the nginx example sets it from
 * $http_upgrade). A client can only make its request stricter this way (judged as a WebSocket).
 */
function describesWebSocket(h: Headers): boolean {
  const v = h.upgrade
  const all = Array.isArray(v) ? v.join(',') : (v ?? '')
  return all
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .some((t) => t === 'websocket')
}

/**
 * nginx's auth_request takes 2xx, 401 and 403 and turns anything else into a 500 for the client:
 * verify refuses what the proxy would answer 400 or 404 with 403 (the body still names the code).
 * A session store outage stays 503: nginx's 500 is the truth about an outage.
 */
function onlyAuthRequestStatuses(mode: ForwardAuthMode): { readonly status?: number } {
  return mode === 'verify' ? { status: 403 } : {}
}

function answer(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, mode: ForwardAuthMode, v: Verdict): FastifyReply {
  noteVerdict(request.gatehouse, v)
  switch (v.kind) {
    case 'bad-request':
      return refuse(request, reply, 'bad_request', { message: v.message, ...onlyAuthRequestStatuses(mode) })
    case 'not-found':
      return refuse(request, reply, 'not_found', onlyAuthRequestStatuses(mode))
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
