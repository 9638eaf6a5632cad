/**
 * A custom authorization server's access policies, evaluated as Okta does:
 * the first policy assigned to the client (in order), then its first rule
 * that matches the grant type, the person and every requested scope. No
 * match is `access_denied` "Policy evaluation failed…". The org server has
 * no access policies.
 */
import type { DevServer, DevUser, GrantType, PolicyRule } from './model.js'

export type PolicyResult = { readonly ok: true; readonly rule: PolicyRule | undefined } | { readonly ok: false }

export function evaluateAccessPolicy(
  server: DevServer,
  clientId: string,
  grantType: GrantType,
  user: DevUser | undefined,
  scopes: readonly string[],
): PolicyResult {
  if (server.kind === 'org') return { ok: true, rule: undefined }
  for (const policy of server.policies) {
    if (policy.clients !== 'all' && !policy.clients.has(clientId)) continue
    for (const rule of policy.rules) {
      if (!rule.grantTypes.has(grantType)) continue
      if (rule.scopes !== 'any' && !scopes.every((s) => (rule.scopes as ReadonlySet<string>).has(s))) continue
      if (rule.people !== 'everyone' && user !== undefined) {
        const p = rule.people
        const inUsers = p.users.has(user.login) || p.users.has(user.username) || p.users.has(user.id)
        if (!inUsers && !user.groups.some((g) => p.groups.has(g))) continue
      }
      return { ok: true, rule }
    }
  }
  return { ok: false }
}
