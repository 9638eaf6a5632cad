/**
 * The Redis store's local cache (CLIENT TRACKING): an unchanged key is read
 * once, a change by anyone else reaches the cache, and without a live
 * invalidation connection nothing is served from it.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { createRedisStore, type KeyValueStore } from '../../../src/session/index.js'
import { REDIS_URL, requireRedis } from '../../helpers/requirements.js'

const hasRedis = await requireRedis()
const closers: Array<() => Promise<unknown> | void> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

function store(prefix: string): KeyValueStore {
  const s = createRedisStore({ url: REDIS_URL, prefix })
  closers.push(() => s.close())
  return s
}

/** Counts GETs of keys under `prefix`, from any client. */
async function countGets(prefix: string): Promise<{ readonly count: number }> {
  const raw = new Redis(REDIS_URL)
  const monitor = await raw.monitor()
  const seen = { count: 0 }
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'get' && args[1]?.startsWith(prefix) === true) seen.count++
  })
  closers.push(
    () => void monitor.disconnect(),
    () => void raw.disconnect(),
  )
  return seen
}

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString())

describe.skipIf(!hasRedis)('redis store: tracked local cache', () => {
  it("reads an unchanged key from Redis once, and sees another replica's change and delete", async () => {
    const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
    const gets = await countGets(prefix)
    const a = store(prefix)
    const b = store(prefix)
    await expect.poll(() => a.cacheActive?.(), { timeout: 5000 }).toBe(true)
    await b.set('s:1', Buffer.from('v1'), 60_000)
    expect(text(await a.get('s:1'))).toBe('v1')
    for (let i = 0; i < 20; i++) expect(text(await a.get('s:1'))).toBe('v1')
    await expect.poll(() => gets.count).toBe(1)

    await b.set('s:1', Buffer.from('v2'), 60_000)
    await expect.poll(async () => text(await a.get('s:1')), { timeout: 5000, interval: 5 }).toBe('v2')
    await b.delete('s:1')
    await expect.poll(async () => text(await a.get('s:1')), { timeout: 5000, interval: 5 }).toBeUndefined()
  })

  it('stops serving from the cache when the invalidation connection dies, and resumes once it is back', async () => {
    const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
    const a = store(prefix)
    await expect.poll(() => a.cacheActive?.(), { timeout: 5000 }).toBe(true)
    await a.set('s:1', Buffer.from('v1'), 60_000)
    expect(text(await a.get('s:1'))).toBe('v1')

    const admin = new Redis(REDIS_URL)
    closers.push(() => void admin.disconnect())
    const list = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string
    const line = list.split('\n').find((l) => l.includes(`name=${prefix}invalidations`))
    const id = /\bid=(\d+)/.exec(line ?? '')?.[1]
    expect(id).toBeDefined()
    const gets = await countGets(prefix)
    await admin.call('CLIENT', 'KILL', 'ID', id as string)
    await expect.poll(() => a.cacheActive?.(), { timeout: 5000 }).toBe(false)
    // No cache without invalidations: this read goes to Redis.
    expect(text(await a.get('s:1'))).toBe('v1')
    await expect.poll(() => gets.count).toBeGreaterThanOrEqual(1)
    await expect.poll(() => a.cacheActive?.(), { timeout: 10_000 }).toBe(true)
  })
})
