/**
 * idp_roles applied to an identity: the roles its groups grant, as
 * `roles` (for the assertion and the headers) and as the `roles` claim (for
 * `claim/roles` and jwt_claims_headers). Worked out per request from the
 * current config, so a reload that changes the mapping applies at once, and
 * from the groups after the directory has completed them.
 */
import type { RoleGrant } from '../config/types.js'
import type { Identity } from '../policy/types.js'

/** `who` with its roles; `who` itself when idp_roles is not configured. */
export function withRoles<T extends Identity>(who: T, grants: readonly RoleGrant[] | undefined): T {
  if (grants === undefined) return who
  const roles: string[] = []
  for (const g of grants) if (g.groups.some((group) => who.groups.includes(group))) roles.push(g.role)
  // Roles read from groups that may be incomplete may be incomplete too: fail closed the same way.
  const groupsUnknown = who.unknown?.groups
  const unknown = groupsUnknown === undefined ? who.unknown : { ...who.unknown, roles: `roles come from the groups, and ${groupsUnknown}` }
  return { ...who, roles, claims: { ...who.claims, roles }, ...(unknown === undefined ? {} : { unknown }) }
}
