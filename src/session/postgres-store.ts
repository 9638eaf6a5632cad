/**
 * Postgres backend (the maintained `pg` client, one pool per process): values
 * in `gatehouse_kv`, small sets in `gatehouse_set`, each row with an
 * `expires_at` that reads ignore and a periodic, bounded cleanup deletes. The
 * refresh lock is a lease row (an owner token and an expiry) taken with one
 * upsert: a crashed holder's lease simply runs out, and no pool connection is
 * pinned while a refresh talks to the IdP. A query against a Postgres that is
 * down fails within the command timeout with SESSION_STORE_UNAVAILABLE; the
 * pool reconnects by itself on the next query.
 *
 * Reads are cached in this process, kept honest by LISTEN/NOTIFY: a trigger
 * announces every changed or deleted key, each replica's listening connection
 * drops it from its cache and acknowledges, and a write made here returns once
 * every listening replica has acknowledged (postgres-listener.ts). While the
 * listening connection is down nothing is served from the cache.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { PostgresConnection } from '../config/postgres-dsn.js'
import type { KeyValueStore, Lock, StoreEvent } from './store.js'
import { storeUnavailable } from './errors.js'
import { COUNT_LISTENERS, createListener, EVENTS_CHANNEL } from './postgres-listener.js'
import { migrate } from './postgres-schema.js'
import { createReadCache, readThrough } from './read-cache.js'

export interface PostgresStoreOptions {
  readonly connection: PostgresConnection
  /** Prepended to every key (tests share one database). */
  readonly prefix?: string
  readonly commandTimeoutMs?: number
  readonly cleanupIntervalMs?: number
  /** Rows per table deleted by one cleanup run at most. */
  readonly cleanupBatch?: number
  /** How long a write waits at most for every replica to acknowledge its change. */
  readonly echoWaitMs?: number
  readonly onError?: (err: Error) => void
}

export interface PostgresStore extends KeyValueStore {
  readonly kind: 'postgres'
  /** `PostgreSQL 15.4 …`, from the server. */
  serverVersion(): Promise<string>
  /** One bounded pass of the expiry cleanup; returns the rows deleted. */
  cleanup(): Promise<number>
}

const EXPIRES = `now() + $3 * interval '1 millisecond'`

export function poolConfig(c: PostgresConnection, timeoutMs: number): pg.PoolConfig {
  return {
    host: c.host,
    port: c.port,
    ...(c.database === undefined ? {} : { database: c.database }),
    ...(c.user === undefined ? {} : { user: c.user }),
    ...(c.password === undefined ? {} : { password: c.password }),
    ssl:
      c.ssl === false
        ? false
        : {
            rejectUnauthorized: c.ssl.verify !== 'none',
            // verify-ca: the chain is checked, the name is not (libpq's meaning).
            ...(c.ssl.verify === 'ca' ? { checkServerIdentity: () => undefined } : {}),
            ...(c.ssl.ca === undefined ? {} : { ca: c.ssl.ca }),
            ...(c.ssl.cert === undefined ? {} : { cert: c.ssl.cert }),
            ...(c.ssl.key === undefined ? {} : { key: c.ssl.key }),
          },
    application_name: c.applicationName ?? 'gatehouse',
    connectionTimeoutMillis: c.connectTimeoutMs ?? timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    keepAlive: true,
    max: c.poolMax ?? 10,
    idleTimeoutMillis: 30_000,
  }
}

