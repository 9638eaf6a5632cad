/**
 * OpenID discovery, split as oauth4webapi does: `fetchDiscovery` does the I/O,
 * `checkDiscovery` only judges. The issuer must equal `idp_provider_url`
 * exactly: a trailing slash is a different issuer, and tokens would fail later
 * with a far less helpful error.
 */
import type * as oidc from 'openid-client'
import { IdentityError, type IdpErrorCode } from './errors.js'
import type { FetchLike } from './key-set.js'

export function discoveryUrl(providerUrl: string): URL {
  return new URL(providerUrl.replace(/\/+$/, '') + '/.well-known/openid-configuration')
}

export function isLoopback(url: URL): boolean {
  return url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]' || url.hostname.endsWith('.localhost')
}

export async function fetchDiscovery(providerUrl: string, fetch: FetchLike, timeoutMs: number): Promise<unknown> {
  const url = discoveryUrl(providerUrl)
  let res: Response
  try {
    res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) })
  } catch (cause) {
    throw new IdentityError('IDP_UNREACHABLE', `could not reach the IdP's discovery document at ${url.href}`, { cause })
  }
  if (!res.ok) {
    throw new IdentityError(
      'IDP_DISCOVERY_FAILED',
      `the IdP's discovery document at ${url.href} answered HTTP ${res.status}; check idp_provider_url (an Okta org is https://{org}.okta.com, a custom authorization server https://{org}.okta.com/oauth2/{id})`,
    )
  }
  try {
    return await res.json()
  } catch (cause) {
    throw new IdentityError('IDP_DISCOVERY_FAILED', `the IdP's discovery document at ${url.href} is not JSON`, { cause })
  }
}

function need(doc: Record<string, unknown>, key: string, code: IdpErrorCode = 'IDP_DISCOVERY_FAILED'): string {
  const v = doc[key]
  if (typeof v !== 'string' || v.length === 0) throw new IdentityError(code, `the IdP's discovery document has no "${key}"`)
  return v
}

export function checkDiscovery(expectedIssuer: string, doc: unknown): oidc.ServerMetadata {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new IdentityError('IDP_DISCOVERY_FAILED', "the IdP's discovery document is not a JSON object")
  const d = doc as Record<string, unknown>
  const issuer = need(d, 'issuer')
  if (issuer !== expectedIssuer) {
    throw new IdentityError(
      'IDP_ISSUER_MISMATCH',
      `the IdP says its issuer is "${issuer}" but idp_provider_url is "${expectedIssuer}"; they must match exactly (watch for a trailing slash or the /oauth2/default suffix)`,
    )
  }
  for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
    const u = need(d, key)
    let parsed: URL
    try {
      parsed = new URL(u)
    } catch {
      throw new IdentityError('IDP_DISCOVERY_FAILED', `the IdP's "${key}" is not a URL`)
    }
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && isLoopback(parsed))) {
      throw new IdentityError('IDP_DISCOVERY_FAILED', `the IdP's "${key}" must use https (${u})`)
    }
  }
  return d as oidc.ServerMetadata
}
