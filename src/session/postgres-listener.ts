/**
 * The Postgres store's change feed: one connection outside the pool that
 * LISTENs for changed keys, drops them from the read cache, and acknowledges
 * each one on ACK_CHANNEL. A replica that changes or deletes a key counts the
 * acknowledgements until every listening replica (itself included) has
 * confirmed, so a sign-out is answered only once every cache has forgotten
 * the session. The wait is bounded (a replica that is connected but stuck
 * cannot hold sign-outs for longer than `timeoutMs`). The connection
 * reconnects with backoff; the cache is on only while it listens.
 */
import pg from 'pg'
import type { ReadCache } from './read-cache.js'

export const CHANGE_CHANNEL = 'gatehouse_kv_changed'
export const ACK_CHANNEL = 'gatehouse_kv_ack'
/** The store's broadcasts between processes (StoreEvent messages). */
export const EVENTS_CHANNEL = 'gatehouse_events'
/** Ends every listener's application_name, so a writer can count them in pg_stat_activity. */
export const LISTENER_MARK = 'gatehouse-listener'
export const COUNT_LISTENERS = `(SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '%${LISTENER_MARK}')`

export interface Acknowledgements {
  /** Resolves when each of `keys` has been acknowledged `listeners` times since `expect` (or on timeout). */
  wait(keys: readonly string[], listeners: number): Promise<void>
  cancel(): void
}

export interface Listener {
  /** Call before the write: acknowledgements are counted from here on. */
  expect(keys: readonly string[], timeoutMs: number): Acknowledgements
  close(): Promise<void>
}

const NOTHING: Acknowledgements = { wait: () => Promise.resolve(), cancel: () => undefined }

export interface ListenerEvents {
  /** A broadcast payload on EVENTS_CHANNEL. */
  message(payload: string): void
  /** Listening (again): broadcasts sent while the connection was down are lost. */
  listening(): void
}

export function createListener(config: pg.ClientConfig, cache: ReadCache, onError: ((err: Error) => void) | undefined, events: ListenerEvents): Listener {
  /** Per key, the open expectations and how many acks each has seen. */
  const expecting = new Map<string, Set<{ acks: number; check(): void }>>()
  let client: pg.Client | undefined
  let closed = false
  let attempt = 0
  let retry: NodeJS.Timeout | undefined

  // Acknowledgements go out one query at a time (pg does not take a second query on a busy
  // client), every key that changed meanwhile in the same query.
  let toAck: string[] = []
  let acking = false
  function flushAcks(c: pg.Client): void {
    if (acking || toAck.length === 0 || client !== c) return
    const keys = toAck
    toAck = []
    acking = true
    c.query('SELECT pg_notify($1, k) FROM unnest($2::text[]) AS k', [ACK_CHANNEL, keys])
      .catch(() => undefined)
      .finally(() => {
        // A query of a connection since lost says nothing about the current one's.
        if (client !== c) return
        acking = false
        flushAcks(c)
      })
  }

  function onNotice(c: pg.Client, channel: string, key: string): void {
    // `key` is the payload: a changed key, an acknowledged key, or a broadcast.
    if (channel === CHANGE_CHANNEL) {
      cache.drop(key)
      // Tell the writer this replica has forgotten the key.
      toAck.push(key)
      flushAcks(c)
    } else if (channel === EVENTS_CHANNEL) {
      events.message(key)
    } else if (channel === ACK_CHANNEL) {
      for (const e of expecting.get(key) ?? []) {
        e.acks++
        e.check()
      }
    }
  }

  const lost = (c: pg.Client): void => {
    if (client !== c) return
    client = undefined
    cache.setActive(false)
    // A new connection starts clean: its cache is empty, so there is nothing left to acknowledge.
    toAck = []
    acking = false
    for (const set of expecting.values()) for (const e of set) e.check()
    c.removeAllListeners('notification')
    void c.end().catch(() => undefined)
    if (!closed) {
      retry = setTimeout(() => void connect(), Math.min(5000, 100 * 2 ** Math.min(attempt++, 6)))
      retry.unref()
    }
  }

  async function connect(): Promise<void> {
    if (closed) return
    const c = new pg.Client({
      ...config,
      application_name: `${(config.application_name ?? 'gatehouse').slice(0, 40)} ${LISTENER_MARK}`,
      query_timeout: undefined,
      statement_timeout: undefined,
    })
    c.on('error', (err) => {
      onError?.(err)
      lost(c)
    })
    c.on('end', () => lost(c))
    c.on('notification', (msg) => {
      if (msg.payload !== undefined) onNotice(c, msg.channel, msg.payload)
    })
    client = c
    try {
      await c.connect()
      await c.query(`LISTEN ${CHANGE_CHANNEL}; LISTEN ${ACK_CHANNEL}; LISTEN ${EVENTS_CHANNEL}`)
      if (client !== c || closed) return
      attempt = 0
      cache.setActive(true)
      events.listening()
    } catch (err) {
      onError?.(new Error(`session cache off: cannot listen for changes (${(err as Error).message})`))
      lost(c)
    }
  }
  void connect()

  return {
    expect(keys, timeoutMs) {
      if (!cache.active() || keys.length === 0) return NOTHING
      const entries = new Map<string, { acks: number; check(): void }>()
      let needed: { keys: readonly string[]; listeners: number } | undefined
      let finish!: () => void
      const done = new Promise<void>((r) => (finish = r))
      const timer = setTimeout(() => cancel(), timeoutMs)
      timer.unref()
      const check = (): void => {
        // Without a listening connection there is nobody to count on: stop waiting.
        if (client === undefined) return cancel()
        if (needed === undefined) return
        const n = needed.listeners
        if (needed.keys.every((k) => (entries.get(k)?.acks ?? 0) >= n)) cancel()
      }
      const cancel = (): void => {
        clearTimeout(timer)
        for (const [key, e] of entries) {
          const set = expecting.get(key)
          set?.delete(e)
          if (set?.size === 0) expecting.delete(key)
        }
        finish()
      }
      for (const key of keys) {
        const e = { acks: 0, check }
        entries.set(key, e)
        let set = expecting.get(key)
        if (set === undefined) expecting.set(key, (set = new Set()))
        set.add(e)
      }
      return {
        wait(changed, listeners) {
          needed = { keys: changed.filter((k) => entries.has(k)), listeners }
          check()
          return done
        },
        cancel,
      }
    },
    async close() {
      closed = true
      clearTimeout(retry)
      const c = client
      client = undefined
      cache.setActive(false)
      if (c !== undefined) await c.end().catch(() => undefined)
    },
  }
}
