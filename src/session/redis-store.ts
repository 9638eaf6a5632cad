/**
 * Redis backend (ioredis): keys under a prefix, TTLs in milliseconds, an
 * owner-checked lock. A command against a Redis that is down fails at once
 * (no offline queue) with SESSION_STORE_UNAVAILABLE, so requests get a 503
 * instead of hanging; the client reconnects with backoff for ever and the
 * store recovers by itself.
 *
 * Reads are cached in this process with Redis's server-assisted client-side
 * caching (CLIENT TRACKING, RESP2 redirect mode): Redis remembers which keys
 * this process read and pushes their names on a second connection the moment
 * another client changes or deletes them, so a sign-out on any replica drops
 * the cached record here at once, and a request for an unchanged session costs
 * no round trip. The cache is used only while both connections are up and
 * tracking is confirmed; otherwise every read goes to Redis as before.
 *
 * The same second connection carries the store's broadcasts (pub/sub on
 * `<prefix>events`): a session ended on one replica is announced to all, so
 * their open WebSockets close at once.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { KeyValueStore, Lock, StoreEvent } from './store.js'
import { SessionError, storeUnavailable } from './errors.js'
import { createReadCache, readThrough, type ReadCache } from './read-cache.js'

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
  const listeners = new Set<(event: StoreEvent) => void>()
  const emit = (event: StoreEvent): void => {
    for (const l of listeners) {
      try {
        l(event)
      } catch (err) {
        opts.onError?.(err as Error)
      }
    }
  }
  const eventsChannel = prefix + 'events'
  const cache = createTrackedCache(client, prefix, opts.onError, { channel: eventsChannel, emit })

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
    get: (key) => readThrough(cache, k(key), () => run('get', async () => (await client.getBuffer(k(key))) ?? undefined)),
    set: (key, value, ttlMs) => run('set', async () => void (await client.set(k(key), Buffer.from(value), 'PX', Math.max(1, Math.ceil(ttlMs))))),
    delete: (...keys) => run('delete', async () => void (keys.length > 0 ? await client.del(...keys.map(k)) : 0)),
    exists: (key) => run('exists', async () => (await client.exists(k(key))) === 1),
    addToSet: (key, member, ttlMs) =>
      run('addToSet', async () => {
        await client
          .multi()
          .sadd(k(key), member)
          .pexpire(k(key), Math.max(1, Math.ceil(ttlMs)), 'GT')
          .pexpire(k(key), Math.max(1, Math.ceil(ttlMs)), 'NX')
          .exec()
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
    broadcast: (message) => run('broadcast', async () => void (await client.publish(eventsChannel, message))),
    subscribe(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    ping: () => run('ping', async () => void (await client.ping())),
    isReady: () => client.status === 'ready',
    cacheActive: () => cache.active(),
    async close() {
      cache.close()
      client.disconnect()
    },
  }
}

const INVALIDATE_CHANNEL = '__redis__:invalidate'

/** The read cache, on while Redis tracks this process's reads (both connections up, tracking confirmed). */
interface TrackedCache extends ReadCache {
  close(): void
}

interface EventsLink {
  readonly channel: string
  readonly emit: (event: StoreEvent) => void
}

function createTrackedCache(client: Redis, prefix: string, onError: ((err: Error) => void) | undefined, events: EventsLink): TrackedCache {
  const cache = createReadCache()
  let subscriberId: number | undefined
  let trackingFor: number | undefined
  let closed = false

  // Every change of the conditions below goes through here; the cache wipes itself whenever it turns on or off.
  function sync(): void {
    const live = !closed && subscriberId !== undefined && trackingFor === subscriberId && client.status === 'ready'
    if (live !== cache.active()) cache.setActive(live)
  }

  const subscriber = client.duplicate({
    enableAutoPipelining: false,
    autoResubscribe: false,
    lazyConnect: true,
    connectionName: `${prefix.replace(/[^A-Za-z0-9:_.-]/g, '_')}invalidations`,
  })
  subscriber.on('error', (err: Error) => onError?.(err))
  subscriber.on('messageBuffer', (channelBytes: Buffer, message: unknown) => {
    const channel = channelBytes.toString()
    if (channel === events.channel) {
      if (Buffer.isBuffer(message)) events.emit({ kind: 'message', message: message.toString() })
      return
    }
    if (channel !== INVALIDATE_CHANNEL) return
    // A null message means "flush everything" (FLUSHALL, or Redis lost track).
    if (message === null || message === undefined) return cache.dropAll()
    const keys = Array.isArray(message) ? message : [message]
    for (const key of keys) {
      const name = Buffer.isBuffer(key) ? key.toString() : String(key)
      if (name.startsWith(prefix)) cache.drop(name)
    }
  })
  const lost = (): void => {
    subscriberId = undefined
    sync()
  }
  subscriber.on('close', lost)
  subscriber.on('end', lost)
  client.on('close', () => {
    trackingFor = undefined
    sync()
  })

  async function enableTracking(): Promise<void> {
    const id = subscriberId
    if (closed || id === undefined || client.status !== 'ready' || trackingFor === id) return
    try {
      await client.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id))
      if (subscriberId === id) {
        trackingFor = id
        sync()
      }
    } catch (err) {
      // Redis before 6, or CLIENT disabled (some managed services): every read goes to Redis.
      onError?.(new Error(`client-side caching is off: ${(err as Error).message}`))
    }
  }
  subscriber.on('ready', () => {
    void (async () => {
      try {
        const id = Number(await subscriber.call('CLIENT', 'ID'))
        await subscriber.subscribe(INVALIDATE_CHANNEL, events.channel)
        subscriberId = id
        // Broadcasts sent while this link was down are lost: listeners re-check what they hold.
        events.emit({ kind: 'resync' })
        await enableTracking()
      } catch (err) {
        onError?.(err as Error)
      }
    })()
  })
  client.on('ready', () => void enableTracking())
  subscriber.connect().catch(() => undefined)

  return {
    ...cache,
    close() {
      closed = true
      sync()
      subscriber.disconnect()
    },
  }
}
