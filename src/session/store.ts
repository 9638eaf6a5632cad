/**
 * The byte-level store a backend implements (as oauth2-proxy's persistence
 * Store): keys, small sets for the indexes, a lock with a timeout, and a
 * message channel between the processes that share the store. The session
 * manager does everything else (tickets, encryption, records, indexes).
 * Every method rejects with SESSION_STORE_UNAVAILABLE when the backend is down.
 */
export interface Lock {
  /** Owner-checked: never releases a lock another holder took after ours expired. */
  release(): Promise<void>
}

/**
 * What a shared store tells the processes that use it: a message another
 * process broadcast, or `resync` when the link that carries messages was down
 * and came back (messages may have been lost meanwhile: re-check what matters).
 */
export type StoreEvent = { readonly kind: 'message'; readonly message: string } | { readonly kind: 'resync' }

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
  /**
   * Send a message to every process sharing this store, this one included
   * (Redis pub/sub; Postgres NOTIFY). Absent on the memory store: one process.
   */
  broadcast?(message: string): Promise<void>
  /** Receive broadcasts and resyncs; returns the function that stops listening. */
  subscribe?(listener: (event: StoreEvent) => void): () => void
  /** Postgres: the server's `version()` string (`PostgreSQL 16.4 on x86_64…`). */
  serverVersion?(): Promise<string>
  /** Redis, Postgres: whether reads are being served from the invalidation-fed local cache right now. */
  cacheActive?(): boolean
  close(): Promise<void>
}
