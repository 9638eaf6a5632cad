/**
 * The session manager: tickets, encrypted records, the user index, the
 * refresh lock. Written once over any KeyValueStore.
 *
 * Store layout (under the backend's prefix):
 *   s:<id>      the sealed record (tokens included, encrypted)
 *   m:<id>      plaintext summary for operators (id, sub, email, times; never tokens)
 *   u:<email>   set of the user's session ids
 *   l:<id>      the refresh lock
 */
import { setTimeout as delay } from 'node:timers/promises'
import type { KeyValueStore } from './store.js'
import { SessionError } from './errors.js'
import { decodeTicket, deriveKey, encodeTicket, newTicket, type Ticket } from './ticket.js'
import { openRecord, recordKey, sealRecord, type NewSession, type SessionRecord } from './record.js'

export interface SessionSummary {
  readonly id: string
  readonly sub: string
  readonly email: string | undefined
  readonly createdAtMs: number
  readonly expiresAtMs: number
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
   * Keep the operator index (per-session summaries and user → sessions sets)
   * that `list` and `revokeUser` read. The `sessions` command can reach only a
   * shared store, so the memory store runs without it and a session costs one
   * entry. Default true.
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
  revoke(id: string): Promise<void>
  revokeUser(email: string): Promise<number>
  revokeAll(): Promise<number>
  list(filter?: { user?: string }): Promise<SessionSummary[]>
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
  const cookieById = new Map<string, string>()
  const inflight = new Map<string, Promise<unknown>>()

  const userKey = (email: string): string => 'u:' + email.toLowerCase()

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
    cookieById.set(record.id, cookieValue)
  }

  function peek(cookieValue: string): SessionRecord | undefined {
    if (cacheTtlMs <= 0) return undefined
    const hit = cache.get(cookieValue)
    if (hit === undefined) return undefined
    const t = now()
    return t - hit.atMs < cacheTtlMs && hit.record.expiresAtMs > t ? hit.record : undefined
  }

  function forget(id: string): void {
    const c = cookieById.get(id)
    if (c !== undefined) cache.delete(c)
    cookieById.delete(id)
  }

  async function write(ticket: Ticket, record: SessionRecord): Promise<void> {
    const remaining = record.expiresAtMs - now()
    if (remaining <= 0) return
    await store.set('s:' + record.id, sealRecord(record, recordKey(ticket.secret, cookieSecret, record.id)), remaining)
    if (!indexed) return
    const summary: SessionSummary = { id: record.id, sub: record.sub, email: record.email, createdAtMs: record.createdAtMs, expiresAtMs: record.expiresAtMs }
    await store.set('m:' + record.id, Buffer.from(JSON.stringify(summary)), remaining)
    if (record.email !== undefined) await store.addToSet(userKey(record.email), record.id, remaining)
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

  async function revoke(id: string): Promise<void> {
    forget(id)
    if (!indexed) return store.delete('s:' + id)
    const summary = await readSummary(id)
    await store.delete('s:' + id, 'm:' + id)
    if (summary?.email !== undefined) await store.removeFromSet(userKey(summary.email), id)
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

    async revokeUser(email) {
      const ids = await store.members(userKey(email))
      for (const id of ids) await revoke(id)
      await store.delete(userKey(email))
      return ids.length
    },

    async revokeAll() {
      let n = 0
      for await (const key of store.scan(indexed ? 'm:' : 's:')) {
        await revoke(key.slice(2))
        n++
      }
      return n
    },

    async list(filter) {
      const ids: string[] = []
      if (filter?.user !== undefined) ids.push(...(await store.members(userKey(filter.user))))
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
