/**
 * The admin surface: what an Okta admin does in the console, as functions a
 * test calls (and as HTTP, see admin-http.ts). Each change has the effect it
 * has in Okta: deactivating or unassigning a user revokes their tokens; a
 * rotated client secret stops the old one at once; a disabled grant answers
 * `unauthorized_client`.
 */
import { buildClaim, buildPolicy, buildUser, DevIdpModelError, parseGroupsValue } from './build-model.js'
import { findUser, type IdpContext } from './context.js'
import type { ClaimInput, DevApp, DevServer, DevUser, GrantType, GroupsValueInput, PolicyInput, RefreshSettings, SigningAlg, UserInput } from './model.js'
import type { EndpointKind, RateLimitSetting } from './rate-limit.js'
import { randomId, revokeUserTokens } from './state.js'

export type KeyRotation = 'publish-ahead' | 'activate' | 'emergency'

export interface DevIdpAdmin {
  addUser(input: UserInput): DevUser
  setUserGroups(user: string, groups: string[]): void
  deactivateUser(user: string): void
  activateUser(user: string): void
  setEmailVerified(user: string, verified: boolean): void
  assignUser(clientId: string, user: string): void
  unassignUser(clientId: string, user: string): void
  /** Revoke every refresh and access token of a user. */
  revokeUserTokens(user: string): void
  /** `publish-ahead`: the next key appears in /keys but does not sign; `activate`: it starts signing; `emergency`: a new key signs at once. Returns the new key's kid. */
  rotateKeys(server?: string, mode?: KeyRotation, opts?: { dropOld?: boolean; alg?: SigningAlg }): Promise<string>
  currentKid(server?: string): string
  /** A new client secret; the old one stops working unless `keepOld`. Returns the new secret. */
  rotateClientSecret(clientId: string, opts?: { keepOld?: boolean; secret?: string }): string
  setGrantEnabled(clientId: string, grant: GrantType, enabled: boolean): void
  setRefreshSettings(clientId: string, settings: Partial<RefreshSettings>): void
  /** The org server's groups claim on the app (undefined removes it). */
  setAppGroupsClaim(clientId: string, claim: ({ name?: string } & GroupsValueInput) | undefined): void
  setServerClaims(server: string, claims: ClaimInput[]): void
  setAccessPolicies(server: string, policies: PolicyInput[]): void
  /** Rate limits per endpoint kind (undefined lifts them). */
  setRateLimit(kind: EndpointKind | 'all', setting: RateLimitSetting | undefined): void
  deactivateApp(clientId: string): void
  /** false takes Okta's management API (/api/v1) down: its requests get no answer, the connection is dropped. */
  setApiAvailable(available: boolean): void
}

export function createAdmin(ctx: IdpContext): DevIdpAdmin {
  const user = (name: string): DevUser => {
    const u = findUser(ctx, name)
    if (u === undefined) throw new DevIdpModelError([`no user ${name}`])
    return u
  }
  const app = (clientId: string): DevApp => {
    const a = ctx.model.apps.get(clientId)
    if (a === undefined) throw new DevIdpModelError([`no app ${clientId}`])
    return a
  }
  const server = (id: string): DevServer => {
    const s = ctx.model.servers.get(id)
    if (s === undefined) throw new DevIdpModelError([`no authorization server ${id}`])
    return s
  }
  const ring = (id: string) => {
    const k = ctx.keys.get(id)
    if (k === undefined) throw new DevIdpModelError([`no authorization server ${id}`])
    return k
  }
  const revoke = (u: DevUser, clientId: string | undefined, why: string): void => {
    revokeUserTokens(ctx.state, u.id, clientId)
    ctx.events.emit('tokens-revoked', { userId: u.id, clientId, why })
  }
  const checked = <T>(fn: (problems: string[]) => T): T => {
    const problems: string[] = []
    const out = fn(problems)
    if (problems.length > 0) throw new DevIdpModelError(problems)
    return out
  }

  return {
    addUser(input) {
      const u = buildUser(input, ctx.model.users.length)
      if (findUser(ctx, u.login) !== undefined || findUser(ctx, u.username) !== undefined) throw new DevIdpModelError([`user ${u.login} exists`])
      ctx.model.users.push(u)
      return u
    },
    setUserGroups(name, groups) {
      user(name).groups = [...groups]
    },
    deactivateUser(name) {
      const u = user(name)
      u.status = 'DEPROVISIONED'
      for (const [id, s] of ctx.state.sessions) if (s.userId === u.id) ctx.state.sessions.delete(id)
      revoke(u, undefined, 'user deactivated')
    },
    activateUser(name) {
      user(name).status = 'ACTIVE'
    },
    setEmailVerified(name, verified) {
      user(name).emailVerified = verified
    },
    assignUser(clientId, name) {
      app(clientId).assignments.users.add(user(name).login)
    },
    unassignUser(clientId, name) {
      const a = app(clientId)
      const u = user(name)
      if (a.assignments.everyone) {
        // "Everyone" becomes the explicit list of everybody else.
        a.assignments.everyone = false
        for (const other of ctx.model.users) if (other !== u) a.assignments.users.add(other.login)
      }
      for (const n of [u.login, u.username, u.id]) a.assignments.users.delete(n)
      revoke(u, clientId, 'user unassigned from the app')
    },
    revokeUserTokens(name) {
      revoke(user(name), undefined, 'revoked by an admin')
    },
    async rotateKeys(id = 'default', mode = 'activate', opts = {}) {
      const k = ring(id)
      if (mode === 'publish-ahead') return k.publishNext(opts.alg)
      if (mode === 'emergency') return k.emergencyRotate(opts)
      return k.activateNext()
    },
    currentKid: (id = 'default') => ring(id).active().kid,
    rotateClientSecret(clientId, opts = {}) {
      const a = app(clientId)
      const fresh = opts.secret ?? randomId()
      if (opts.keepOld === true && a.clientSecret !== undefined) a.extraSecrets.push(a.clientSecret)
      else a.extraSecrets.length = 0
      a.clientSecret = fresh
      return fresh
    },
    setGrantEnabled(clientId, grant, enabled) {
      const a = app(clientId)
      if (enabled) a.grantTypes.add(grant)
      else a.grantTypes.delete(grant)
    },
    setRefreshSettings(clientId, settings) {
      const a = app(clientId)
      a.refresh = { ...a.refresh, ...settings }
    },
    setAppGroupsClaim(clientId, claim) {
      const a = app(clientId)
      a.orgGroupsClaim = claim === undefined ? undefined : checked((p) => ({ name: claim.name ?? 'groups', value: parseGroupsValue(claim, 'groups_claim', p) }))
    },
    setServerClaims(id, claims) {
      const s = server(id)
      s.claims = checked((p) => claims.map((c, i) => buildClaim(c, `claims[${i}]`, p)))
    },
    setAccessPolicies(id, policies) {
      server(id).policies = policies.map((p, i) => buildPolicy(p, `policies[${i}]`))
    },
    setRateLimit(kind, setting) {
      ctx.rate.set(kind, setting)
    },
    deactivateApp(clientId) {
      app(clientId).active = false
    },
    setApiAvailable(available) {
      ctx.outages.api = !available
    },
  }
}
