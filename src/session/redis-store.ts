/**
 * Redis backend (ioredis): one connection per process, keys under a prefix,
 * TTLs in milliseconds, an owner-checked lock. A command against a Redis that
 * is down fails at once (no offline queue) with SESSION_STORE_UNAVAILABLE,
 * so requests get a 503 instead of hanging; the client reconnects with
 * backoff for ever and the store recovers by itself.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { KeyValueStore, Lock } from './store.js'
import { SessionError, storeUnavailable } from './errors.js'

export interface RedisStoreOptions {
  readonly url: string
  readonly prefix?: string
  readonly commandTimeoutMs?: number
  readonly onError?: (err: Error) => void
}

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

export function createRedisStore(opts: RedisStoreOptions): KeyValueStore {
  let url: URL
  try {
    url = new URL(opts.url)
  } catch (cause) {
    throw new SessionError('SESSION_STORE_CONFIG', 'databroker_storage_connection_string is not a URL (expected redis://host:6379 or rediss://…)', { cause })
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new SessionError('SESSION_STORE_CONFIG', `databroker_storage_connection_string must start with redis:// or rediss://, not ${url.protocol}//`)
  }
  const prefix = opts.prefix ?? 'gatehouse:'
  const client = new Redis(opts.url, {
    enableOfflineQueue: false,
    // Commands issued in the same tick go out in one write: under load, far fewer system calls per request.
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: opts.commandTimeoutMs ?? 2000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    lazyConnect: false,
    ...(url.protocol === 'rediss:' ? { tls: { servername: url.hostname } } : {}),
  })
  // Without a listener an 'error' event would crash the process.
  client.on('error', (err: Error) => opts.onError?.(err))

  // While (re)connecting, wait briefly for the connection instead of failing at once.
  function whenReady(timeoutMs: number): Promise<void> {
    if (client.status === 'ready') return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        client.off('ready', done)
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      timer.unref()
      client.on('ready', done)
    })
  }

  async function run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      if (client.status !== 'ready') await whenReady(client.status === 'connecting' || client.status === 'connect' ? 1000 : 250)
      return await fn()
    } catch (err) {
      throw storeUnavailable(op, err)
    }
  }
  const k = (key: string): string => prefix + key

  return {
    kind: 'redis',
    get: (key) => run('get', async () => (await client.getBuffer(k(key))) ?? undefined),
    set: (key, value, ttlMs) => run('set', async () => void (await client.set(k(key), Buffer.from(value), 'PX', Math.max(1, Math.ceil(ttlMs))))),
    delete: (...keys) => run('delete', async () => void (keys.length > 0 ? await client.del(...keys.map(k)) : 0)),
    exists: (key) => run('exists', async () => (await client.exists(k(key))) === 1),
    addToSet: (key, member, ttlMs) =>
      run('addToSet', async () => {
        await client.multi().sadd(k(key), member).pexpire(k(key), Math.max(1, Math.ceil(ttlMs)), 'GT').pexpire(k(key), Math.max(1, Math.ceil(ttlMs)), 'NX').exec()
      }),
    removeFromSet: (key, member) => run('removeFromSet', async () => void (await client.srem(k(key), member))),
    members: (key) => run('members', () => client.smembers(k(key))),
    async *scan(p) {
      let cursor = '0'
      do {
        const [next, keys] = await run('scan', () => client.scan(cursor, 'MATCH', k(p) + '*', 'COUNT', 500))
        cursor = next
        for (const key of keys) yield key.slice(prefix.length)
      } while (cursor !== '0')
    },
    tryLock: (key, ttlMs) =>
      run('lock', async () => {
        const token = randomBytes(16).toString('hex')
        const ok = await client.set(k(key), token, 'PX', Math.ceil(ttlMs), 'NX')
        if (ok !== 'OK') return undefined
        const lock: Lock = { release: () => run('unlock', async () => void (await client.eval(RELEASE, 1, k(key), token))) }
        return lock
      }),
    ping: () => run('ping', async () => void (await client.ping())),
    isReady: () => client.status === 'ready',
    async close() {
      client.disconnect()
    },
  }
}
