/**
 * What the IdP remembers between requests, all in memory: browser sessions
 * at the IdP, sign-ins in progress, authorization codes, refresh-token
 * families and issued access tokens. One object, so the admin surface can
 * revoke across all of it.
 */
import { randomBytes } from 'node:crypto'

export function randomId(prefix = ''): string {
  return prefix + randomBytes(18).toString('base64url')
}

/** A browser's session at the IdP (Okta's `sid`). */
export interface IdpSession {
  readonly id: string
  readonly userId: string
  readonly authTimeS: number
}

/** An /authorize request waiting for the person to sign in. */
export interface PendingAuthorization {
  readonly id: string
  readonly serverId: string
  readonly clientId: string
  readonly redirectUri: string
  readonly responseType: string
  readonly scopes: readonly string[]
  readonly state: string
  readonly nonce: string | undefined
  readonly codeChallenge: string | undefined
  readonly responseMode: 'query' | 'fragment' | 'form_post'
  readonly createdAtMs: number
}

export interface AuthorizationCode {
  readonly code: string
  readonly serverId: string
  readonly clientId: string
  readonly userId: string
  readonly sessionId: string
  readonly redirectUri: string
  readonly scopes: readonly string[]
  readonly nonce: string | undefined
  readonly codeChallenge: string | undefined
  readonly authTimeS: number
  readonly expiresAtMs: number
}

/** Every refresh token descended from one sign-in. Reusing a rotated-out token after its grace period revokes them all. */
export interface RefreshFamily {
  readonly id: string
  readonly serverId: string
  readonly clientId: string
  readonly userId: string
  readonly sessionId: string
  readonly scopes: readonly string[]
  readonly authTimeS: number
  /** The token that works now. */
  current: string
  /** Rotated-out tokens and when they stop working (the grace period). */
  readonly previous: Map<string, number>
  /** Absolute end, or undefined for unlimited. */
  readonly expiresAtMs: number | undefined
  revoked: boolean
}

export interface IssuedAccessToken {
  readonly serverId: string
  readonly clientId: string
  readonly userId: string | undefined
  readonly scopes: readonly string[]
  readonly expiresAtMs: number
  revoked: boolean
}

export interface IdpState {
  readonly sessions: Map<string, IdpSession>
  readonly pending: Map<string, PendingAuthorization>
  readonly codes: Map<string, AuthorizationCode>
  readonly refreshFamilies: Map<string, RefreshFamily>
  /** Refresh token value → family id, for current and previous tokens. */
  readonly refreshIndex: Map<string, string>
  readonly accessTokens: Map<string, IssuedAccessToken>
  /** private_key_jwt assertion ids already used, with their expiry. */
  readonly usedAssertionIds: Map<string, number>
}

export function createState(): IdpState {
  return {
    sessions: new Map(),
    pending: new Map(),
    codes: new Map(),
    refreshFamilies: new Map(),
    refreshIndex: new Map(),
    accessTokens: new Map(),
    usedAssertionIds: new Map(),
  }
}

/** Revoke every token of a user (optionally for one client): what Okta does on deactivation or unassignment. */
export function revokeUserTokens(state: IdpState, userId: string, clientId?: string): void {
  for (const f of state.refreshFamilies.values()) if (f.userId === userId && (clientId === undefined || f.clientId === clientId)) f.revoked = true
  for (const t of state.accessTokens.values()) if (t.userId === userId && (clientId === undefined || t.clientId === clientId)) t.revoked = true
}
