/**
 * What keeps an open connection (a WebSocket tunnel, a streamed response)
 * tied to the identity that opened it, for live-connections.ts: a cookie
 * session's connection is listed under the session id (so its end, here or on
 * another replica, closes it), closes at the session's absolute end, and is
 * re-checked periodically through the core (refresh when due, then the policy,
 * under the current config). A bearer token's connection has no session to
 * end: it closes when the token expires, and is re-checked the same way.
 */
import type http from 'node:http'
import { authorize } from '../../authorize/decide.js'
import { isBearerSession } from '../../authorize/bearer.js'
import type { ActiveSession } from '../../authorize/ports.js'
import type { Allow } from '../../authorize/verdict.js'
import type { Gatehouse } from '../context.js'
import type { LiveConnection, LiveOptions, Recheck } from './live-connections.js'
import { factsOf } from './proxy.js'

/** How often an open connection re-checks its session (refresh when due, then the policy) when nothing else tells it. */
const RECHECK_EVERY_MS = 5 * 60_000

export const SESSION_EXPIRED_REASON = 'the session expired'
export const TOKEN_EXPIRED_REASON = 'the access token expired'

/**
 * List an open connection that `first` allowed. `close` ends it, saying why.
 * Returns the function to call when the connection closes by itself.
 */
export function followSession(
  gh: Gatehouse,
  req: http.IncomingMessage,
  first: Allow & { readonly session: ActiveSession },
  isWebSocket: boolean,
  close: LiveConnection['close'],
): () => void {
  const session = first.session
  const isBearer = isBearerSession(session)
  const sessionId = isBearer ? undefined : session.id
  const untrack = gh.live.add({ sessionId, close }, optionsFor(gh, req, first, isWebSocket, isBearer))
  // A session that ended while the upgrade was under way: its news may have gone out before the tunnel
  // was listed (live-connections remembers recent news; the store is asked too, since a WebSocket may
  // live for days). A streamed response relies on the recent news alone: no store read per response.
  if (sessionId !== undefined && isWebSocket)
    gh.sessions.exists(sessionId).then(
      (alive) => (alive ? undefined : close('the session ended')),
      () => undefined,
    )
  return untrack
}

/**
 * The connection closes at the session's absolute end (or the token's
 * expiry), and is re-checked periodically: the same request goes through the
 * core again under the current config (the session loaded again, refreshed
 * when due, which ends it if the IdP refuses; the route's policy asked again).
 */
function optionsFor(
  gh: Gatehouse,
  req: http.IncomingMessage,
  first: Allow & { readonly session: ActiveSession },
  isWebSocket: boolean,
  isBearer: boolean,
): LiveOptions {
  const session = first.session
  const every = (): number => Math.max(30_000, Math.min(gh.current().config.sessionRefreshIntervalMs ?? RECHECK_EVERY_MS, RECHECK_EVERY_MS))
  return {
    expiresAtMs: session.expiresAtMs,
    expiryReason: isBearer ? TOKEN_EXPIRED_REASON : SESSION_EXPIRED_REASON,
    recheckAtMs: gh.now() + every(),
    async recheck(): Promise<Recheck> {
      const again = await authorize(gh, gh.current(), factsOf(gh, req, isWebSocket))
      if (again.kind === 'store-down') throw again.err
      if (again.kind === 'bearer-refused') return { keep: false, reason: `the access token is no longer accepted: ${again.description}` }
      if (again.kind === 'sign-in' || ((again.kind === 'allow' || again.kind === 'deny') && again.session?.id !== session.id)) {
        return { keep: false, reason: 'the session ended' }
      }
      if ((again.kind !== 'allow' && again.kind !== 'deny') || again.target.route.id !== first.target.route.id)
        return { keep: false, reason: 'the route changed' }
      if (again.kind === 'deny') return { keep: false, reason: `no longer allowed: ${again.reason}` }
      return { keep: true, nextAtMs: gh.now() + every() }
    },
  }
}
