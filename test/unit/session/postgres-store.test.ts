/**
 * What the Postgres store adds to the shared conformance suite: the schema
 * migration when replicas start together, the read cache kept honest by
 * LISTEN/NOTIFY (and off while the listening connection is down), the expiry
 * cleanup, the lease lock, and failing fast while Postgres is away.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { createPostgresStore, type PostgresStore } from '../../../src/session/index.js'
import { POSTGRES_URL, postgresConnection, requirePostgres, scratchDatabase } from '../../helpers/requirements.js'
import { startTcpProxy } from '../../helpers/tcp-proxy.js'

const hasPostgres = await requirePostgres()
const closers: Array<() => Promise<unknown> | void> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

function store(opts: { prefix?: string; url?: string; appName?: string; cleanupBatch?: number } = {}): PostgresStore {
  const connection = { ...postgresConnection(opts.url), applicationName: opts.appName ?? 'gatehouse-test' }
  const s = createPostgresStore({
    connection,
    prefix: opts.prefix ?? `gatehouse-test:${randomBytes(6).toString('hex')}:`,
    ...(opts.cleanupBatch === undefined ? {} : { cleanupBatch: opts.cleanupBatch }),
  })
  closers.push(() => s.close())
  return s
}

async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], url = POSTGRES_URL): Promise<R[]> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query<R>(text, values)).rows
  } finally {
    await c.end()
  }
}

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString())

describe.skipIf(!hasPostgres)('postgres store: schema', () => {
  it('five replicas starting at once apply the migration exactly once', async () => {
    const db = await scratchDatabase()
    closers.push(() => db.drop())
    const prefix = 'p:'
    const replicas = Array.from({ length: 5 }, () => store({ url: db.url, prefix }))
    await Promise.all(replicas.map((r) => r.ping()))
    const rows = await sql<{ version: number }>('SELECT version FROM gatehouse_schema_migrations', [], db.url)
    expect(rows).toEqual([{ version: 1 }])
    await replicas[0]?.set('k', Buffer.from('v'), 60_000)
    expect(text(await replicas[4]?.get('k'))).toBe('v')
  })
})

describe.skipIf(!hasPostgres)('postgres store: read cache kept honest by LISTEN/NOTIFY', () => {
  it("serves an unchanged key from memory, and sees another replica's change and delete before that write returns", async () => {
    const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
    const a = store({ prefix })
    const b = store({ prefix })
    await expect.poll(() => a.cacheActive?.() === true && b.cacheActive?.() === true, { timeout: 5000 }).toBe(true)
    for (let round = 0; round < 10; round++) {
      await b.set('s:1', Buffer.from(`v${round}`), 60_000)
      const first = await a.get('s:1')
      expect(text(first)).toBe(`v${round}`)
      // The same object back: answered from the cache, no query.
      expect(await a.get('s:1')).toBe(first)
    }
    // No polling: once b's write has returned, a must already know.
    await b.set('s:1', Buffer.from('changed'), 60_000)
    expect(text(await a.get('s:1'))).toBe('changed')
    await b.delete('s:1')
    expect(await a.get('s:1')).toBeUndefined()
  })

  it('a change made outside gatehouse (an operator DELETE) reaches the cache too', async () => {
    const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
    const a = store({ prefix })
    await expect.poll(() => a.cacheActive?.(), { timeout: 5000 }).toBe(true)
    await a.set('s:op', Buffer.from('v'), 60_000)
    expect(text(await a.get('s:op'))).toBe('v')
    await sql('DELETE FROM gatehouse_kv WHERE key = $1', [prefix + 's:op'])
    await expect.poll(async () => a.get('s:op'), { timeout: 5000, interval: 5 }).toBeUndefined()
  })

  it('serves nothing from the cache while the listening connection is down, and resumes once it is back', async () => {
    const appName = `gatehouse-test-${randomBytes(4).toString('hex')}`
    const a = store({ appName })
    await expect.poll(() => a.cacheActive?.(), { timeout: 5000 }).toBe(true)
    await a.set('s:1', Buffer.from('v1'), 60_000)
    const cached = await a.get('s:1')
    expect(await a.get('s:1')).toBe(cached)

    const killed = await sql<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [
      `${appName} gatehouse-listener`,
    ])
    expect(killed).toEqual([{ ok: true }])
    await expect.poll(() => a.cacheActive?.(), { timeout: 5000 }).toBe(false)
    // Without a listener every read is a query: a new object each time.
    const r1 = await a.get('s:1')
    const r2 = await a.get('s:1')
    expect(text(r1)).toBe('v1')
    expect(r2).not.toBe(r1)
    await expect.poll(() => a.cacheActive?.(), { timeout: 10_000 }).toBe(true)
  })
})

describe.skipIf(!hasPostgres)('postgres store: expiry, cleanup and locks', () => {
  it('an expired value is invisible at once, and the cleanup deletes expired rows in bounded batches', async () => {
    const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
    const a = store({ prefix, cleanupBatch: 2 })
    for (let i = 0; i < 5; i++) await a.set(`old:${i}`, Buffer.from('x'), 1)
    await a.addToSet('u:old', 'sid', 1)
    await a.set('live', Buffer.from('y'), 60_000)
    await expect.poll(async () => a.exists('old:4'), { timeout: 5000 }).toBe(false)
    expect(await a.members('u:old')).toEqual([])
    const count = async (): Promise<number> =>
      Number((await sql<{ n: string }>('SELECT count(*) AS n FROM gatehouse_kv WHERE starts_with(key, $1)', [prefix + 'old:']))[0]?.n)
    expect(await count()).toBe(5)
    // Other tests' expired rows may be deleted too; each pass stays within its batch per table.
    expect(await a.cleanup()).toBeLessThanOrEqual(4)
    for (let i = 0; i < 20 && (await count()) > 0; i++) await a.cleanup()
    expect(await count()).toBe(0)
    expect(text(await a.get('live'))).toBe('y')
  })

  it('a lease lock that runs out can be taken by someone else, and the old holder cannot release it', async () => {
    const a = store()
    const first = await a.tryLock('l:sid', 1)
    expect(first).toBeDefined()
    let second: Awaited<ReturnType<PostgresStore['tryLock']>>
    await expect.poll(async () => (second = await a.tryLock('l:sid', 60_000)) !== undefined, { timeout: 5000 }).toBe(true)
    await first?.release()
    expect(await a.tryLock('l:sid', 60_000)).toBeUndefined()
    await second?.release()
  })
})

describe.skipIf(!hasPostgres)('postgres store outage', () => {
  it('fails fast with SESSION_STORE_UNAVAILABLE while Postgres is unreachable, and recovers by itself', async () => {
    const target = postgresConnection()
    const proxy = await startTcpProxy({ host: target.host, port: target.port })
    closers.push(() => proxy.close())
    const s = createPostgresStore({
      connection: { ...target, host: '127.0.0.1', port: proxy.port },
      prefix: `gatehouse-test:${randomBytes(6).toString('hex')}:`,
    })
    closers.push(() => s.close())
    await s.set('k', Buffer.from('v'), 60_000)
    expect(s.isReady()).toBe(true)
    await proxy.cut()
    await expect(s.get('k')).rejects.toMatchObject({ code: 'SESSION_STORE_UNAVAILABLE' })
    await expect(s.ping()).rejects.toMatchObject({ code: 'SESSION_STORE_UNAVAILABLE' })
    expect(s.isReady()).toBe(false)
    expect(s.cacheActive?.()).toBe(false)
    await proxy.restore()
    await expect.poll(async () => text(await s.get('k').catch(() => undefined)), { timeout: 10_000 }).toBe('v')
    expect(s.isReady()).toBe(true)
    await expect.poll(() => s.cacheActive?.(), { timeout: 10_000 }).toBe(true)
  })

  it('a server that is not there at all: SESSION_STORE_UNAVAILABLE, no crash', async () => {
    const s = createPostgresStore({ connection: { ...postgresConnection(), host: '127.0.0.1', port: 1 }, onError: () => undefined })
    closers.push(() => s.close())
    await expect(s.get('s:x')).rejects.toMatchObject({ code: 'SESSION_STORE_UNAVAILABLE' })
    expect(s.isReady()).toBe(false)
  })
})
