/**
 * The local IdP's world, typed: users, groups, apps (OIDC clients) and
 * authorization servers, shaped after what an Okta admin configures. The
 * input form (`DevIdpModelInput`, what the YAML file holds) is turned into
 * the working form once, by `buildModel`; the admin surface then changes the
 * working form in place, as an admin console would.
 */

export type UserStatus = 'ACTIVE' | 'DEPROVISIONED' | 'SUSPENDED'

export interface DevUser {
  /** Okta's user id (`00u…`): the ID token's `sub`. */
  readonly id: string
  /** Okta's login (an email-shaped name): the access token's `sub`, `preferred_username`. */
  readonly login: string
  /** A short name the sign-in form also accepts (the demo's "alice"). */
  readonly username: string
  password: string
  email: string
  emailVerified: boolean
  name: string
  /** Group names, in the order Okta would list them. `Everyone` is implicit. */
  groups: string[]
  status: UserStatus
}

export interface DevGroup {
  readonly id: string
  readonly name: string
}

export type GrantType = 'authorization_code' | 'refresh_token' | 'implicit' | 'client_credentials'
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'

/** Starts with / equals / contains / regex: the four filters of Okta's groups claim. */
export type GroupFilter =
  | { readonly kind: 'starts_with'; readonly value: string }
  | { readonly kind: 'equals'; readonly value: string }
  | { readonly kind: 'contains'; readonly value: string }
  | { readonly kind: 'regex'; readonly value: string }

/**
 * How a groups claim picks groups: a filter (no limit of its own; the per-flow
 * 100-group rule applies), or an expression such as
 * `Groups.startsWith("OKTA", "eng", 100)` that stops at its limit.
 */
export type GroupsValue =
  | { readonly filter: GroupFilter }
  | { readonly expression: { readonly fn: 'startsWith' | 'contains' | 'endsWith'; readonly pattern: string; readonly limit: number } }

export interface RefreshSettings {
  /** `rotate`: a new refresh token on every use; `persistent`: the same token until it expires (Okta's web-app default). */
  rotation: 'rotate' | 'persistent'
  /** Rotation only: how long the previous token still works (Okta: 0–60 s, default 30). */
  gracePeriodSeconds: number
  /** Refresh-token lifetime; undefined: unlimited (Okta's default). */
  lifetimeSeconds: number | undefined
}

export interface DevApp {
  readonly clientId: string
  clientSecret: string | undefined
  /** Secrets that still verify (Okta keeps an old secret active until it is deactivated). */
  readonly extraSecrets: string[]
  readonly name: string
  readonly tokenEndpointAuthMethod: ClientAuthMethod
  readonly grantTypes: Set<GrantType>
  readonly redirectUris: string[]
  readonly postLogoutRedirectUris: string[]
  readonly jwks: { keys: Record<string, unknown>[] } | undefined
  /** `everyone`, or named users (login/username) and groups. */
  readonly assignments: { everyone: boolean; users: Set<string>; groups: Set<string> }
  /** The org server's groups claim, set on the app (Sign On → OpenID Connect ID Token). */
  orgGroupsClaim: { readonly name: string; readonly value: GroupsValue } | undefined
  refresh: RefreshSettings
  /** Okta's "Require PKCE" (always on for public clients). */
  readonly requirePkce: boolean
  /** Okta API scopes granted to the app (its "Okta API Scopes" tab): `okta.groups.read`, `okta.users.read`. */
  readonly oktaApiScopes: Set<string>
  active: boolean
  /** Where the IdP tells the app that someone signed out (logout-sender.ts). */
  readonly logout: AppLogout
}

/**
 * The app's logout settings: Okta's Single Logout "Logout request URL" with
 * "User session details" (front channel: iss and sid, in an iframe), a
 * back-channel logout URI (a signed logout token POSTed), and Universal
 * Logout (a global token revocation endpoint and the subject format).
 */
export interface AppLogout {
  readonly frontchannelUri: string | undefined
  readonly backchannelUri: string | undefined
  readonly universalLogout: { readonly endpoint: string; readonly subjectFormat: 'email' | 'iss_sub' } | undefined
}

/** A claim on a custom authorization server. Only groups-valued claims and profile-attribute claims are modelled. */
export interface ClaimRule {
  /** Case-sensitive, as in Okta. */
  readonly name: string
  readonly value: GroupsValue | { readonly attribute: 'email' | 'login' | 'name' | 'id' }
  /** Okta's "Include in token type". */
  readonly includeIn: 'id' | 'access' | 'both'
  /** Okta's "Include in": any scope, or only when one of these scopes is granted. */
  readonly scopes: 'any' | readonly string[]
}

