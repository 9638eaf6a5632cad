/**
 * The embedded store: one process, bounded. Entries expire by TTL (checked on
 * read, with an injected clock) and the oldest are evicted past `maxEntries`.
 * No timers per entry, so a session costs its bytes plus a Map slot.
 */
import { randomBytes } from 'node:crypto'
import type { KeyValueStore, Lock } from './store.js'

interface Entry {
  value: Uint8Array | Set<string>
  expiresAtMs: number
}

export interface MemoryStoreOptions {
  readonly now?: () => number
  readonly maxEntries?: number
}

export function createMemoryStore(opts: MemoryStoreOptions = {}): KeyValueStore {
  const now = opts.now ?? Date.now
  const maxEntries = opts.maxEntries ?? 200_000
  const map = new Map<string, Entry>()

  function live(key: string): Entry | undefined {
    const e = map.get(key)
    if (e === undefined) return undefined
    if (e.expiresAtMs <= now()) {
      map.delete(key)
      return undefined
    }
    return e
  }

  function put(key: string, entry: Entry): void {
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
      return e === undefined || e.value instanceof Set ? undefined : e.value
    },
    async set(key, value, ttlMs) {
      put(key, { value, expiresAtMs: now() + ttlMs })
    },
    async delete(...keys) {
      for (const k of keys) map.delete(k)
    },
    async exists(key) {
      return live(key) !== undefined
    },
    async addToSet(key, member, ttlMs) {
      const e = live(key)
      const set = e !== undefined && e.value instanceof Set ? e.value : new Set<string>()
      set.add(member)
      put(key, { value: set, expiresAtMs: Math.max(e?.expiresAtMs ?? 0, now() + ttlMs) })
    },
    async removeFromSet(key, member) {
      const e = live(key)
      if (e !== undefined && e.value instanceof Set) {
        e.value.delete(member)
        if (e.value.size === 0) map.delete(key)
      }
    },
    async members(key) {
      const e = live(key)
      return e !== undefined && e.value instanceof Set ? [...e.value] : []
    },
    async *scan(prefix) {
      for (const k of [...map.keys()]) if (k.startsWith(prefix) && live(k) !== undefined) yield k
    },
    async tryLock(key, ttlMs) {
      if (live(key) !== undefined) return undefined
      const token = randomBytes(8)
      put(key, { value: token, expiresAtMs: now() + ttlMs })
      const lock: Lock = {
        async release() {
          const e = map.get(key)
          if (e !== undefined && e.value === token) map.delete(key)
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
