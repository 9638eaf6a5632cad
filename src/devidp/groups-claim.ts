/**
 * Which groups a groups claim releases, as Okta evaluates it. A filter
 * (starts with / equals / contains / regex) has no limit of its own; Okta's
 * 100-group rule then depends on the flow: the authorization-code flow (and
 * the refreshes of its grants) is exempt, the implicit flow fails with
 * "The groups claim matched too many groups…". An expression such as
 * `Groups.startsWith("OKTA", "eng", 100)` stops at its limit (at most 100;
 * a larger limit fails the claim's evaluation).
 */
import type { DevUser, GroupsValue } from './model.js'

export const GROUPS_CLAIM_LIMIT = 100
export const TOO_MANY_GROUPS = 'The groups claim matched too many groups and must be configured to match fewer groups'
export const CLAIM_NOT_EVALUATED = (name: string): string => `The '${name}' user claim could not be evaluated.`

export type Flow = 'authorization_code' | 'refresh_token' | 'implicit'

export type GroupsResult = { readonly ok: true; readonly groups: string[] } | { readonly ok: false; readonly description: string }

/** Everyone is a member of Everyone, as in Okta. */
export function memberships(user: DevUser): string[] {
  return user.groups.includes('Everyone') ? [...user.groups] : ['Everyone', ...user.groups]
}

function matches(value: GroupsValue, name: string): boolean {
  if ('expression' in value) {
    const { fn, pattern } = value.expression
    if (fn === 'startsWith') return name.startsWith(pattern)
    if (fn === 'endsWith') return name.endsWith(pattern)
    return name.includes(pattern)
  }
  const f = value.filter
  switch (f.kind) {
    case 'starts_with':
      return name.startsWith(f.value)
    case 'equals':
      return name === f.value
    case 'contains':
      return name.includes(f.value)
    case 'regex':
      // Okta's regex filter must match the whole name.
      return new RegExp(`^(?:${f.value})$`).test(name)
  }
}

export function evaluateGroupsClaim(claimName: string, value: GroupsValue, user: DevUser, flow: Flow): GroupsResult {
  const matched = memberships(user).filter((g) => matches(value, g))
  if ('expression' in value) {
    const { limit } = value.expression
    if (limit < 1 || limit > GROUPS_CLAIM_LIMIT) return { ok: false, description: CLAIM_NOT_EVALUATED(claimName) }
    return { ok: true, groups: matched.slice(0, limit) }
  }
  if (matched.length > GROUPS_CLAIM_LIMIT && flow === 'implicit') return { ok: false, description: TOO_MANY_GROUPS }
  return { ok: true, groups: matched }
}
