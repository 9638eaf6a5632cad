/**
 * Okta set-up mistakes a config alone reveals, for `gatehouse check`: each
 * names what will happen and what to change.
 */
import type { CompiledConfig } from '../config/types.js'
import { serverKindOf } from '../identity/index.js'

export function oktaWarnings(c: CompiledConfig): string[] {
  const out: string[] = []
  const scopes = c.idp.scopes
  if (!scopes.includes('offline_access')) {
    out.push(
      'idp_scopes has no offline_access: Okta gives no refresh token, so sessions cannot re-check the user with Okta and end when the ID token expires (1 h), sending the browser back to Okta; add offline_access (and enable the Refresh Token grant on the Okta app)',
    )
  }
  const readsGroups = c.routes.some((r) => r.policy.readsFacts.has('groups'))
  if (readsGroups && c.idp.scopesExplicit === true && !scopes.includes('groups') && c.idp.provider === 'okta' && serverKindOf(c.idp.providerUrl) === 'org') {
    out.push(
      "idp_scopes has no groups, but routes decide on groups and idp_provider_url is an Okta org authorization server, which releases the groups claim only with the groups scope: add groups to idp_scopes (or remove idp_scopes to use gatehouse's defaults, which add it when Okta offers it)",
    )
  }
  return out
}
