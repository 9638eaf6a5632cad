/**
 * The first step of the core: from the request facts to a route (or to one of
 * gatehouse's own endpoints, the JWKS, a 404 or a 400). Host, canonical path,
 * route match; pure, no I/O.
 */
import { PATHS, SPECIAL_PREFIX } from '../constants.js'
import { normalizeRequestPath } from '../proxy/path.js'
import { routeForPath } from '../proxy/route-for-path.js'
import type { RequestFacts } from './facts.js'
import { parseHost } from './host.js'
import { externalScheme, type KnownHost, type RouteRuntime, type Snapshot } from './snapshot.js'
import type { RouteTarget, Verdict } from './verdict.js'
import { isAuthenticateHost } from './authenticate.js'

const MAX_KNOWN_HOSTS = 1024
const JWKS: Verdict = Object.freeze({ kind: 'jwks' })
const NOT_FOUND: Verdict = Object.freeze({ kind: 'not-found' })

function lookupHost(snap: Snapshot, header: string | undefined, scheme: 'http' | 'https'): KnownHost | 'bad' | 'unknown' {
  const cache = snap.hostCache[scheme]
  if (header !== undefined) {
    const hit = cache.get(header)
    if (hit !== undefined) return hit
  }
  const host = parseHost(header)
  if (host === undefined) return 'bad'
  // A Host without a port means the scheme's default port.
  const port = host.port ?? (scheme === 'https' ? 443 : 80)
  const routeScheme = externalScheme(snap, host.hostname, port)
  if (routeScheme === undefined || !snap.config.routeTable.hasHost(host.hostname, port)) return 'unknown'
  // Only hosts that have routes are kept, so the set is bounded by the config (and by MAX_KNOWN_HOSTS
  // for wildcard hosts and spellings such as letter case or a trailing dot).
  if (cache.size >= MAX_KNOWN_HOSTS) cache.clear()
  const known: KnownHost = { host, port, scheme: routeScheme }
  cache.set(header as string, known)
  return known
}

/** A route for the request, or the verdict that ends it here. */
export function resolveRoute(snap: Snapshot, facts: RequestFacts): RouteTarget | Verdict {
  const known = lookupHost(snap, facts.host, facts.scheme)
  if (known === 'bad') return { kind: 'bad-request', message: 'The Host header is missing, repeated or malformed.' }
  const target = normalizeRequestPath(facts.target)
  if (!target.ok) return { kind: 'bad-request', message: `The request path was refused: ${target.reason}.` }
  // The sign-in host serves gatehouse's sign-in endpoints and nothing else (no route may name it).
  if (known === 'unknown' && snap.authenticate !== undefined) {
    const host = parseHost(facts.host)
    if (host !== undefined && isAuthenticateHost(snap.authenticate.service, host.hostname, host.port ?? (facts.scheme === 'https' ? 443 : 80)))
      return { kind: 'endpoint', host, scheme: snap.authenticate.service.scheme, path: target.path, on: 'authenticate' }
  }
  // The JWKS is public and apps fetch it from their own route host.
  if (target.path === PATHS.jwks || target.path === PATHS.pomeriumJwks) return JWKS

  if (known === 'unknown') return NOT_FOUND
  const { host, port, scheme } = known
  if (target.path.startsWith(SPECIAL_PREFIX) || target.path === SPECIAL_PREFIX.slice(0, -1)) return { kind: 'endpoint', host, scheme, path: target.path }

  const found = routeForPath(snap.config.routeTable, host.hostname, port, target.path, target.hasParams === true)
  if (found.kind === 'none') return NOT_FOUND
  // A path that differs from another route's only in letter case, or path parameters a route does not accept.
  if (found.kind === 'refused') return { kind: 'bad-request', message: found.message }
  const route = found.route
  const fwd = snap.clientAddress.resolve(facts.peer, facts.headers, facts.scheme, host.authority)
  return {
    kind: 'route',
    host,
    scheme,
    method: facts.method,
    path: target.path,
    judgedPath: found.judgedPath,
    query: target.query,
    route,
    rt: snap.routes[route.index] as RouteRuntime,
    fwd,
    authenticate: snap.authenticate,
  }
}
