/**
 * The first half of every request, HTTP or WebSocket: host, canonical path,
 * special endpoints, route, session, policy. Pure decisions over the raw
 * request; the caller turns them into a response.
 */
import type { IncomingMessage } from 'node:http'
import { PATHS, SPECIAL_PREFIX } from '../constants.js'
import type { CompiledRoute } from '../config/types.js'
import type { Decision, RequestFacts } from '../policy/types.js'
import type { ForwardedFacts } from '../proxy/client-address.js'
import { normalizeRequestPath } from '../proxy/path.js'
import { routeForPath } from '../proxy/route-for-path.js'
import type { Gatehouse } from './context.js'
import { readCookie } from './cookies.js'
import { parseHost, type HostPort } from './host.js'
import type { ActiveSession } from './ports.js'
import { sessionCookieName } from './sign-in.js'
import { externalScheme, type RouteRuntime, type Snapshot } from './snapshot.js'

export type Resolution =
  | { readonly kind: 'bad-request'; readonly message: string }
  | { readonly kind: 'jwks' }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'special'; readonly host: HostPort; readonly scheme: 'http' | 'https'; readonly path: string }
  | RouteResolution

export interface RouteResolution {
  readonly kind: 'route'
  readonly host: HostPort
  readonly scheme: 'http' | 'https'
  /** The canonical path: what the upstream receives (before prefix_rewrite). */
  readonly path: string
  /** What the policy judges: `path`, or with `allow_path_parameters` the path without its `;…` parameters. */
  readonly judgedPath: string
  readonly query: string
  readonly route: CompiledRoute
  readonly rt: RouteRuntime
  readonly fwd: ForwardedFacts
}

/** A Host header that names a route host: parsed once per snapshot, not once per request. */
interface KnownHost {
  readonly host: HostPort
  readonly port: number
  readonly scheme: 'http' | 'https'
}

const MAX_KNOWN_HOSTS = 1024
const knownHostCache = new WeakMap<Snapshot, Map<string, KnownHost>>()

function lookupHost(gh: Gatehouse, snap: Snapshot, header: string | undefined): KnownHost | 'bad' | 'unknown' {
  let cache = knownHostCache.get(snap)
  if (cache === undefined) knownHostCache.set(snap, (cache = new Map()))
  if (header !== undefined) {
    const hit = cache.get(header)
    if (hit !== undefined) return hit
  }
  const host = parseHost(header)
  if (host === undefined) return 'bad'
  // A Host without a port means the scheme's default port.
  const port = host.port ?? (gh.listenerProto === 'https' ? 443 : 80)
  const scheme = externalScheme(snap, host.hostname, port)
  if (scheme === undefined || !snap.config.routeTable.hasHost(host.hostname, port)) return 'unknown'
  // Only hosts that have routes are kept, so the set is bounded by the config (and by MAX_KNOWN_HOSTS
  // for wildcard hosts and spellings such as letter case or a trailing dot).
  if (cache.size >= MAX_KNOWN_HOSTS) cache.clear()
  const known: KnownHost = { host, port, scheme }
  cache.set(header as string, known)
  return known
}

export function resolveRequest(gh: Gatehouse, snap: Snapshot, raw: IncomingMessage): Resolution {
  const known = lookupHost(gh, snap, raw.headers.host)
  if (known === 'bad') return { kind: 'bad-request', message: 'The Host header is missing or malformed.' }
  const target = normalizeRequestPath(raw.url ?? '')
  if (!target.ok) return { kind: 'bad-request', message: `The request path was refused: ${target.reason}.` }
  // The JWKS is public and apps fetch it from their own route host.
  if (target.path === PATHS.jwks || target.path === PATHS.pomeriumJwks) return { kind: 'jwks' }

  if (known === 'unknown') return { kind: 'not-found' }
  const { host, port, scheme } = known
  if (target.path.startsWith(SPECIAL_PREFIX) || target.path === SPECIAL_PREFIX.slice(0, -1)) return { kind: 'special', host, scheme, path: target.path }

  const found = routeForPath(snap.config.routeTable, host.hostname, port, target.path, target.hasParams === true)
  if (found.kind === 'none') return { kind: 'not-found' }
  if (found.kind === 'refused') return { kind: 'bad-request', message: found.message }
  const route = found.route
  const fwd = snap.clientAddress.resolve(raw.socket.remoteAddress, raw.headers, gh.listenerProto, host.authority)
  return {
    kind: 'route',
    host,
    scheme,
    path: target.path,
    judgedPath: found.judgedPath,
    query: target.query,
    route,
    rt: snap.routes[route.index] as RouteRuntime,
    fwd,
  }
}

export type Identified = { readonly kind: 'ok'; readonly session: ActiveSession | undefined } | { readonly kind: 'store-down'; readonly err: unknown }

const NO_SESSION: Identified = Object.freeze({ kind: 'ok', session: undefined })

/** The session cookie's value, read only for routes that need a session. */
export function sessionCookie(snap: Snapshot, raw: IncomingMessage, r: RouteResolution): string | undefined {
  return r.route.policy.needsSession ? readCookie(raw.headers.cookie, sessionCookieName(snap.config, r.scheme)) : undefined
}

/**
 * The session when it is known without I/O (a public route, no cookie, or a
 * fresh session in this process's cache); undefined when `identify` must run.
 */
export function identifyNow(gh: Gatehouse, r: RouteResolution, cookie: string | undefined): Identified | undefined {
  if (!r.route.policy.needsSession) return NO_SESSION
  const loaded = gh.sessions.peek(cookie)
  if (loaded === undefined) return undefined
  return loaded.kind === 'session' ? { kind: 'ok', session: loaded.session } : NO_SESSION
}

/** The session for a route that needs one. Public routes never touch the store: they keep working when it is down. */
export async function identify(gh: Gatehouse, r: RouteResolution, cookie: string | undefined): Promise<Identified> {
  if (!r.route.policy.needsSession) return NO_SESSION
  try {
    const loaded = await gh.sessions.load(cookie)
    return loaded.kind === 'session' ? { kind: 'ok', session: loaded.session } : NO_SESSION
  } catch (err) {
    return { kind: 'store-down', err }
  }
}

export function decide(gh: Gatehouse, raw: IncomingMessage, r: RouteResolution, session: ActiveSession | undefined): Decision {
  const facts: RequestFacts = {
    method: raw.method ?? 'GET',
    path: r.judgedPath,
    sourceIp: r.fwd.clientIp,
    isCorsPreflight: raw.method === 'OPTIONS' && raw.headers.origin !== undefined && raw.headers['access-control-request-method'] !== undefined,
  }
  return r.route.policy.evaluate(session, facts, gh.now())
}
