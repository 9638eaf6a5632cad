/**
 * Everything an endpoint of the local IdP works with, passed as one value:
 * the model, the remembered state, each server's keys, the clock, counters
 * and the log of calls tests inspect.
 */
import { EventEmitter } from 'node:events'
import type { KeyRing } from './keys.js'
import type { DevApp, DevIdpModel, DevServer, DevUser } from './model.js'
import type { RateLimiter } from './rate-limit.js'
import type { IdpState } from './state.js'

export interface Counters {
  authorizationCodeGrants: number
  refreshGrants: number
  refreshFailures: number
  jwksFetches: number
  logouts: number
  logins: number
  userinfoCalls: number
  tokenRequests: number
  clientCredentialsGrants: number
  introspections: number
  /** Calls to /api/v1 (the management API), answered or refused. */
  apiCalls: number
}

export interface EndSessionCall {
  readonly serverId: string
  readonly idTokenHint: string | null
  readonly postLogoutRedirectUri: string | null
  readonly state: string | null
  readonly accepted: boolean
  /** Why it was refused (Okta's words), when it was. */
  readonly error?: string
}

/**
 * Events other modules may listen to (a logout sender, a test): `logout`
 * when an IdP session ends, `tokens-revoked` when a user's tokens are.
 */
export interface IdpEvents {
  logout: [{ serverId: string; sessionId: string; userId: string; clientIds: string[] }]
  'tokens-revoked': [{ userId: string; clientId: string | undefined; why: string }]
}

export interface IdpContext {
  readonly model: DevIdpModel
  readonly state: IdpState
  readonly keys: Map<string, KeyRing>
  /** Signs the org server's access tokens: meant for Okta only, so never published. */
  readonly orgAccessKey: { kid: string; alg: 'RS256'; privateKey: import('jose').CryptoKey }
  /** `http://127.0.0.1:PORT`: the org server's issuer. */
  readonly url: string
  /** The org's identity-provider id (the ID token's `idp` claim). */
  readonly orgIdpId: string
  readonly now: () => number
  readonly counters: Counters
  readonly endSessions: EndSessionCall[]
  readonly rate: RateLimiter
  /** What an admin has taken down: `api` drops every /api/v1 request unanswered (an outage of Okta's management API). */
  readonly outages: { api: boolean }
  readonly events: EventEmitter<IdpEvents>
}

export function issuerOf(ctx: IdpContext, server: DevServer): string {
  return server.kind === 'org' ? ctx.url : `${ctx.url}/oauth2/${server.id}`
}

/** `{issuer}/v1` for custom servers, `/oauth2/v1` for the org server. */
export function endpointBase(ctx: IdpContext, server: DevServer): string {
  return server.kind === 'org' ? `${ctx.url}/oauth2/v1` : `${ctx.url}/oauth2/${server.id}/v1`
}

export function findUser(ctx: IdpContext, name: string): DevUser | undefined {
  return ctx.model.users.find((u) => u.username === name || u.login === name || u.email === name || u.id === name)
}

export function userById(ctx: IdpContext, id: string): DevUser | undefined {
  return ctx.model.users.find((u) => u.id === id)
}

export function isAssigned(app: DevApp, user: DevUser): boolean {
  const a = app.assignments
  if (a.everyone) return true
  if (a.users.has(user.login) || a.users.has(user.username) || a.users.has(user.id)) return true
  return user.groups.some((g) => a.groups.has(g))
}

export function nowSeconds(ctx: IdpContext): number {
  return Math.floor(ctx.now() / 1000)
}