export interface PolicyRule {
  readonly name: string
  readonly grantTypes: ReadonlySet<GrantType>
  /** `any`, or the scopes this rule allows (every requested scope must be among them). */
  readonly scopes: 'any' | ReadonlySet<string>
  /** `everyone`, or users (login/username) and groups. */
  readonly people: 'everyone' | { readonly users: ReadonlySet<string>; readonly groups: ReadonlySet<string> }
  readonly accessTokenLifetimeSeconds: number
}

export interface AccessPolicy {
  readonly name: string
  /** `all` clients, or these client ids. */
  readonly clients: 'all' | ReadonlySet<string>
  readonly rules: readonly PolicyRule[]
}

export type SigningAlg = 'RS256' | 'ES256' | 'ES384' | 'PS256'

export interface DevServer {
  /** `org` for the org authorization server; the custom server's id (`default`, `aus…`) otherwise. */
  readonly id: string
  readonly kind: 'org' | 'custom'
  /** Custom servers: the access tokens' `aud` (`api://default`). */
  readonly audience: string
  /** Custom scopes defined on the server, beyond the OIDC ones. */
  readonly scopes: readonly string[]
  claims: ClaimRule[]
  /** Custom servers only; the org server has none. */
  policies: AccessPolicy[]
  readonly signingAlg: SigningAlg
}

export interface DevIdpModel {
  readonly users: DevUser[]
  readonly groups: Map<string, DevGroup>
  readonly apps: Map<string, DevApp>
  readonly servers: Map<string, DevServer>
  /** ID-token lifetime (Okta: fixed at 1 h; tests may shorten it). */
  readonly idTokenTtlSeconds: number
  /** Okta API tokens (Security → API → Tokens): `Authorization: SSWS {token}` on /api/v1. */
  readonly apiTokens: Map<string, { readonly name: string }>
}

// ——— the input form (YAML, or given directly) ———

export type GroupFilterInput = { starts_with: string } | { equals: string } | { contains: string } | { regex: string }
export type GroupsValueInput = { filter: GroupFilterInput } | { expression: string }

export interface UserInput {
  username: string
  password: string
  email: string
  login?: string
  id?: string
  /** Older name of `id`. */
  sub?: string
  name?: string
  groups?: string[]
  email_verified?: boolean
  status?: UserStatus
  /** Shorthand: false deactivates. */
  active?: boolean
  /** Shorthand: false leaves the user out of every app's assignments. */
  assigned?: boolean
}

export interface AppInput {
  client_id: string
  client_secret?: string
  name?: string
  client_name?: string
  token_endpoint_auth_method?: ClientAuthMethod
  grant_types?: GrantType[]
  redirect_uris: string[]
  post_logout_redirect_uris?: string[]
  jwks?: { keys: Record<string, unknown>[] }
  assignments?: 'everyone' | { users?: string[]; groups?: string[] }
  groups_claim?: { name?: string } & GroupsValueInput
  refresh_token?: { rotation?: 'rotate' | 'persistent'; grace_period_seconds?: number; lifetime_seconds?: number }
  require_pkce?: boolean
  /** Okta API scopes granted to a service app, for client credentials at the org server. */
  okta_api_scopes?: string[]
  frontchannel_logout_uri?: string
  backchannel_logout_uri?: string
  universal_logout?: { endpoint: string; subject_format?: 'email' | 'iss_sub' }
}

export interface ClaimInput {
  name: string
  value: GroupsValueInput | { attribute: 'email' | 'login' | 'name' | 'id' }
  include_in?: 'id' | 'access' | 'both'
  scopes?: 'any' | string[]
}

export interface PolicyInput {
  name?: string
  clients?: 'all' | string[]
  rules?: Array<{
    name?: string
    grant_types?: GrantType[]
    scopes?: 'any' | string[]
    people?: 'everyone' | { users?: string[]; groups?: string[] }
    access_token_lifetime_seconds?: number
  }>
}

export interface ServerInput {
  id: string
  audience?: string
  scopes?: string[]
  claims?: ClaimInput[]
  policies?: PolicyInput[]
  signing_alg?: SigningAlg
}

export interface DevIdpModelInput {
  users?: UserInput[]
  groups?: Array<{ name: string; id?: string }>
  apps?: AppInput[]
  /** Custom authorization servers; the org server always exists. Default: `default` with a groups claim in any scope. */
  servers?: ServerInput[]
  /** Settings of the org server (its signing algorithm). */
  org?: { signing_alg?: SigningAlg }
  id_token_ttl_seconds?: number
  /** Okta API tokens for the management API (`SSWS`). */
  api_tokens?: Array<{ token: string; name?: string }>
}
