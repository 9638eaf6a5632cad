/**
 * Sessions as the request path sees them: load, and refresh when due. A
 * refresh runs under the session's lock (one per session across replicas:
 * Okta may rotate refresh tokens, and a second use of an old one would end
 * the session), re-reads the record once it holds the lock, and then:
 *   - success: new claims and groups replace the old ones;
 *   - a network failure, a 5xx or a 429 (temporary): the old claims keep
 *     working until the session's hard expiry, and every session waits out
 *     one shared back-off for the IdP (a 429 until its X-Rate-Limit-Reset);
 *   - anything else (invalid_grant, invalid_client after a secret rotation,
 *     unauthorized_client after the grant was removed, …): the session ends,
 *     with a log line that says why.
 * A session without a refresh token cannot re-check with Okta, so it ends
 * when its ID token (or a forwarded access token) expires: the browser goes
 * back to Okta, which usually signs it in again without a prompt.
 */
import type { Logger } from 'pino'
import { isGatehouseError } from '../errors.js'
import { isTemporary } from '../identity/index.js'
import type { IdentityProvider } from '../identity/index.js'
import type { SessionManager, SessionRecord } from '../session/index.js'
import type { Metrics } from './telemetry/metrics.js'
import type { LoadResult, SessionPort, SignedIn } from '../authorize/ports.js'

export interface SessionPortOptions {
  readonly manager: SessionManager
  readonly identity: IdentityProvider
  readonly now: () => number
  readonly log: Logger
  readonly metrics: Metrics
  readonly refreshIntervalMs: () => number | undefined
  /** Some route forwards the IdP access token upstream: refresh before it expires. */
  readonly forwardsAccessToken?: () => boolean
  readonly isStoreReady: () => Promise<boolean>
}

const NONE: LoadResult = Object.freeze({ kind: 'none' })
const MIN_REFRESH_MS = 30_000
const EXPIRY_MARGIN_MS = 60_000
const MAX_BACKOFF_MS = 5 * 60_000