export function createPostgresStore(opts: PostgresStoreOptions): PostgresStore {
  const prefix = opts.prefix ?? ''
  const timeoutMs = opts.commandTimeoutMs ?? 2000
  const echoWaitMs = opts.echoWaitMs ?? 1000
  const config = poolConfig(opts.connection, timeoutMs)
  const pool = new pg.Pool(config)
  // An idle connection that dies (server restart) is reported here; without a listener it would crash the process.
  pool.on('error', (err) => opts.onError?.(err))
  const cache = createReadCache()
  const subscribers = new Set<(event: StoreEvent) => void>()
  const emit = (event: StoreEvent): void => {
    for (const l of subscribers) {
      try {
        l(event)
      } catch (err) {
        opts.onError?.(err as Error)
      }
    }
  }
  // Broadcasts carry the key prefix, so stores sharing a database under different prefixes do not hear each other.
  const tag = `${prefix.length}:${prefix}`
  const listener = createListener(config, cache, opts.onError, {
    message: (payload) => {
      if (payload.startsWith(tag)) emit({ kind: 'message', message: payload.slice(tag.length) })
    },
    listening: () => emit({ kind: 'resync' }),
  })
  let healthy = false
  let closed = false

  let schema: Promise<number> | undefined
  const ensureSchema = (): Promise<number> => {
    schema ??= migrate(pool).catch((err: unknown) => {
      schema = undefined // retried by the next operation once Postgres is back
      throw err
    })
    return schema
  }

  async function run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      await ensureSchema()
      const out = await fn()
      healthy = true
      return out
    } catch (err) {
      healthy = false
      throw storeUnavailable(op, err)
    }
  }
  const q = async <R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> => pool.query<R>(text, values)
  const k = (key: string): string => prefix + key

  /**
   * Runs a write that announces the keys it changed, then waits until every
   * listening replica has acknowledged them (bounded by echoWaitMs).
   */
  async function announced(keys: readonly string[], write: () => Promise<{ changed: readonly string[]; listeners: number }>): Promise<void> {
    for (const key of keys) cache.drop(key)
    const acks = listener.expect(keys, echoWaitMs)
    try {
      const { changed, listeners } = await write()
      if (changed.length > 0 && listeners > 0) await acks.wait(changed, listeners)
    } finally {
      acks.cancel()
    }
  }

  const cleanupTimer = setInterval(() => {
    void store.cleanup().catch((err: unknown) => opts.onError?.(err as Error))
  }, opts.cleanupIntervalMs ?? 60_000)
  cleanupTimer.unref()
  const batch = opts.cleanupBatch ?? 1000

  const store: PostgresStore = {
    kind: 'postgres',
    get: (key) =>
      readThrough(cache, k(key), () =>
        run('get', async () => (await q<{ value: Buffer }>('SELECT value FROM gatehouse_kv WHERE key = $1 AND expires_at > now()', [k(key)])).rows[0]?.value),
      ),
    set: (key, value, ttlMs) =>
      run('set', () =>
        announced([k(key)], async () => {
          // xmax is non-zero on a row the upsert updated; a new key is announced to nobody (nobody has it cached).
          const res = await q<{ updated: boolean; listeners: number }>(
            `WITH w AS (
               INSERT INTO gatehouse_kv (key, value, expires_at) VALUES ($1, $2, ${EXPIRES})
               ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
               RETURNING (xmax <> 0) AS updated
             ) SELECT updated, ${COUNT_LISTENERS} AS listeners FROM w`,
            [k(key), Buffer.from(value.buffer, value.byteOffset, value.byteLength), Math.max(1, Math.ceil(ttlMs))],
          )
          const row = res.rows[0]
          return { changed: row?.updated === true ? [k(key)] : [], listeners: row?.listeners ?? 0 }
        }),
      ),
    delete: (...keys) =>
      run('delete', async () => {
        if (keys.length === 0) return
        const full = keys.map(k)
        await announced(full, async () => {
          const res = await q<{ keys: string[]; listeners: number }>(
            `WITH s AS (DELETE FROM gatehouse_set WHERE key = ANY($1)),
                  d AS (DELETE FROM gatehouse_kv WHERE key = ANY($1) RETURNING key)
             SELECT array(SELECT key FROM d) AS keys, ${COUNT_LISTENERS} AS listeners`,
            [full],
          )
          return { changed: res.rows[0]?.keys ?? [], listeners: res.rows[0]?.listeners ?? 0 }
        })
      }),
    exists: (key) =>
      run('exists', async () => {
        const res = await q<{ e: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM gatehouse_kv WHERE key = $1 AND expires_at > now())
               OR EXISTS (SELECT 1 FROM gatehouse_set WHERE key = $1 AND expires_at > now()) AS e`,
          [k(key)],
        )
        return res.rows[0]?.e === true
      }),
    addToSet: (key, member, ttlMs) =>
      run('addToSet', async () => {
        await q(
          `INSERT INTO gatehouse_set (key, member, expires_at) VALUES ($1, $2, ${EXPIRES})
           ON CONFLICT (key, member) DO UPDATE SET expires_at = greatest(gatehouse_set.expires_at, excluded.expires_at)`,
          [k(key), member, Math.max(1, Math.ceil(ttlMs))],
        )
      }),
    removeFromSet: (key, member) =>
      run('removeFromSet', async () => void (await q('DELETE FROM gatehouse_set WHERE key = $1 AND member = $2', [k(key), member]))),
    members: (key) =>
      run('members', async () => {
        const res = await q<{ member: string }>('SELECT member FROM gatehouse_set WHERE key = $1 AND expires_at > now() ORDER BY member', [k(key)])
        return res.rows.map((r) => r.member)
      }),
    async *scan(p) {
      // Keyset pages: an operator command over many sessions never holds one huge result.
      let after = ''
      for (;;) {
        const res = await run('scan', () =>
          q<{ key: string }>(
            `SELECT key FROM (
               SELECT key FROM gatehouse_kv WHERE starts_with(key, $1) AND key > $2 AND expires_at > now()
               UNION SELECT key FROM gatehouse_set WHERE starts_with(key, $1) AND key > $2 AND expires_at > now()
             ) keys ORDER BY key COLLATE "C" LIMIT 500`,
            [k(p), after],
          ),
        )
        for (const row of res.rows) yield row.key.slice(prefix.length)
        const last = res.rows.at(-1)
        if (last === undefined || res.rows.length < 500) return
        after = last.key
      }
    },
    tryLock: (key, ttlMs) =>
      run('lock', async () => {
        const token = randomBytes(16)
        // Taken when the key is absent or its lease has run out; an unexpired lease wins.
        const res = await q(
          `INSERT INTO gatehouse_kv (key, value, expires_at) VALUES ($1, $2, ${EXPIRES})
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
           WHERE gatehouse_kv.expires_at <= now()`,
          [k(key), token, Math.max(1, Math.ceil(ttlMs))],
        )
        if (res.rowCount !== 1) return undefined
        const lock: Lock = {
          release: () => run('unlock', async () => void (await q('DELETE FROM gatehouse_kv WHERE key = $1 AND value = $2', [k(key), token]))),
        }
        return lock
      }),
    broadcast: (message) => run('broadcast', async () => void (await q('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, tag + message]))),
    subscribe(l) {
      subscribers.add(l)
      return () => void subscribers.delete(l)
    },
    ping: () => run('ping', async () => void (await q('SELECT 1', []))),
    isReady: () => healthy,
    cacheActive: () => cache.active(),
    serverVersion: () => run('version', async () => (await q<{ v: string }>('SELECT version() AS v', [])).rows[0]?.v ?? 'unknown'),
    cleanup: () =>
      run('cleanup', async () => {
        let n = 0
        for (const table of ['gatehouse_kv', 'gatehouse_set']) {
          const res = await q(
            `DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE expires_at < now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
            [batch],
          )
          n += res.rowCount ?? 0
        }
        return n
      }),
    async close() {
      if (closed) return
      closed = true
      clearInterval(cleanupTimer)
      await listener.close()
      await pool.end().catch(() => undefined)
    },
  }
  return store
}
