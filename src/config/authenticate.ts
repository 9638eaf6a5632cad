/**
 * `authenticate_service_url`: gatehouse's own sign-in host (Pomerium's
 * authenticate service, served in the same process). The Okta app then needs
 * one sign-in redirect URI, `{url}/oauth2/callback`, and one sign-out
 * redirect URI, `{url}/.gatehouse/signed_out`, whatever the number of route
 * hosts. The URL is an origin: https (plain http only for this machine's own
 * names), no path, query, fragment or credentials; its host serves no route.
 */
import { isSeq, type Node } from 'yaml'
import type { Reader } from './reader.js'
import type { AuthenticateService, CompiledRoute } from './types.js'

const KEY = 'authenticate_service_url'

/** Names that only ever mean this machine: plain http is acceptable there (local use, the demo). */
export function isLoopbackName(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '127.0.0.1' || hostname === '[::1]'
}

export function compileAuthenticate(r: Reader, node: Node | undefined, text: string | undefined): AuthenticateService | undefined {
  if (node === undefined || text === undefined) return undefined
  let url: URL
  try {
    url = new URL(text)
  } catch {
    r.problem(
      node,
      KEY,
      'CONFIG_BAD_URL',
      `${KEY} "${text}" is not a URL`,
      'write the external URL of the sign-in host, e.g. https://authenticate.corp.example',
    )
    return undefined
  }
  const hint = 'write only the origin, e.g. https://authenticate.corp.example: gatehouse serves /oauth2/callback and /.gatehouse/… on it'
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackName(url.hostname))) {
    r.problem(
      node,
      KEY,
      'CONFIG_BAD_URL',
      `${KEY} must be an https:// URL, found ${url.protocol}//${url.host}`,
      'plain http is accepted only for localhost names (local use)',
    )
    return undefined
  }
  if (url.username !== '' || url.password !== '') {
    r.problem(node, KEY, 'CONFIG_BAD_URL', `${KEY} must not carry credentials`, hint)
    return undefined
  }
  if (url.pathname !== '/') {
    r.problem(node, KEY, 'CONFIG_BAD_URL', `${KEY} must not have a path, found "${url.pathname}"`, hint)
    return undefined
  }
  if (url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#')) {
    r.problem(node, KEY, 'CONFIG_BAD_URL', `${KEY} must not have a query or fragment`, hint)
    return undefined
  }
  return {
    url,
    origin: url.origin,
    hostname: url.hostname.toLowerCase(),
    port: url.port === '' ? undefined : Number(url.port),
    scheme: url.protocol === 'https:' ? 'https' : 'http',
  }
}

/** A route whose `from` names the sign-in host would be shadowed by it: refuse, at the route's `from`. */
export function checkAuthenticateNotRouted(r: Reader, service: AuthenticateService, routes: readonly CompiledRoute[], routesNode: Node | undefined): void {
  for (const route of routes) {
    if (route.host !== service.hostname) continue
    const item = isSeq(routesNode) ? routesNode.items[route.index] : undefined
    const fromNode =
      item !== undefined && item !== null && typeof item === 'object' && 'get' in item
        ? ((item as { get(k: string, keep: true): unknown }).get('from', true) as Node | undefined)
        : undefined
    r.problem(
      fromNode ?? (item as Node | undefined),
      `routes[${route.index}].from`,
      'CONFIG_CONFLICT',
      `routes[${route.index}].from names ${route.host}, the host of authenticate_service_url: that host is gatehouse's sign-in point and serves no route`,
      'give the route another host, or authenticate_service_url another one (e.g. authenticate.<your domain>)',
    )
  }
}
