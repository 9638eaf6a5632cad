/**
 * A per-process cache of store reads that is only as good as the
 * invalidations feeding it: the owner says when invalidations are flowing
 * (`setActive`), drops keys it is told about, and nothing is served or filled
 * while they are not. A read that raced with an invalidation is not cached.
 * The Redis store feeds it from CLIENT TRACKING, the Postgres store from
 * LISTEN/NOTIFY; both read through it with `readThrough`.
 */

export interface ReadCache {
  /** The cached value when invalidations are live and nothing dropped it. */
  get(fullKey: string): Buffer | undefined
  /** Call before reading `fullKey` from the store; call the returned function with what came back (undefined: nothing, or an error). */
  beginFill(fullKey: string): (value: Buffer | undefined) => void
  drop(fullKey: string): void
  dropAll(): void
  /** Invalidations flowing (true) or not (false: the cache empties and stays off). */
  setActive(on: boolean): void
  active(): boolean
}

export interface ReadCacheOptions {
  /** How long a value may be used without any word from the store: a bound for failures nobody noticed. */
  readonly maxAgeMs?: number
  readonly maxEntries?: number
}

export function createReadCache(opts: ReadCacheOptions = {}): ReadCache {
  const maxAgeMs = opts.maxAgeMs ?? 60_000
  const maxEntries = opts.maxEntries ?? 10_000
  const entries = new Map<string, { value: Buffer; atMs: number }>()
  const filling = new Map<string, { invalidated: boolean }>()
  let on = false

  function dropAll(): void {
    entries.clear()
    for (const f of filling.values()) f.invalidated = true
  }

  return {
    active: () => on,
    setActive(next) {
      // Both ways the slate is wiped: going off, nothing may be trusted; coming
      // back, whatever changed while deaf was never heard of.
      dropAll()
      on = next
    },
    drop(fullKey) {
      entries.delete(fullKey)
      const f = filling.get(fullKey)
      if (f !== undefined) f.invalidated = true
    },
    dropAll,
    get(fullKey) {
      if (!on) return undefined
      const e = entries.get(fullKey)
      if (e === undefined) return undefined
      if (Date.now() - e.atMs > maxAgeMs) {
        entries.delete(fullKey)
        return undefined
      }
      return e.value
    },
    beginFill(fullKey) {
      if (!on) return () => undefined
      const state = { invalidated: false }
      filling.set(fullKey, state)
      return (value) => {
        if (filling.get(fullKey) === state) filling.delete(fullKey)
        if (value === undefined || state.invalidated || !on) return
        if (entries.size >= maxEntries) {
          const oldest = entries.keys().next()
          if (oldest.done !== true) entries.delete(oldest.value)
        }
        entries.set(fullKey, { value, atMs: Date.now() })
      }
    },
  }
}

/**
 * A read of `fullKey` through the cache. A hit is answered after the I/O
 * already waiting has been handled, so an invalidation that reached this
 * process together with (or before) the request that reads the key is applied
 * first. A miss reads the store and fills the cache with the answer, unless an
 * invalidation for the key arrived while the read was under way.
 */
export function readThrough(cache: ReadCache, fullKey: string, read: () => Promise<Buffer | undefined>): Promise<Buffer | undefined> {
  const fromStore = async (): Promise<Buffer | undefined> => {
    const fill = cache.beginFill(fullKey)
    let value: Buffer | undefined
    try {
      value = await read()
    } finally {
      fill(value)
    }
    return value
  }
  if (cache.get(fullKey) === undefined) return fromStore()
  return new Promise((resolve, reject) =>
    setImmediate(() => {
      const hit = cache.get(fullKey)
      if (hit !== undefined) resolve(hit)
      else fromStore().then(resolve, reject)
    }),
  )
}
