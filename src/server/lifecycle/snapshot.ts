/**
 * Builds the Snapshot the request path reads (src/authorize/snapshot.ts):
 * per-route header rules and upstream pickers, the host lists used for
 * redirects, the client-address resolver, and the per-config caches. A reload
 * builds a new Snapshot and swaps one reference.
 */
import type { CompiledConfig } from '../../config/types.js'
import type { HostRule, KnownHosts, RouteRuntime, Snapshot } from '../../authorize/snapshot.js'
import { buildHeaderRules } from '../../proxy/headers.js'
import { createUpstreamPicker } from '../../proxy/upstream-picker.js'
import { createClientAddressResolver } from '../../proxy/client-address.js'
import { authenticateRuntime } from '../../authorize/authenticate.js'

export type { RouteRuntime, Snapshot } from '../../authorize/snapshot.js'

export function buildSnapshot(config: CompiledConfig): Snapshot {
  const routes: RouteRuntime[] = config.routes.map((route) => {
    const headers = buildHeaderRules(config, route)
    return {
      route,
      headers,
      upstreams: route.to.length === 0 ? undefined : createUpstreamPicker(route.to),
      responseHeaders: Object.entries(headers.setResponseHeaders).map(([name, value]) => [name.toLowerCase(), value] as const),
    }
  })
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
    hostCache: { http: new Map(), https: new Map() },
    authenticate: authenticateRuntime(config.authenticate, config.cookie.secret),
    forwardsAccessToken: config.routes.some((r) => Object.values(r.setRequestHeaders).some((h) => ACCESS_TOKEN_TEMPLATE.test(h))),
  })
}

const ACCESS_TOKEN_TEMPLATE = /\$\{(?:gatehouse|pomerium)\.access_token\}/
