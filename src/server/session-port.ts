/**
 * Sessions as the request path sees them: load, and refresh when due. A
 * refresh runs under the session's lock (one per session across replicas:
 * Okta rotates refresh tokens, and a second use of an old one would end the
 * session), re-reads the record once it holds the lock, and then:
 *   - success: new claims and groups replace the old ones;
 *   - invalid_grant: the grant is gone (user deactivated, token revoked), the session ends;
 *   - anything else (Okta unreachable): the old claims keep working until the
 *     session's hard expiry, and retries back off.
 */
import type { Logger } from 'pino'
import { isGatehouseError } from '../errors.js'
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
  readonly isStoreReady: () => Promise<boolean>
}

const NONE: LoadResult = Object.freeze({ kind: 'none' })
const MIN_REFRESH_MS = 30_000
const EXPIRY_MARGIN_MS = 60_000
const MAX_BACKOFF_MS = 5 * 60_000

export function createSessionPort(o: SessionPortOptions): SessionPort {
  const backoff = new Map<string, { untilMs: number; attempts: number }>()

  function isDue(rec: SessionRecord, now: number): boolean {
    if (rec.refreshToken === undefined) return false
    const configured = o.refreshIntervalMs()
    if (configured !== undefined) return now - rec.refreshedAtMs >= configured
    // Default: shortly before the ID token expires.
    return now >= Math.max(rec.refreshedAtMs + MIN_REFRESH_MS, rec.idTokenExpiresAtMs - EXPIRY_MARGIN_MS)
  }

  async function refresh(cookieValue: string, id: string): Promise<SessionRecord | 'ended' | undefined> {
    return o.manager.withRefreshLock(id, async () => {
      // Re-read under the lock: another request or replica may have refreshed already.
      const current = await o.manager.load(cookieValue)
      if (current === undefined) return undefined
      if (!isDue(current, o.now())) return current
      try {
        const fresh = await o.identity.refresh(current.refreshToken as string, current.sub)
        const saved = await o.manager.save(cookieValue, {
          email: fresh.email ?? current.email,
          name: fresh.name ?? current.name,
          groups: fresh.groups,
          // What is unknown now, not what was unknown at sign-in (absent clears it).
          unknown: fresh.unknown,
          claims: fresh.claims,
          idToken: fresh.idToken,
          accessToken: fresh.accessToken,
          refreshToken: fresh.refreshToken,
          idpSid: fresh.idpSid ?? current.idpSid,
          idTokenExpiresAtMs: fresh.idTokenExpiresAtMs,
          refreshedAtMs: o.now(),
        })
        backoff.delete(id)
        o.metrics.refreshes.inc({ result: 'ok' })
        o.log.info({ sid: id.slice(0, 8), user: current.email ?? current.sub, groups: fresh.groups }, 'session refreshed')
        return saved
      } catch (err) {
        if (isGatehouseError(err) && err.code === 'IDP_INVALID_GRANT') {
          o.metrics.refreshes.inc({ result: 'ended' })
          o.log.info({ sid: id.slice(0, 8), user: current.email ?? current.sub, err: { code: err.code, message: err.message } }, 'session ended by the IdP')
          await o.manager.revoke(id, current)
          return 'ended'
        }
        if (isGatehouseError(err) && err.code.startsWith('SESSION_')) throw err
        const prev = backoff.get(id)
        const attempts = (prev?.attempts ?? 0) + 1
        if (backoff.size > 10_000) backoff.clear()
        backoff.set(id, { untilMs: o.now() + Math.min(MAX_BACKOFF_MS, 5_000 * 2 ** (attempts - 1)), attempts })
        o.metrics.refreshes.inc({ result: 'transient_error' })
        o.log.warn(
          { sid: id.slice(0, 8), attempts, err: isGatehouseError(err) ? { code: err.code, message: err.message } : { message: String(err) } },
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
      const b = backoff.get(rec.id)
      if (b !== undefined && b.untilMs > now) return { kind: 'session', session: rec }
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
