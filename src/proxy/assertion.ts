/**
 * The assertion header: a short-lived ES256 JWT that tells the upstream who
 * the user is. Signing is public-key work, so assertions are cached per
 * session and audience and re-signed only when close to expiry: the hot path
 * does a Map lookup.
 */
import { createHash } from 'node:crypto'
import { SignJWT } from 'jose'
import type { SigningKey } from './signing-key.js'

export interface AssertionSubject {
  /** The session id: the cache key, and the `sid` claim. */
  readonly id: string
  readonly sub: string
  readonly email: string | undefined
  readonly name: string | undefined
  readonly groups: readonly string[]
  /** The roles idp_roles grants (the `roles` claim); absent when it is not configured. */
  readonly roles?: readonly string[] | undefined
  /** The session record's version: a refresh changes it and so invalidates the cache. */
  readonly version: number
}

export interface AssertionSigner {
  /** The assertion for this subject and route host (hostname without port: both `iss` and `aud`). */
  assertionFor(subject: AssertionSubject, audience: string): Promise<string>
  /** The cached assertion when it is still fresh, without waiting: the common case on the hot path. */
  cached(subject: AssertionSubject, audience: string): string | undefined
  /** Forget a session's assertions (sign-out). */
  forget(sid: string): void
  readonly size: number
}

interface Entry {
  readonly jwt: string
  readonly version: number
  readonly renewAtMs: number
  /** The roles signed in: a reload that changes idp_roles must not serve the old ones. */
  readonly roles: readonly string[] | undefined
}

export interface AssertionSignerOptions {
  readonly key: SigningKey
  readonly now: () => number
  /** Lifetime of an assertion; DESIGN: five minutes. */
  readonly ttlSeconds?: number
  /** Bound on cached assertions (oldest evicted first). */
  readonly maxEntries?: number
}

export function createAssertionSigner(opts: AssertionSignerOptions): AssertionSigner {
  const ttlSeconds = opts.ttlSeconds ?? 300
  const maxEntries = opts.maxEntries ?? 50_000
  // Renew at 80% of the lifetime so an upstream never receives one about to expire.
  const renewAfterMs = ttlSeconds * 800
  // Session id → audience → entry. Both keys are strings the request path already
  // holds (the record's id, the parsed host), so a look-up builds no new string.
  const cache = new Map<string, Map<string, Entry>>()
  let size = 0
  const inFlight = new Map<string, Promise<string>>()

  function put(sid: string, audience: string, entry: Entry): void {
    let byAudience = cache.get(sid)
    if (byAudience === undefined) {
      if (size >= maxEntries) {
        const oldest = cache.entries().next()
        if (oldest.done !== true) {
          size -= oldest.value[1].size
          cache.delete(oldest.value[0])
        }
      }
      byAudience = new Map()
      cache.set(sid, byAudience)
    }
    if (!byAudience.has(audience)) size++
    byAudience.set(audience, entry)
  }

  async function sign(subject: AssertionSubject, audience: string): Promise<string> {
    const nowMs = opts.now()
    const iat = Math.floor(nowMs / 1000)
    const jwt = await new SignJWT({
      email: subject.email ?? '',
      groups: [...subject.groups],
      name: subject.name ?? '',
      ...(subject.roles === undefined ? {} : { roles: [...subject.roles] }),
      // Not the session id itself (the store's key): a digest that identifies the session to the app.
      sid: createHash('sha256').update(subject.id).digest('base64url').slice(0, 22),
    })
      .setProtectedHeader({ alg: 'ES256', kid: opts.key.kid })
      .setIssuer(audience)
      .setAudience(audience)
      .setSubject(subject.sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttlSeconds)
      .sign(opts.key.privateKey)
    put(subject.id, audience, { jwt, version: subject.version, renewAtMs: nowMs + renewAfterMs, roles: subject.roles })
    return jwt
  }

  function cached(subject: AssertionSubject, audience: string): string | undefined {
    const hit = cache.get(subject.id)?.get(audience)
    return hit !== undefined && hit.version === subject.version && hit.renewAtMs > opts.now() && sameList(hit.roles, subject.roles) ? hit.jwt : undefined
  }

  return {
    cached,
    assertionFor(subject, audience) {
      const hit = cached(subject, audience)
      if (hit !== undefined) return Promise.resolve(hit)
      const key = subject.id + '\n' + audience
      const pending = inFlight.get(key)
      if (pending !== undefined) return pending
      const p = sign(subject, audience).finally(() => inFlight.delete(key))
      inFlight.set(key, p)
      return p
    },
    forget(sid) {
      const byAudience = cache.get(sid)
      if (byAudience === undefined) return
      size -= byAudience.size
      cache.delete(sid)
    },
    get size() {
      return size
    },
  }
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
