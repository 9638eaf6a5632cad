/**
 * What the authorize core reads from one config: the compiled config and
 * what was built from it once (per-route header rules and upstream pickers,
 * the host lists, the client-address resolver, a cache of parsed Host
 * headers). server/lifecycle builds it; a reload swaps the whole object, so a
 * request that holds one Snapshot sees one config from start to end.
 */
import type { CompiledConfig, CompiledRoute } from '../config/types.js'
import type { ClientAddressResolver } from '../proxy/client-address.js'
import type { HeaderRules } from '../proxy/headers.js'
import type { UpstreamPicker } from '../proxy/upstream-picker.js'
import type { HostPort } from './host.js'
import type { AuthenticateRuntime } from './authenticate.js'

export interface RouteRuntime {
  readonly route: CompiledRoute
  readonly headers: HeaderRules
  /** undefined for a route without `to` (forward-auth only). */
  readonly upstreams: UpstreamPicker | undefined
  /** The route's `set_response_headers`, names lower-cased. */
  readonly responseHeaders: ReadonlyArray<readonly [string, string]>
}

export interface HostRule {
  readonly scheme: 'http' | 'https'
  readonly port: number | undefined
}

/** hostname (lower case) → the routes' schemes and ports for it (a Map, or one that also knows wildcard hosts). */
export interface KnownHosts {
  get(hostname: string): readonly HostRule[] | undefined
  has(hostname: string): boolean
}

/** A Host header that names a route host: parsed once per snapshot, not once per request. */
export interface KnownHost {
  readonly host: HostPort
  readonly port: number
  readonly scheme: 'http' | 'https'
}

export interface Snapshot {
  readonly config: CompiledConfig
  /** Indexed by CompiledRoute.index. */
  readonly routes: readonly RouteRuntime[]
  readonly knownHosts: KnownHosts
  readonly clientAddress: ClientAddressResolver
  /** Host header text → parsed route host, one map per scheme the request came in on (it decides the default port); bounded, belongs to this config. */
  readonly hostCache: { readonly http: Map<string, KnownHost>; readonly https: Map<string, KnownHost> }
  /** Some route sends the IdP access token upstream (`${gatehouse.access_token}` in set_request_headers), so sessions keep it fresh. */
  readonly forwardsAccessToken: boolean
  /** The sign-in host (`authenticate_service_url`) and the key of the requests route hosts send it; undefined: each route host signs in itself. */
  readonly authenticate: AuthenticateRuntime | undefined
}

/** The scheme a browser uses for this host: the route's declared `from` scheme. */
export function externalScheme(snapshot: Snapshot, host: string, port: number | undefined): 'http' | 'https' | undefined {
  const rules = snapshot.knownHosts.get(host)
  if (rules === undefined) return undefined
  const exact = rules.find((r) => r.port === port) ?? rules.find((r) => r.port === undefined)
  return exact?.scheme
}
