/**
 * Everything the request path needs from one config, built once: per-route
 * header rules and upstream pickers, the host lists used for redirects. A
 * reload builds a new Snapshot and swaps one reference.
 */
import type { CompiledConfig, CompiledRoute } from '../config/types.js'
import { buildHeaderRules, type HeaderRules } from '../proxy/headers.js'
import { createUpstreamPicker, type UpstreamPicker } from '../proxy/upstream-picker.js'
import { createClientAddressResolver, type ClientAddressResolver } from '../proxy/client-address.js'
import type { HostRule, KnownHosts } from './return-url.js'

export interface RouteRuntime {
  readonly route: CompiledRoute
  readonly headers: HeaderRules
  readonly upstreams: UpstreamPicker
}

export interface Snapshot {
  readonly config: CompiledConfig
  /** Indexed by CompiledRoute.index. */
  readonly routes: readonly RouteRuntime[]
  readonly knownHosts: KnownHosts
  readonly clientAddress: ClientAddressResolver
}

export function buildSnapshot(config: CompiledConfig): Snapshot {
  const routes = config.routes.map((route) => ({
    route,
    headers: buildHeaderRules(config, route),
    upstreams: createUpstreamPicker(route.to),
  }))
  const hosts = new Map<string, HostRule[]>()
  for (const r of config.routes) {
    const list = hosts.get(r.host) ?? []
    if (!list.some((h) => h.scheme === r.scheme && h.port === r.port)) list.push({ scheme: r.scheme, port: r.port })
    hosts.set(r.host, list)
  }
  // `*.corp.example` routes: any host ending in `.corp.example` (one label or more), as the route table matches.
  const wildcards = [...hosts].filter(([h]) => h.startsWith('*.')).map(([h, rules]) => [h.slice(1), rules] as const)
  const knownHosts: KnownHosts =
    wildcards.length === 0
      ? hosts
      : {
          get: (h) => hosts.get(h) ?? wildcards.find(([suffix]) => h.length > suffix.length && h.endsWith(suffix))?.[1],
          has: (h) => hosts.has(h) || wildcards.some(([suffix]) => h.length > suffix.length && h.endsWith(suffix)),
        }
  return Object.freeze({
    config,
    routes,
    knownHosts,
    clientAddress: createClientAddressResolver(config.trustedProxies, config.xffNumTrustedHops),
  })
}

/** The scheme a browser uses for this host: the route's declared `from` scheme. */
export function externalScheme(snapshot: Snapshot, host: string, port: number | undefined): 'http' | 'https' | undefined {
  const rules = snapshot.knownHosts.get(host)
  if (rules === undefined) return undefined
  const exact = rules.find((r) => r.port === port) ?? rules.find((r) => r.port === undefined)
  return exact?.scheme
}
