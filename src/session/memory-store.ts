/**
 * The embedded store: one process, bounded. Entries expire by TTL (checked on
 * read, with an injected clock) and the oldest are evicted past `maxEntries`.
 * No timers per entry. A byte value is one Buffer of its own outside the
 * JavaScript heap, its expiry in its first 8 bytes (no entry object, no boxed
 * number): measured at 100 000 sessions, this kept less resident than one-byte
 * strings (which the heap's growth slack roughly doubles) and far less than
 * slices of Buffer's shared pool (one live value keeps its whole 8 KiB slab).
 */
import { randomBytes } from 'node:crypto'
import type { KeyValueStore, Lock } from './store.js'

/** A lock token or the members of a small set (byte values are stored as a bare Buffer). */
interface Entry {
  value: string | string[]
  expiresAtMs: number
}

/** Expiry (float64, little-endian) then the value's bytes. */
type Stored = Buffer | Entry

const EXPIRY_BYTES = 8
const expiryOf = (v: Stored): number => (Buffer.isBuffer(v) ? v.readDoubleLE(0) : v.expiresAtMs)

export interface MemoryStoreOptions {
  readonly now?: () => number
  readonly maxEntries?: number
}

/** Memory of its own (not a slice of Buffer's shared 8 KiB pool, which one long-lived value would keep whole): expiry, then a copy of the bytes. */
function stored(bytes: Uint8Array, expiresAtMs: number): Buffer {
  const b = Buffer.allocUnsafeSlow(EXPIRY_BYTES + bytes.byteLength)
  b.writeDoubleLE(expiresAtMs, 0)
  b.set(bytes, EXPIRY_BYTES)
  return b
}

export function createMemoryStore(opts: MemoryStoreOptions = {}): KeyValueStore {
  const now = opts.now ?? Date.now
  const maxEntries = opts.maxEntries ?? 300_000
  const map = new Map<string, Stored>()

  function live(key: string): Stored | undefined {
    const e = map.get(key)
    if (e === undefined) return undefined
    if (expiryOf(e) <= now()) {
      map.delete(key)
      return undefined
    }
    return e
  }

  /** A live lock or set entry (not bytes). */
  function liveEntry(key: string): Entry | undefined {
    const e = live(key)
    return e === undefined || Buffer.isBuffer(e) ? undefined : e
  }

  function put(key: string, entry: Stored): void {
    map.delete(key) // re-insert: Map order is insertion order, the oldest first
    map.set(key, entry)
    while (map.size > maxEntries) {
      const oldest = map.keys().next()
      if (oldest.done === true) break
      map.delete(oldest.value)
    }
  }

  return {
    kind: 'memory',
    async get(key) {
      const e = live(key)
      // A view of the stored bytes: callers read them and never write to them.
      return e === undefined || !Buffer.isBuffer(e) ? undefined : e.subarray(EXPIRY_BYTES)
    },
    async set(key, value, ttlMs) {
      put(key, stored(value, now() + ttlMs))
    },
    async delete(...keys) {
      for (const k of keys) map.delete(k)
    },
    async exists(key) {
      return live(key) !== undefined
    },
    async addToSet(key, member, ttlMs) {
      const e = liveEntry(key)
      const members = e !== undefined && Array.isArray(e.value) ? e.value : []
      if (!members.includes(member)) members.push(member)
      put(key, { value: members, expiresAtMs: Math.max(e?.expiresAtMs ?? 0, now() + ttlMs) })
    },
    async removeFromSet(key, member) {
      const e = liveEntry(key)
      if (e !== undefined && Array.isArray(e.value)) {
        const i = e.value.indexOf(member)
        if (i !== -1) e.value.splice(i, 1)
        if (e.value.length === 0) map.delete(key)
      }
    },
    async members(key) {
      const e = liveEntry(key)
      return e !== undefined && Array.isArray(e.value) ? [...e.value] : []
    },
    async *scan(prefix) {
      for (const k of [...map.keys()]) if (k.startsWith(prefix) && live(k) !== undefined) yield k
    },
    async tryLock(key, ttlMs) {
      if (live(key) !== undefined) return undefined
      const token = randomBytes(8).toString('hex')
      put(key, { value: token, expiresAtMs: now() + ttlMs })
      const lock: Lock = {
        async release() {
          const e = map.get(key)
          if (e !== undefined && !Buffer.isBuffer(e) && e.value === token) map.delete(key)
        },
      }
      return lock
    },
    async ping() {},
    isReady: () => true,
    async close() {
      map.clear()
    },
  }
}
