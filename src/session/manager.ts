/**
 * The session manager: tickets, encrypted records, the indexes, the refresh
 * lock, and the news that a session ended. Written once over any KeyValueStore.
 *
 * Store layout (under the backend's prefix):
 *   s:<id>      the sealed record (tokens included, encrypted)
 *   r:<id>      the refresh token sealed for revocation at the IdP (see record.ts)
 *   m:<id>      plaintext summary for operators (id, sub, email, sid, times; never tokens)
 *   u:/b:/x:    sets of session ids by email, IdP subject, IdP session (session-index.ts)
 *   l:<id>      the refresh lock
 *   j:<key>     a one-time claim (a logout token's jti)
 */
import { setTimeout as delay } from 'node:timers/promises'
import type { KeyValueStore } from './store.js'
import { SessionError } from './errors.js'
import { decodeTicket, deriveKey, encodeTicket, newTicket, type Ticket } from './ticket.js'
import { openNote, openRecord, recordKey, revocationKey, sealNote, sealRecord, type NewSession, type SessionRecord } from './record.js'
import { createEndedNews, type SessionsEnded } from './ended-news.js'
import { fileSession, filterKey, unfileSession, type IndexedAs, type SessionFilter } from './session-index.js'

export type { SessionFilter } from './session-index.js'
export type { SessionsEnded } from './ended-news.js'

export interface SessionSummary {
  readonly id: string
  readonly sub: string
  readonly email: string | undefined
  /** The IdP's session id, when the ID token had one. */
  readonly idpSid?: string | undefined
  readonly createdAtMs: number
  readonly expiresAtMs: number
}

export interface Revoked {
  readonly ids: readonly string[]
  /** The refresh tokens those sessions held (only when asked for). */
  readonly refreshTokens: readonly string[]
}

export interface SessionManagerOptions {
  readonly store: KeyValueStore
  readonly cookieSecret: Uint8Array
  readonly now: () => number
  /** Absolute session lifetime (`cookie_expire`). */
  readonly ttlMs: number
  /**
   * How long a decoded record may be reused in this process without reading
   * the store. Only safe when every revocation goes through this process (the
   * memory store); with Redis it is 0 so that a sign-out on another replica
   * takes effect at once.
   */
  readonly cacheTtlMs?: number
  readonly lockTtlMs?: number
  /** How long a request waits for another replica's refresh before giving up. */
  readonly lockWaitMs?: number
  /**
   * Keep the per-session plaintext summaries that `list` reads. The `sessions`
   * command can reach only a shared store, so the memory store runs without
   * them. The email/subject/IdP-session indexes are kept either way: an
   * IdP-started logout needs them in every store. Default true.
   */
  readonly operatorIndex?: boolean
}

export interface SessionManager {
  create(data: NewSession): Promise<{ cookieValue: string; session: SessionRecord }>
  /** undefined for a missing, tampered, expired or unknown cookie. Rejects with SESSION_STORE_UNAVAILABLE when the store is down. */
  load(cookieValue: string | undefined): Promise<SessionRecord | undefined>
  /** The record from this process's cache when `cacheTtlMs` allows it, without reading the store; otherwise undefined. */
  peek(cookieValue: string): SessionRecord | undefined
  /** Replace the record (after a refresh); the absolute expiry never moves. */
  save(cookieValue: string, changes: Partial<Omit<SessionRecord, 'id' | 'createdAtMs' | 'expiresAtMs' | 'version'>>): Promise<SessionRecord | undefined>
  /** End one session. `known`: what it is filed under, when the caller has the record (saves a read). */
  revoke(id: string, known?: IndexedAs): Promise<void>
  /** End every session of an email, an IdP subject or an IdP session; with `refreshTokens`, return the refresh tokens they held. */
  revokeWhere(filter: SessionFilter, opts?: { refreshTokens?: boolean }): Promise<Revoked>
  revokeUser(email: string): Promise<number>
  revokeAll(): Promise<number>
  list(filter?: SessionFilter): Promise<SessionSummary[]>
  /** Whether the session is still in the store. */
  exists(id: string): Promise<boolean>
  /** true the first time `key` is claimed (across every process sharing the store) within `ttlMs`. */
  claimOnce(key: string, ttlMs: number): Promise<boolean>
  /** Hear about sessions that ended, here and in every process sharing the store. Returns the function that stops listening. */
  onEnded(listener: (event: SessionsEnded) => void): () => void
  /**
   * Run `fn` holding the session's refresh lock: single-flight in this process
   * (concurrent callers share one run) and across processes (a store lock).
   * `fn` must re-load the record: it may have changed while waiting.
   */
  withRefreshLock<T>(id: string, fn: () => Promise<T>): Promise<T>
}

interface Cached {
  readonly record: SessionRecord
  readonly atMs: number
}

const MAX_CACHE = 10_000

