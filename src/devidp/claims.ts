/**
 * The claims Okta puts in each token, by server kind, scopes and flow:
 *   - org server: the ID token of the code flow is thin (base claims only);
 *     profile, email and the app's groups claim come from /userinfo, and the
 *     groups claim only with the `groups` scope;
 *   - custom server: scope claims in the ID token, and each custom claim in
 *     the ID token, the access token or both, always or only with its scopes.
 */
import { evaluateGroupsClaim, type Flow } from './groups-claim.js'
import type { DevApp, DevServer, DevUser } from './model.js'

export type ClaimSet = Record<string, unknown>
export type ClaimsResult = { readonly ok: true; readonly claims: ClaimSet } | { readonly ok: false; readonly description: string }

export type TokenKind = 'id' | 'access' | 'userinfo'

function scopeClaims(user: DevUser, scopes: readonly string[]): ClaimSet {
  const out: ClaimSet = {}
  if (scopes.includes('profile')) {
    out.name = user.name
    out.preferred_username = user.login
  }
  if (scopes.includes('email')) {
    out.email = user.email
    out.email_verified = user.emailVerified
  }
  return out
}

export interface ClaimsInput {
  readonly server: DevServer
  readonly app: DevApp
  readonly user: DevUser
  readonly scopes: readonly string[]
  readonly flow: Flow
  readonly kind: TokenKind
}

/** The user claims of one token (not iss/aud/exp…, which the signer adds). */
export function userClaims(x: ClaimsInput): ClaimsResult {
  const { server, app, user, scopes, flow, kind } = x
  const out: ClaimSet = {}
  if (server.kind === 'org') {
    if (kind === 'access') return { ok: true, claims: out }
    // Okta's org server: the code flow's ID token is thin; /userinfo and the implicit flow's ID token carry the rest.
    const thin = kind === 'id' && flow !== 'implicit'
    if (thin) return { ok: true, claims: out }
    Object.assign(out, scopeClaims(user, scopes))
    if (app.orgGroupsClaim !== undefined && scopes.includes('groups')) {
      const r = evaluateGroupsClaim(app.orgGroupsClaim.name, app.orgGroupsClaim.value, user, flow)
      if (!r.ok) return r
      out[app.orgGroupsClaim.name] = r.groups
    }
    return { ok: true, claims: out }
  }
  if (kind !== 'access') Object.assign(out, scopeClaims(user, scopes))
  for (const c of server.claims) {
    const inKind = kind === 'access' ? c.includeIn !== 'id' : c.includeIn !== 'access'
    if (!inKind) continue
    if (c.scopes !== 'any' && !c.scopes.some((s) => scopes.includes(s))) continue
    if ('attribute' in c.value) {
      const a = c.value.attribute
      out[c.name] = a === 'email' ? user.email : a === 'login' ? user.login : a === 'name' ? user.name : user.id
      continue
    }
    const r = evaluateGroupsClaim(c.name, c.value, user, flow)
    if (!r.ok) return r
    out[c.name] = r.groups
  }
  return { ok: true, claims: out }
}

/** Check every token a grant will carry, so a claim that cannot be evaluated fails the request rather than one token. */
export function checkClaims(x: Omit<ClaimsInput, 'kind'>): { ok: true } | { ok: false; description: string } {
  for (const kind of ['id', 'access', 'userinfo'] as const) {
    const r = userClaims({ ...x, kind })
    if (!r.ok) return r
  }
  return { ok: true }
}
