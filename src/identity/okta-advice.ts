/**
 * What to change in Okta, in the admin console's words, for each situation
 * gatehouse can recognise. Okta signals some of them only through the exact
 * sentence of its `error_description` (an unassigned user and an access-policy
 * miss are both `access_denied`); those sentences are Okta's contract with
 * its relying parties, so they are matched here, in one place, and nowhere else.
 */

export type ServerKind = 'org' | 'custom'

/** Okta's org server is the bare org URL; a custom server has /oauth2/{id}. */
export function serverKindOf(issuer: string): ServerKind {
  try {
    return /^\/oauth2\/[^/]+\/?$/.test(new URL(issuer).pathname) ? 'custom' : 'org'
  } catch {
    return 'org'
  }
}

function serverName(issuer: string): string {
  return /\/oauth2\/([^/]+)/.exec(issuer)?.[1] ?? 'default'
}

export type AccessDeniedCause = 'not-assigned' | 'policy' | 'unknown'

export function accessDeniedCause(description: string | null): AccessDeniedCause {
  if (description === null) return 'unknown'
  if (description.startsWith('Policy evaluation failed')) return 'policy'
  if (/not assigned/i.test(description)) return 'not-assigned'
  return 'unknown'
}

export function isTooManyGroups(description: string | null): boolean {
  return description !== null && (description.startsWith('The groups claim matched too many groups') || /user claim could not be evaluated/.test(description))
}

export function accessDeniedAdvice(cause: AccessDeniedCause, issuer: string): string {
  switch (cause) {
    case 'policy':
      return `Okta found no access policy rule that lets this app sign you in. In the Okta admin console, open Security → API → Authorization Servers → ${serverName(issuer)} → Access Policies, and add (or assign this app to) a policy with a rule that allows the Authorization Code and Refresh Token grants for these users and the scopes gatehouse requests.`
    case 'not-assigned':
      return 'Okta refused to sign you in because you are not assigned to this application. In the Okta admin console, open Applications → (this app) → Assignments and assign the user or one of their groups.'
    case 'unknown':
      return 'Okta refused to sign you in to this application. Usually the user is not assigned to the app (Applications → (this app) → Assignments); on a custom authorization server it can also be an access policy with no rule for this app (Security → API → Authorization Servers → Access Policies).'
  }
}

export function tooManyGroupsAdvice(issuer: string): string {
  return serverKindOf(issuer) === 'org'
    ? "Okta could not build the groups claim: it matched too many groups (Okta allows 100 in most flows, and a claim expression's limit must be 1 to 100). Narrow the app's groups claim filter (Applications → (this app) → Sign On → OpenID Connect ID Token → Groups claim filter), or configure gatehouse's directory look-up for users in many groups."
    : `Okta could not build the groups claim: it matched too many groups (Okta allows 100 in most flows, and a claim expression's limit must be 1 to 100). Narrow the claim's filter (Security → API → Authorization Servers → ${serverName(issuer)} → Claims → groups), or configure gatehouse's directory look-up for users in many groups.`
}

/** Why a sign-in brought no groups claim, and what to change (in Okta or in idp_scopes). */
export function missingGroupsAdvice(issuer: string, scopes: readonly string[], claimName: string): string {
  if (serverKindOf(issuer) === 'org') {
    if (!scopes.includes('groups'))
      return `Okta's org authorization server releases the groups claim only with the "groups" scope: add groups to idp_scopes (or remove idp_scopes to use gatehouse's defaults), and set a groups claim filter on the app (Applications → (this app) → Sign On → OpenID Connect ID Token → Groups claim filter, for example "Matches regex .*").`
    return `Okta sent no "${claimName}" claim although the groups scope was requested: set a groups claim filter on the app (Applications → (this app) → Sign On → OpenID Connect ID Token → Groups claim type "Filter", name "${claimName}", for example "Matches regex .*"), or check that the user is in a group the filter matches.`
  }
  return `Okta sent no "${claimName}" claim: add it to the authorization server (Security → API → Authorization Servers → ${serverName(issuer)} → Claims → Add Claim: name "${claimName}" (case-sensitive), include in the ID token, value type Groups, a filter such as "Matches regex .*", included in any scope or in a scope listed in idp_scopes), or check that the user is in a group the filter matches.`
}