export function createSessionManager(opts: SessionManagerOptions): SessionManager {
  const { store, cookieSecret, now, ttlMs } = opts
  const cookieKey = deriveKey(cookieSecret, 'gatehouse cookie v1')
  const cacheTtlMs = opts.cacheTtlMs ?? 0
  const indexed = opts.operatorIndex ?? true
  const lockTtlMs = opts.lockTtlMs ?? 15_000
  const lockWaitMs = opts.lockWaitMs ?? 10_000
  const cache = new Map<string, Cached>()
  /** A session may have several cookie values (one per route host with a sign-in host): forgetting it forgets them all. */
  const cookieById = new Map<string, Set<string>>()
  const inflight = new Map<string, Promise<unknown>>()

  const noteKey = revocationKey(cookieSecret)
  const news = createEndedNews(store, (ids) => {
    for (const id of ids) forget(id)
  })
  const announce = (ids: readonly string[]): Promise<void> => news.announce(ids)

  // Opening a ticket (AES-GCM) and deriving its record key (HKDF) depend only
  // on the cookie: done once per cookie, not once per request. Bounded.
  interface OpenedTicket {
    readonly ticket: Ticket
    readonly key: Buffer
    bytes: Buffer | undefined
    /** The object the store returned last time (a caching store returns the same one until the value changes). */
    source: Uint8Array | undefined
    record: SessionRecord | undefined
  }
  const opened = new Map<string, OpenedTicket>()
  function openTicket(cookieValue: string): OpenedTicket | undefined {
    const hit = opened.get(cookieValue)
    if (hit !== undefined) return hit
    const ticket = decodeTicket(cookieValue, cookieKey)
    if (ticket === undefined) return undefined
    if (opened.size >= MAX_CACHE) {
      const oldest = opened.keys().next()
      if (oldest.done !== true) opened.delete(oldest.value)
    }
    const o: OpenedTicket = { ticket, key: recordKey(ticket.secret, cookieSecret, ticket.id), bytes: undefined, source: undefined, record: undefined }
    opened.set(cookieValue, o)
    return o
  }

  function remember(cookieValue: string, record: SessionRecord): void {
    if (cacheTtlMs <= 0) return
    if (cache.size >= MAX_CACHE) {
      const oldest = cache.keys().next()
      if (oldest.done !== true) cache.delete(oldest.value)
    }
    cache.set(cookieValue, { record, atMs: now() })
    const cookies = cookieById.get(record.id)
    if (cookies === undefined) cookieById.set(record.id, new Set([cookieValue]))
    else if (cookies.size < 64) cookies.add(cookieValue)
  }

  function peek(cookieValue: string): SessionRecord | undefined {
    if (cacheTtlMs <= 0) return undefined
    const hit = cache.get(cookieValue)
    if (hit === undefined) return undefined
    const t = now()
    return t - hit.atMs < cacheTtlMs && hit.record.expiresAtMs > t ? hit.record : undefined
  }

  function forget(id: string): void {
    for (const c of cookieById.get(id) ?? []) cache.delete(c)
    cookieById.delete(id)
  }

  async function write(ticket: Ticket, record: SessionRecord): Promise<void> {
    const remaining = record.expiresAtMs - now()
    if (remaining <= 0) return
    const writes = [
      store.set('s:' + record.id, sealRecord(record, recordKey(ticket.secret, cookieSecret, record.id)), remaining),
      fileSession(store, record.id, record, remaining),
    ]
    if (record.refreshToken !== undefined) writes.push(store.set('r:' + record.id, sealNote(record.refreshToken, noteKey, record.id), remaining))
    if (indexed) {
      const summary: SessionSummary = {
        id: record.id,
        sub: record.sub,
        email: record.email,
        ...(record.idpSid === undefined ? {} : { idpSid: record.idpSid }),
        createdAtMs: record.createdAtMs,
        expiresAtMs: record.expiresAtMs,
      }
      writes.push(store.set('m:' + record.id, Buffer.from(JSON.stringify(summary)), remaining))
    }
    await Promise.all(writes)
  }

  async function readSummary(id: string): Promise<SessionSummary | undefined> {
    const bytes = await store.get('m:' + id)
    if (bytes === undefined) return undefined
    try {
      return JSON.parse(Buffer.from(bytes).toString('utf8')) as SessionSummary
    } catch {
      return undefined
    }
  }

  /** Delete one session's keys and take it out of the indexes; no announcement. */
  async function remove(id: string, known: IndexedAs | undefined): Promise<void> {
    forget(id)
    const filed = known ?? (indexed ? await readSummary(id) : undefined)
    await store.delete('s:' + id, 'r:' + id, ...(indexed ? ['m:' + id] : []))
    // Without a summary (the memory store) the index sets keep a dead member until they expire: harmless.
    if (filed !== undefined) await unfileSession(store, id, filed)
  }

  async function revoke(id: string, known?: IndexedAs): Promise<void> {
    await remove(id, known)
    await announce([id])
  }

  async function refreshTokenOf(id: string): Promise<string | undefined> {
    const bytes = await store.get('r:' + id)
    return bytes === undefined ? undefined : openNote(bytes, noteKey, id)
  }

  async function revokeWhere(filter: SessionFilter, opts?: { refreshTokens?: boolean }): Promise<Revoked> {
    const key = filterKey(filter)
    const members = await store.members(key)
    const ids: string[] = []
    const refreshTokens: string[] = []
    for (const id of members) {
      if (!(await store.exists('s:' + id))) continue
      if (opts?.refreshTokens === true) {
        const rt = await refreshTokenOf(id)
        if (rt !== undefined) refreshTokens.push(rt)
      }
      await remove(id, undefined)
      ids.push(id)
    }
    await store.delete(key)
    await announce(ids)
    return { ids, refreshTokens }
  }

  return {
    async create(data) {
      const ticket = newTicket()
      const t = now()
      const record: SessionRecord = { ...data, id: ticket.id, createdAtMs: t, refreshedAtMs: t, expiresAtMs: t + ttlMs, version: 1 }
      await write(ticket, record)
      const cookieValue = encodeTicket(ticket, cookieKey)
      remember(cookieValue, record)
      return { cookieValue, session: record }
    },

    peek,

    async load(cookieValue) {
      if (cookieValue === undefined) return undefined
      const fresh = peek(cookieValue)
      if (fresh !== undefined) return fresh
      const t = now()
      const opened = openTicket(cookieValue)
      if (opened === undefined) return undefined
      // Always read the store (a revocation on another replica must count at once),
      // but decrypt only when the stored bytes changed since the last read.
      const bytes = await store.get('s:' + opened.ticket.id)
      if (bytes === undefined) return undefined
      let record = opened.record
      // Stores that cache hand back the very same bytes object while nothing changed: no comparison needed.
      const same = bytes === opened.source || (opened.bytes !== undefined && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(opened.bytes))
      if (record === undefined || !same) {
        record = openRecord(bytes, opened.key, opened.ticket.id)
        opened.bytes = Buffer.from(bytes)
        opened.record = record
      }
      opened.source = bytes
      if (record === undefined || record.expiresAtMs <= t) return undefined
      remember(cookieValue, record)
      return record
    },

    async save(cookieValue, changes) {
      const ticket = decodeTicket(cookieValue, cookieKey)
      if (ticket === undefined) return undefined
      const bytes = await store.get('s:' + ticket.id)
      if (bytes === undefined) return undefined
      const current = openRecord(bytes, recordKey(ticket.secret, cookieSecret, ticket.id), ticket.id)
      if (current === undefined) return undefined
      const next: SessionRecord = {
        ...current,
        ...changes,
        id: current.id,
        createdAtMs: current.createdAtMs,
        expiresAtMs: current.expiresAtMs,
        version: current.version + 1,
      }
      forget(current.id)
      await write(ticket, next)
      remember(cookieValue, next)
      return next
    },

    revoke,
    revokeWhere,

    async revokeUser(email) {
      return (await revokeWhere({ user: email })).ids.length
    },

    async revokeAll() {
      const ids: string[] = []
      for await (const key of store.scan('s:')) {
        await remove(key.slice(2), undefined)
        ids.push(key.slice(2))
      }
      for (const prefix of ['u:', 'b:', 'x:', 'r:']) for await (const key of store.scan(prefix)) await store.delete(key)
      await announce(ids)
      return ids.length
    },

    exists: (id) => store.exists('s:' + id),

    async claimOnce(key, ttlMs) {
      // A lock that is never released: set-if-absent with a lifetime, on every backend.
      return (await store.tryLock('j:' + key, ttlMs)) !== undefined
    },

    onEnded: (listener) => news.listen(listener),

    async list(filter) {
      const ids: string[] = []
      if (filter !== undefined) ids.push(...(await store.members(filterKey(filter))))
      else for await (const key of store.scan('m:')) ids.push(key.slice(2))
      const out: SessionSummary[] = []
      for (const id of ids) {
        const s = await readSummary(id)
        if (s !== undefined && s.expiresAtMs > now()) out.push(s)
      }
      return out.sort((a, b) => a.createdAtMs - b.createdAtMs)
    },

    withRefreshLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
      const pending = inflight.get(id)
      if (pending !== undefined) return pending as Promise<T>
      const run = (async () => {
        const deadline = Date.now() + lockWaitMs
        for (;;) {
          const lock = await store.tryLock('l:' + id, lockTtlMs)
          if (lock !== undefined) {
            try {
              forget(id)
              return await fn()
            } finally {
              await lock.release().catch(() => undefined)
            }
          }
          if (Date.now() >= deadline) throw new SessionError('SESSION_LOCK_TIMEOUT', 'another gatehouse replica has been refreshing this session for too long')
          await delay(25)
        }
      })().finally(() => inflight.delete(id))
      inflight.set(id, run)
      return run
    },
  }
}
