/**
 * What a verified bearer token means to the policy. An Okta access token with
 * `uid` is that user: `user` is the uid (the same id an ID token's `sub`
 * carries), `email` the token's `sub` (Okta sets it to the login), `groups` the
 * groups claim when the admin put one in the access token. A token without
 * `uid` comes from the client-credentials grant: an authenticated machine,
 * whose email, user and groups are unknown (never matched; a deny on them
 * denies) while every `claim/<name>` is known. An ID token is its user.
 */
import type { Identity, UnknownFacts } from '../policy/types.js'

/** Okta caps a groups claim at 100; a list that long may have been cut. */
export const GROUPS_CAP = 100

export const MACHINE_UNKNOWN: UnknownFacts = Object.freeze({
  email: 'a machine token (client credentials) has no email',
  user: 'a machine token (client credentials) has no user',
  groups: 'a machine token (client credentials) has no groups',
})

export interface TokenIdentityOptions {
  readonly groupsClaim: string
  readonly groupsFilter: RegExp | undefined
}

export type TokenIdentity = Identity & {
  /** `machine`: a client-credentials token (no `uid`). */
  readonly kind: 'user' | 'machine'
}

function isEmail(s: string): boolean {
  const at = s.indexOf('@')
  return at > 0 && at === s.lastIndexOf('@') && at < s.length - 1
}

/** The groups claim as a list, or why the groups are unknown. */
export function groupsFrom(claims: Readonly<Record<string, unknown>>, o: TokenIdentityOptions, what: string): { groups: readonly string[]; unknown?: string } {
  const raw = claims[o.groupsClaim]
  if (raw === undefined || raw === null)
    return { groups: [], unknown: `the ${what} carries no "${o.groupsClaim}" claim (add a groups claim to it in Okta, or configure the directory)` }
  const all = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : typeof raw === 'string' ? [raw] : []
  const groups = o.groupsFilter === undefined ? all : all.filter((g) => (o.groupsFilter as RegExp).test(g))
  if (all.length >= GROUPS_CAP) return { groups, unknown: `the groups from Okta may be incomplete (${all.length} groups, the claim's cap)` }
  return { groups }
}

function build(base: Omit<Identity, 'unknown'>, kind: TokenIdentity['kind'], unknown: { [K in keyof UnknownFacts]?: string | undefined }): TokenIdentity {
  const u: { -readonly [K in keyof UnknownFacts]: UnknownFacts[K] } = {}
  if (unknown.email !== undefined) u.email = unknown.email
  if (unknown.user !== undefined) u.user = unknown.user
  if (unknown.groups !== undefined) u.groups = unknown.groups
  return Object.keys(u).length === 0 ? { ...base, kind } : { ...base, kind, unknown: u }
}

/** From the claims of a verified access token (JWT payload, or an introspection answer normalised by `claimsFromIntrospection`). */
export function identityFromAccessToken(claims: Readonly<Record<string, unknown>>, o: TokenIdentityOptions): TokenIdentity {
  const sub = typeof claims.sub === 'string' ? claims.sub : ''
  const uid = typeof claims.uid === 'string' && claims.uid.length > 0 ? claims.uid : undefined
  if (uid === undefined) return { sub, email: undefined, name: undefined, groups: [], claims, unknown: MACHINE_UNKNOWN, kind: 'machine' }
  const login = typeof claims.email === 'string' ? claims.email : sub
  const g = groupsFrom(claims, o, 'access token')
  return build(
    { sub: uid, email: isEmail(login) ? login : undefined, name: typeof claims.name === 'string' ? claims.name : undefined, groups: g.groups, claims },
    'user',
    {
      email: isEmail(login) ? undefined : `the access token's subject (the Okta login "${login.slice(0, 64)}") is not an email address`,
      groups: g.unknown,
    },
  )
}

/** From the claims of a verified ID token used as a bearer credential. */
export function identityFromIdToken(claims: Readonly<Record<string, unknown>>, o: TokenIdentityOptions): TokenIdentity {
  const email = typeof claims.email === 'string' ? claims.email : undefined
  const g = groupsFrom(claims, o, 'ID token')
  return build(
    {
      sub: typeof claims.sub === 'string' ? claims.sub : '',
      email,
      name: typeof claims.name === 'string' ? claims.name : typeof claims.preferred_username === 'string' ? claims.preferred_username : undefined,
      groups: g.groups,
      claims,
    },
    'user',
    {
      email:
        email === undefined
          ? 'the ID token carries no email (request the email scope)'
          : claims.email_verified === false
            ? 'the email is not verified'
            : undefined,
      groups: g.unknown,
    },
  )
}

/**
 * RFC 7662 answers say `scope` (a string) and `client_id`; Okta's JWT access
 * tokens say `scp` (a list) and `cid`. Policies are written against the JWT
 * names, so an introspected token gets them too.
 */
export function claimsFromIntrospection(answer: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...answer }
  delete out.active
  if (out.scp === undefined && typeof answer.scope === 'string') out.scp = answer.scope.split(' ').filter(Boolean)
  if (out.cid === undefined && typeof answer.client_id === 'string') out.cid = answer.client_id
  // Okta's introspection names the login `username`; the JWT's `sub` is the login too.
  if (typeof answer.uid === 'string' && typeof answer.username === 'string') out.sub = answer.username
  return out
}
