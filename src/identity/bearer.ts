/**
 * Bearer tokens as credentials (`bearer_token_format: idp_access_token` or
 * `idp_identity_token`). A JWT access token from a custom authorization server
 * is verified offline (verify-access-token.ts); an org-server or opaque token
 * is asked about at the IdP's introspection endpoint with gatehouse's own
 * client authentication; an ID token is checked as at sign-in, without a nonce.
 *
 * The hot path does no signature check twice: a verified token is cached by a
 * digest of the token (never the token itself) until it expires (an
 * introspection answer for at most 5 minutes), in a bounded map, and
 * concurrent checks of one token share one verification. The audience is
 * checked on every use, since routes accept different audiences.
 *
 *   const bearer = createBearerVerifier({ server, now, identity: { groupsClaim, groupsFilter }, clientId })
 *   const r = await bearer.verify(token, route.bearer)   // route.bearer.format !== 'default'
 *   if (!r.ok) → 401 (WWW-Authenticate: Bearer error="invalid_token", error_description=r.description) or 503
 */
import { createHash } from 'node:crypto'
import { decodeJwt } from 'jose'
import type { RouteBearer } from '../config/types.js'
import type { KeySet } from './key-set.js'
import { claimsFromIntrospection, identityFromAccessToken, identityFromIdToken, type TokenIdentity, type TokenIdentityOptions } from './token-identity.js'
import { checkTimes, describeJoseError, TokenRejected, verifyAccessToken } from './verify-access-token.js'
import { NO_NONCE, verifyIdToken } from './verify-id-token.js'
import { IdentityError } from './errors.js'

/** What the verifier needs from the discovered IdP. */
export interface BearerServer {
  readonly issuer: string
  readonly keys: KeySet
  /** RFC 7662 with gatehouse's client authentication; undefined when discovery lists no introspection endpoint. */
  readonly introspect: ((token: string) => Promise<Readonly<Record<string, unknown>>>) | undefined
  /** Okta's org authorization server: its access tokens are meant for Okta and can only be checked by introspection. */
  readonly isOrgServer: boolean
}

export interface BearerVerifierOptions {
  /** The discovered IdP; rejects with an IdentityError when it cannot be reached. */
  readonly server: () => Promise<BearerServer>
  readonly now: () => number
  readonly clientId: string
  readonly identity: TokenIdentityOptions
  readonly maxEntries?: number
  readonly clockToleranceSeconds?: number
}

export type BearerResult =
  | {
      readonly ok: true
      readonly identity: TokenIdentity
      readonly expiresAtMs: number
      /** A digest of the token (never the token): a stable id for caches keyed by credential. */
      readonly key: string
      /** `BEARER_SESSION_PREFIX` + key: the id of the request path's session, built once per cached token. */
      readonly sessionId: string
    }
  /** 401: the token is missing, malformed, expired, not for here, or not from the issuer. */
  | { readonly ok: false; readonly status: 401; readonly description: string }
  /** 503: the IdP (keys or introspection) could not be asked; the token may be fine. */
  | { readonly ok: false; readonly status: 503; readonly description: string }

export interface BearerVerifier {
  verify(token: string, bearer: Exclude<RouteBearer, { format: 'default' }>): Promise<BearerResult>
  /** The same answer as `verify` when the token is already cached (no I/O, no promise); otherwise undefined. */
  peek(token: string, bearer: Exclude<RouteBearer, { format: 'default' }>): BearerResult | undefined
  /** Entries in the cache (for metrics and tests). */
  readonly size: number
}

/** Session ids of bearer credentials start with this (a store session's never does). */
export const BEARER_SESSION_PREFIX = 'bearer:'

type Accepted = Extract<BearerResult, { ok: true }>

interface Entry {
  /** The answer for this token, built on its first use: a cached token costs no allocation. */
  accepted?: Accepted
  readonly identity: TokenIdentity
  /** `aud` as a list, for the per-route check. */
  readonly audiences: readonly string[]
  readonly validUntilMs: number
  readonly expiresAtMs: number
}

