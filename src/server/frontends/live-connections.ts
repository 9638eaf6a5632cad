/**
 * Open connections that outlive the request that authorised them (WebSocket
 * tunnels, streaming responses) follow their session: when it ends they are
 * closed. A session ends by sign-out, an IdP-started logout, `sessions
 * revoke`, a refresh the IdP refuses, or its absolute expiry; the session
 * manager tells this process at once when it ended here, and through the
 * store (Redis pub/sub) when it ended on another replica. After the store's
 * link was down (news may be lost) every held session is checked again.
 *
 * A connection may also carry its own deadline (`expiresAtMs`: the session's
 * end, or a bearer token's `exp`) and a periodic re-check (refresh the session
 * and ask the policy again), so a user removed from a group, or deactivated,
 * is cut off without a new request.
 */
import type { Logger } from 'pino'
import type { SessionsEnded } from '../../session/index.js'

export interface LiveConnection {
  /** The session it belongs to (undefined for a bearer token). */
  readonly sessionId: string | undefined
  /** Close it, saying why (a WebSocket sends close code 1008 with this reason, or 1001 when gatehouse shuts down). */
  close(reason: string, shuttingDown?: boolean): void
}

/** The outcome of a periodic re-check: keep (check again at `nextAtMs`) or close. */
export type Recheck = { readonly keep: true; readonly nextAtMs: number } | { readonly keep: false; readonly reason: string }

export interface LiveOptions {
  /** Close at this time whatever happens (the session's absolute end, a token's expiry). */
  readonly expiresAtMs?: number
  /** The reason given when `expiresAtMs` comes (default: "the session or token expired"). */
  readonly expiryReason?: string
  /** First re-check time, and the re-check itself. */
  readonly recheckAtMs?: number
  readonly recheck?: () => Promise<Recheck>
}

export interface LiveConnections {
  /** Track a connection until the returned function is called (when it closes). */
  add(conn: LiveConnection, opts?: LiveOptions): () => void
  readonly size: number
}

export interface LiveConnectionsDeps {
  /** Sessions ended, here or elsewhere. */
  readonly onEnded: (listener: (event: SessionsEnded) => void) => () => void
  readonly sessionExists: (id: string) => Promise<boolean>
  readonly now: () => number
  readonly log: Logger
  readonly onClosed?: (reason: 'session_ended' | 'expired' | 'recheck') => void
}

/** How long, and how many, ended session ids are remembered (see `add`). */
const RECENT_ENDED_MS = 5 * 60_000
const MAX_RECENT_ENDED = 10_000

/** setTimeout's ceiling (about 24.8 days); a longer wait is taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1
export const SESSION_ENDED_REASON = 'the session ended'

interface Entry {
  readonly conn: LiveConnection
  readonly opts: LiveOptions
  timer: NodeJS.Timeout | undefined
  closed: boolean
}

export function createLiveConnections(deps: LiveConnectionsDeps): LiveConnections & { stop(): void; closeAll(reason: string): void } {
  const bySession = new Map<string, Set<Entry>>()
  const all = new Set<Entry>()
  // Sessions that ended lately, here or elsewhere (oldest first): a connection listed just after its
  // session's news went by (a response that started while the sign-out was being answered) is closed
  // at once, without asking the store.
  const recentlyEnded = new Map<string, number>()

  function noteEnded(ids: readonly string[]): void {
    const now = deps.now()
    for (const id of ids) {
      recentlyEnded.delete(id)
      recentlyEnded.set(id, now)
    }
    for (const [id, at] of recentlyEnded) {
      if (recentlyEnded.size <= MAX_RECENT_ENDED && now - at < RECENT_ENDED_MS) break
      recentlyEnded.delete(id)
    }
  }

  function endedLately(id: string): boolean {
    const at = recentlyEnded.get(id)
    return at !== undefined && deps.now() - at < RECENT_ENDED_MS
  }

  function close(e: Entry, reason: string, why: 'session_ended' | 'expired' | 'recheck'): void {
    if (e.closed) return
    release(e)
    deps.onClosed?.(why)
    try {
      e.conn.close(reason)
    } catch (err) {
      deps.log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'closing a connection failed')
    }
  }

  function release(e: Entry): void {
    if (e.closed) return
    e.closed = true
    if (e.timer !== undefined) clearTimeout(e.timer)
    all.delete(e)
    const id = e.conn.sessionId
    if (id === undefined) return
    const set = bySession.get(id)
    set?.delete(e)
    if (set?.size === 0) bySession.delete(id)
  }

  function schedule(e: Entry, recheckAtMs: number | undefined): void {
    if (e.closed) return
    const deadline = e.opts.expiresAtMs
    const at = Math.min(deadline ?? Infinity, recheckAtMs ?? Infinity)
    if (at === Infinity) return
    const wait = Math.max(0, at - deps.now())
    e.timer = setTimeout(() => void fire(e, at, recheckAtMs), Math.min(wait, MAX_TIMER_MS))
    e.timer.unref()
  }

  async function fire(e: Entry, at: number, recheckAtMs: number | undefined): Promise<void> {
    e.timer = undefined
    if (e.closed) return
    if (deps.now() < at) return schedule(e, recheckAtMs) // a wait longer than one timer
    if (e.opts.expiresAtMs !== undefined && deps.now() >= e.opts.expiresAtMs) return close(e, e.opts.expiryReason ?? 'the session or token expired', 'expired')
    if (e.opts.recheck === undefined) return
    let r: Recheck
    try {
      r = await e.opts.recheck()
    } catch (err) {
      // The store or the IdP did not answer: keep the connection, try again shortly.
      deps.log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'could not re-check an open connection; keeping it')
      r = { keep: true, nextAtMs: deps.now() + 30_000 }
    }
    if (r.keep) schedule(e, r.nextAtMs)
    else close(e, r.reason, 'recheck')
  }

  function closeSessions(ids: readonly string[]): void {
    for (const id of ids) {
      const set = bySession.get(id)
      if (set === undefined) continue
      for (const e of [...set]) close(e, SESSION_ENDED_REASON, 'session_ended')
    }
  }

  async function recheckAll(): Promise<void> {
    for (const id of [...bySession.keys()]) {
      try {
        if (!(await deps.sessionExists(id))) closeSessions([id])
      } catch {
        return // the store is still unreachable; the next resync tries again
      }
    }
  }

  const stopListening = deps.onEnded((event) => {
    if (event.kind === 'ended') {
      noteEnded(event.ids)
      closeSessions(event.ids)
    } else void recheckAll()
  })

  return {
    add(conn, opts = {}) {
      const e: Entry = { conn, opts, timer: undefined, closed: false }
      all.add(e)
      if (conn.sessionId !== undefined) {
        let set = bySession.get(conn.sessionId)
        if (set === undefined) bySession.set(conn.sessionId, (set = new Set()))
        set.add(e)
      }
      schedule(e, opts.recheckAtMs)
      if (conn.sessionId !== undefined && endedLately(conn.sessionId)) queueMicrotask(() => close(e, SESSION_ENDED_REASON, 'session_ended'))
      return () => release(e)
    },
    get size() {
      return all.size
    },
    stop() {
      stopListening()
      for (const e of [...all]) release(e)
    },
    /** At shutdown: every connection gets a proper close (1001) instead of a dropped socket. */
    closeAll(reason) {
      for (const e of [...all]) {
        release(e)
        try {
          e.conn.close(reason, true)
        } catch {
          // already gone
        }
      }
    },
  }
}