export function createSessionPort(o: SessionPortOptions): SessionPort {
  /** One back-off for the IdP, shared by every session: a 429 or an outage is Okta's state, not a session's. */
  let idpBackoff = { untilMs: 0, attempts: 0 }

  /** When this session stops being usable without Okta: its ID token or, if forwarded, its access token. */
  function usableUntil(rec: SessionRecord): number {
    const at = o.forwardsAccessToken?.() === true ? rec.accessTokenExpiresAtMs : undefined
    return at === undefined ? rec.idTokenExpiresAtMs : Math.min(rec.idTokenExpiresAtMs, at)
  }

  function isDue(rec: SessionRecord, now: number): boolean {
    // No refresh token: nothing to refresh with; at expiry the session must sign in again.
    if (rec.refreshToken === undefined) return now >= usableUntil(rec)
    const configured = o.refreshIntervalMs()
    if (configured !== undefined && now - rec.refreshedAtMs >= configured) return true
    // Shortly before the ID token (or a forwarded access token) expires.
    return now >= Math.max(rec.refreshedAtMs + MIN_REFRESH_MS, usableUntil(rec) - EXPIRY_MARGIN_MS)
  }

  async function end(rec: SessionRecord, why: string, err?: { code: string; message: string }): Promise<'ended'> {
    o.metrics.refreshes.inc({ result: 'ended' })
    o.log.info({ sid: rec.id.slice(0, 8), user: rec.email ?? rec.sub, ...(err === undefined ? {} : { err }) }, why)
    await o.manager.revoke(rec.id, rec)
    return 'ended'
  }

  async function refresh(cookieValue: string, id: string): Promise<SessionRecord | 'ended' | undefined> {
    return o.manager.withRefreshLock(id, async () => {
      // Re-read under the lock: another request or replica may have refreshed already.
      const current = await o.manager.load(cookieValue)
      if (current === undefined) return undefined
      if (!isDue(current, o.now())) return current
      if (current.refreshToken === undefined)
        return end(
          current,
          'session needs a new sign-in: its tokens expired and Okta gave no refresh token (add offline_access to idp_scopes and enable the Refresh Token grant on the Okta app)',
        )
      try {
        const fresh = await o.identity.refresh(current.refreshToken, current.sub)
        const saved = await o.manager.save(cookieValue, {
          email: fresh.email ?? current.email,
          name: fresh.name ?? current.name,
          groups: fresh.groups,
          // What is unknown now, not what was unknown at sign-in (absent clears it).
          unknown: fresh.unknown,
          claims: fresh.claims,
          idToken: fresh.idToken,
          accessToken: fresh.accessToken,
          accessTokenExpiresAtMs: fresh.accessTokenExpiresAtMs,
          refreshToken: fresh.refreshToken,
          idpSid: fresh.idpSid ?? current.idpSid,
          idTokenExpiresAtMs: fresh.idTokenExpiresAtMs,
          refreshedAtMs: o.now(),
        })
        idpBackoff = { untilMs: 0, attempts: 0 }
        o.metrics.refreshes.inc({ result: 'ok' })
        o.log.info({ sid: id.slice(0, 8), user: current.email ?? current.sub, groups: fresh.groups }, 'session refreshed')
        return saved
      } catch (err) {
        if (isGatehouseError(err) && err.code.startsWith('SESSION_')) throw err
        const coded = isGatehouseError(err) ? { code: err.code, message: err.message } : { code: 'UNKNOWN', message: String(err) }
        if (!isTemporary(err)) return end(current, `session ended by the IdP: Okta refused the refresh (${coded.code})`, coded)
        const attempts = idpBackoff.attempts + 1
        const retryAtMs = (err as { retryAtMs?: number }).retryAtMs
        const untilMs =
          retryAtMs !== undefined && retryAtMs > o.now()
            ? Math.min(retryAtMs, o.now() + MAX_BACKOFF_MS)
            : o.now() + Math.min(MAX_BACKOFF_MS, 5_000 * 2 ** (attempts - 1))
        idpBackoff = { untilMs, attempts }
        o.metrics.refreshes.inc({ result: 'transient_error' })
        o.log.warn(
          { sid: id.slice(0, 8), attempts, retryAt: new Date(untilMs).toISOString(), err: coded },
          'session refresh failed; keeping the current claims',
        )
        return current
      }
    })
  }

  return {
    peek(cookieValue) {
      if (cookieValue === undefined) return NONE
      const rec = o.manager.peek(cookieValue)
      return rec === undefined || isDue(rec, o.now()) ? undefined : { kind: 'session', session: rec }
    },
    async load(cookieValue): Promise<LoadResult> {
      let rec: SessionRecord | undefined
      try {
        rec = await o.manager.load(cookieValue)
      } catch (err) {
        o.metrics.storeErrors.inc({ op: 'load' })
        throw err
      }
      if (rec === undefined || cookieValue === undefined) return { kind: 'none' }
      const now = o.now()
      if (!isDue(rec, now)) return { kind: 'session', session: rec }
      // While the IdP is backing off, sessions that can still be refreshed keep their claims.
      if (rec.refreshToken !== undefined && idpBackoff.untilMs > now) return { kind: 'session', session: rec }
      let r: SessionRecord | 'ended' | undefined
      try {
        r = await refresh(cookieValue, rec.id)
      } catch (err) {
        if (isGatehouseError(err) && err.code === 'SESSION_LOCK_TIMEOUT') return { kind: 'session', session: rec }
        throw err
      }
      if (r === 'ended') return { kind: 'ended' }
      if (r === undefined) return { kind: 'none' }
      return { kind: 'session', session: r }
    },
    async create(signedIn: SignedIn) {
      try {
        return await o.manager.create(signedIn)
      } catch (err) {
        o.metrics.storeErrors.inc({ op: 'create' })
        throw err
      }
    },
    async revoke(session) {
      await o.manager.revoke(session.id, session)
    },
    revokeWhere: (filter, opts) => o.manager.revokeWhere(filter, opts),
    exists: (id) => o.manager.exists(id),
    claimOnce: (key, ttlMs) => o.manager.claimOnce(key, ttlMs),
    isReady: o.isStoreReady,
  }
}
