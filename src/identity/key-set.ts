/**
 * The IdP's signing keys. Fetched once, kept for good (an outage of the keys
 * endpoint does not stop verification with known keys). An unknown `kid`
 * means the keys rotated: refetch now, once, shared by every caller, and at
 * most once per cooldown whether the fetch worked or not, so a flood of
 * forged kids cannot turn into a flood of fetches at the IdP.
 */
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose'
import type { CryptoKey } from 'jose'

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>

export interface KeySetOptions {
  readonly jwksUri: URL
  readonly fetch: FetchLike
  readonly now: () => number
  readonly cooldownMs?: number
  readonly timeoutMs?: number
  readonly onFetch?: (result: 'ok' | 'error') => void
}

export interface KeySet {
  /** For jose's jwtVerify: tokens that arrive from clients (an unknown kid refetches at most once per cooldown). */
  getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey>
  /**
   * For tokens that came straight from the IdP's token endpoint: an unknown kid
   * means the IdP rotated (perhaps urgently), so refetch now whatever the
   * cooldown, but at most once per kid, so a bad kid cannot cause a flood.
   */
  getKeyFromIdp(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey>
  /** Fetch now unless cooling down (used at startup and for readiness). */
  refresh(): Promise<void>
  readonly loaded: boolean
}

export function createKeySet(opts: KeySetOptions): KeySet {
  const cooldownMs = opts.cooldownMs ?? 30_000
  const timeoutMs = opts.timeoutMs ?? 5_000
  let local: ReturnType<typeof createLocalJWKSet> | undefined
  let lastAttemptMs = -Infinity
  let pending: Promise<void> | undefined
  /** Kids an IdP-issued token made us refetch for (bounded). */
  const refetchedFor = new Set<string>()

  async function fetchKeys(): Promise<void> {
    lastAttemptMs = opts.now()
    try {
      const res = await opts.fetch(opts.jwksUri, { headers: { accept: 'application/json, application/jwk-set+json' }, signal: AbortSignal.timeout(timeoutMs) })
      if (!res.ok) throw new Error(`keys endpoint answered HTTP ${res.status}`)
      const json = (await res.json()) as JSONWebKeySet
      if (typeof json !== 'object' || json === null || !Array.isArray(json.keys)) throw new Error('keys endpoint did not return a JWKS')
      local = createLocalJWKSet(json)
      opts.onFetch?.('ok')
    } catch (err) {
      opts.onFetch?.('error')
      throw err
    }
  }

  function reload(): Promise<void> {
    pending ??= fetchKeys().finally(() => {
      pending = undefined
    })
    return pending
  }

  return {
    get loaded() {
      return local !== undefined
    },
    refresh: () => (pending !== undefined ? pending : opts.now() - lastAttemptMs < cooldownMs && local !== undefined ? Promise.resolve() : reload()),
    async getKey(header, token) {
      if (local === undefined) {
        if (pending !== undefined || opts.now() - lastAttemptMs >= cooldownMs) await reload().catch(() => undefined)
        if (local === undefined) throw new joseErrors.JWKSNoMatchingKey('the IdP signing keys are not available')
      }
      try {
        return await local(header, token)
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err
        // Unknown kid: the IdP may have rotated early. Refetch once, unless one just happened.
        if (pending === undefined && opts.now() - lastAttemptMs < cooldownMs) throw err
        await reload().catch(() => undefined)
        return local(header, token)
      }
    },
    async getKeyFromIdp(header, token) {
      if (local !== undefined) {
        try {
          return await local(header, token)
        } catch (err) {
          if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err
        }
      }
      const kid = header.kid ?? ''
      if (refetchedFor.has(kid)) throw new joseErrors.JWKSNoMatchingKey('no key in the IdP signing keys matches the token (already refetched for this kid)')
      if (refetchedFor.size >= 1000) refetchedFor.clear()
      refetchedFor.add(kid)
      await reload().catch(() => undefined)
      if (local === undefined) throw new joseErrors.JWKSNoMatchingKey('the IdP signing keys are not available')
      return local(header, token)
    },
  }
}