/** How long an introspection answer is trusted, at most. */
export const INTROSPECTION_CACHE_MS = 5 * 60_000
const DEFAULT_MAX_ENTRIES = 10_000

const audList = (aud: unknown): readonly string[] =>
  typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []

function accepts(entry: Entry, allowed: readonly string[]): boolean {
  for (const a of entry.audiences) if (allowed.includes(a)) return true
  return false
}

const looksLikeJwt = (t: string): boolean => {
  const first = t.indexOf('.')
  return first > 0 && t.indexOf('.', first + 1) > first + 1 && t.indexOf('.', t.indexOf('.', first + 1) + 1) === -1
}

export function createBearerVerifier(o: BearerVerifierOptions): BearerVerifier {
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES
  const toleranceS = o.clockToleranceSeconds ?? 60
  const cache = new Map<string, Entry>()
  const pending = new Map<string, Promise<Entry>>()

  function remember(key: string, e: Entry): void {
    if (cache.size >= maxEntries) {
      // Drop what has expired; if nothing has, the oldest entry.
      const now = o.now()
      for (const [k, v] of cache) if (v.validUntilMs <= now) cache.delete(k)
      if (cache.size >= maxEntries) {
        const oldest = cache.keys().next()
        if (oldest.done !== true) cache.delete(oldest.value)
      }
    }
    cache.set(key, e)
  }

  async function server(): Promise<BearerServer> {
    try {
      return await o.server()
    } catch (err) {
      throw err instanceof IdentityError ? err : new IdentityError('IDP_UNREACHABLE', 'the IdP could not be reached', { cause: err })
    }
  }

  async function checkAccessToken(token: string, allowed: readonly string[]): Promise<Entry> {
    const s = await server()
    if (s.isOrgServer || !looksLikeJwt(token)) return introspected(s, token)
    const claims = await verifyAccessToken(token, s.keys, { issuer: s.issuer, audiences: allowed, now: o.now, clockToleranceSeconds: toleranceS })
    return {
      identity: identityFromAccessToken(claims, o.identity),
      audiences: audList(claims.aud),
      validUntilMs: claims.exp * 1000 + toleranceS * 1000,
      expiresAtMs: claims.exp * 1000,
    }
  }

  async function introspected(s: BearerServer, token: string): Promise<Entry> {
    if (s.introspect === undefined) throw new TokenRejected('the token cannot be checked: it is not a JWT and the issuer offers no introspection')
    // A JWT-shaped token that names another issuer, or has expired, is refused without asking the IdP.
    if (looksLikeJwt(token)) {
      let unverified: Record<string, unknown> | undefined
      try {
        unverified = decodeJwt(token)
      } catch {
        unverified = undefined
      }
      if (unverified !== undefined) {
        if (unverified.iss !== undefined && unverified.iss !== s.issuer) throw new TokenRejected('the access token was not issued by the configured issuer')
        if (typeof unverified.exp === 'number' && unverified.exp * 1000 + toleranceS * 1000 < o.now()) throw new TokenRejected('the access token has expired')
      }
    }
    let answer: Readonly<Record<string, unknown>>
    try {
      answer = await s.introspect(token)
    } catch (err) {
      throw err instanceof IdentityError ? err : new IdentityError('IDP_UNREACHABLE', 'the IdP could not be reached during token introspection', { cause: err })
    }
    if (answer.active !== true) throw new TokenRejected('the IdP says the token is not active (expired, revoked, or never issued)')
    if (answer.iss !== undefined && answer.iss !== s.issuer) throw new TokenRejected('the access token was not issued by the configured issuer')
    if (typeof answer.token_type === 'string' && answer.token_type.toLowerCase() !== 'bearer') throw new TokenRejected('the token is not an access token')
    const claims = claimsFromIntrospection(answer)
    checkTimes(claims, o.now(), toleranceS, 'access token')
    const exp = (claims.exp as number) * 1000
    return {
      identity: identityFromAccessToken(claims, o.identity),
      audiences: audList(claims.aud),
      validUntilMs: Math.min(exp, o.now() + INTROSPECTION_CACHE_MS),
      expiresAtMs: exp,
    }
  }

  async function checkIdToken(token: string): Promise<Entry> {
    const s = await server()
    let claims
    try {
      claims = await verifyIdToken(token, s.keys, {
        issuer: s.issuer,
        clientId: o.clientId,
        expectedNonce: NO_NONCE,
        now: o.now,
        clockToleranceSeconds: toleranceS,
      })
    } catch (err) {
      if (err instanceof IdentityError && err.code === 'IDP_TOKEN_INVALID') {
        throw err.cause === undefined ? new TokenRejected(err.message) : describeJoseError(err.cause, 'ID token')
      }
      throw err
    }
    return {
      identity: identityFromIdToken(claims, o.identity),
      audiences: [o.clientId],
      validUntilMs: claims.exp * 1000 + toleranceS * 1000,
      expiresAtMs: claims.exp * 1000,
    }
  }

  function check(key: string, run: () => Promise<Entry>): Promise<Entry> {
    let p = pending.get(key)
    if (p === undefined) {
      p = run().finally(() => pending.delete(key))
      pending.set(key, p)
    }
    return p
  }

  return {
    get size() {
      return cache.size
    },
    peek(token, bearer) {
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined
      const key = keyOf(token, bearer)
      const entry = cache.get(key)
      if (entry === undefined || entry.validUntilMs <= o.now()) return undefined
      return answer(entry, key, bearer)
    },
    async verify(token, bearer) {
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return { ok: false, status: 401, description: 'the bearer token is empty or too long' }
      const isAccess = bearer.format === 'idp_access_token'
      const key = keyOf(token, bearer)
      let entry = cache.get(key)
      if (entry !== undefined && entry.validUntilMs <= o.now()) {
        cache.delete(key)
        entry = undefined
      }
      if (entry === undefined) {
        try {
          // Routes accept different audiences: a check under one list is not shared with another.
          const flight = isAccess ? `${key}|${bearer.allowedAudiences.join(' ')}` : key
          entry = await check(flight, () => (isAccess ? checkAccessToken(token, bearer.allowedAudiences) : checkIdToken(token)))
        } catch (err) {
          if (err instanceof TokenRejected) return { ok: false, status: 401, description: err.description }
          if (err instanceof IdentityError && (err.code === 'IDP_UNREACHABLE' || err.code === 'IDP_DISCOVERY_FAILED'))
            return { ok: false, status: 503, description: 'the identity provider could not be reached to check the token; try again shortly' }
          if (err instanceof IdentityError) return { ok: false, status: 503, description: 'the token could not be checked with the identity provider' }
          return { ok: false, status: 401, description: 'the token could not be verified' }
        }
        remember(key, entry)
      }
      return answer(entry, key, bearer)
    },
  }
}

const MAX_TOKEN_LENGTH = 16_384

function keyOf(token: string, bearer: Exclude<RouteBearer, { format: 'default' }>): string {
  return (bearer.format === 'idp_access_token' ? 'a:' : 'i:') + createHash('sha256').update(token).digest('base64url')
}

function answer(entry: Entry, key: string, bearer: Exclude<RouteBearer, { format: 'default' }>): BearerResult {
  if (bearer.format === 'idp_access_token' && !accepts(entry, bearer.allowedAudiences))
    return { ok: false, status: 401, description: "the access token's audience is not accepted here" }
  // The key names the format (a: or i:), so one entry answers for one format only.
  entry.accepted ??= { ok: true, identity: entry.identity, expiresAtMs: entry.expiresAtMs, key, sessionId: BEARER_SESSION_PREFIX + key }
  return entry.accepted
}
