/**
 * The byte-level store a backend implements (as oauth2-proxy's persistence
 * Store): keys, small sets for the user index, a lock with a timeout. The
 * session manager does everything else (tickets, encryption, records).
 * Every method rejects with SESSION_STORE_UNAVAILABLE when the backend is down.
 */
export interface Lock {
  /** Owner-checked: never releases a lock another holder took after ours expired. */
  release(): Promise<void>
}

export interface KeyValueStore {
  readonly kind: 'memory' | 'redis' | 'postgres'
  get(key: string): Promise<Uint8Array | undefined>
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>
  delete(...keys: string[]): Promise<void>
  exists(key: string): Promise<boolean>
  addToSet(key: string, member: string, ttlMs: number): Promise<void>
  removeFromSet(key: string, member: string): Promise<void>
  members(key: string): Promise<string[]>
  /** Keys under a prefix (SCAN on Redis); for operator commands, not the hot path. */
  scan(prefix: string): AsyncIterable<string>
  /** undefined when someone else holds it. */
  tryLock(key: string, ttlMs: number): Promise<Lock | undefined>
  ping(): Promise<void>
  isReady(): boolean
  /** Redis, Postgres: whether reads are being served from the invalidation-fed local cache right now. */
  cacheActive?(): boolean
  close(): Promise<void>
}
