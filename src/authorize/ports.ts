/**
 * What the request path needs from the identity and session modules, in the
 * server's own words. app.ts adapts the real modules to these; the pipeline
 * reads top to bottom without knowing how sessions are stored or how Okta is
 * spoken to.
 */
import type { Identity } from '../policy/types.js'
import type { LogoutClaims, RevocationCall, SignedInIdentity } from '../identity/index.js'
import type { Revoked, SessionFilter } from '../session/index.js'

/** A signed-in session as the request path sees it. */
export interface ActiveSession extends Identity {
  readonly id: string
  readonly idToken: string
  readonly accessToken: string
  readonly createdAtMs: number
  readonly expiresAtMs: number
  /** Things to fix in Okta this sign-in showed, for the user page. */
  readonly notes?: readonly string[]
  /** Changes on every refresh (invalidates cached assertions). */
  readonly version: number
  /** The IdP's session id, when the ID token had one. */
  readonly idpSid?: string | undefined
}

export type LoadResult =
  | { readonly kind: 'none' }
  | { readonly kind: 'session'; readonly session: ActiveSession }
  /** The session ended at the IdP (invalid_grant on refresh): sign in again. */
  | { readonly kind: 'ended' }

export interface SessionPort {
  /** Loads and, when due, refreshes the session. Throws a GatehouseError with code SESSION_STORE_UNAVAILABLE when the store is down. */
  load(cookieValue: string | undefined): Promise<LoadResult>
  /** The same answer as `load` when it needs no I/O and no refresh (no cookie, or a fresh cached session); otherwise undefined. */
  peek(cookieValue: string | undefined): LoadResult | undefined
  create(signedIn: SignedIn): Promise<{ cookieValue: string; session: ActiveSession }>
  revoke(session: ActiveSession): Promise<void>
  /** End every session of an email, IdP subject or IdP session, on every replica. */
  revokeWhere(filter: SessionFilter, opts?: { refreshTokens?: boolean }): Promise<Revoked>
  exists(id: string): Promise<boolean>
  /** true the first time `key` is claimed, across replicas, within `ttlMs` (a logout token's jti). */
  claimOnce(key: string, ttlMs: number): Promise<boolean>
  isReady(): Promise<boolean>
}

/** The verified outcome of a sign-in, and what the person should know about it. */
export type SignedIn = SignedInIdentity & { readonly notes?: readonly string[] }

export interface LoginStart {
  readonly authorizationUrl: URL
  /** The state value; names the login cookie. */
  readonly state: string
  /** Sealed login state for the short-lived cookie. */
  readonly sealed: string
}

export interface IdentityPort {
  isReady(): boolean
  /** Throws IDP_UNREACHABLE when discovery has not succeeded and cannot now. */
  beginLogin(returnTo: URL, redirectUri: string): Promise<LoginStart>
  /** `sealed`: the login cookie for the callback's `state`, if any. Throws IdentityError on any failure. */
  completeLogin(callbackUrl: URL, sealed: string | undefined, consume?: (state: string) => Promise<boolean>): Promise<{ signedIn: SignedIn; returnTo: URL }>
  /** Okta's end-session URL, or undefined when the IdP has none. */
  endSessionUrl(idTokenHint: string, postLogoutRedirectUri: string, state: string): URL | undefined
  /** Short hash of a state value for the login cookie's name. */
  loginCookieSuffix(state: string): string
  /** The scopes sign-ins request (idp_scopes, or the defaults plus groups when Okta offers it). */
  scopes(): readonly string[]
  /** Throws IDP_LOGOUT_TOKEN_INVALID (or IDP_UNREACHABLE when the keys cannot be had). */
  verifyLogoutToken(token: string): Promise<LogoutClaims>
  /** Throws IDP_REVOCATION_AUTH_INVALID (or IDP_UNREACHABLE). */
  verifyRevocationCall(token: string, endpointUrl: string): Promise<RevocationCall>
  revokeRefreshToken(refreshToken: string): Promise<void>
}
