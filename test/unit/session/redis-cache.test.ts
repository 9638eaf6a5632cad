/**
 * The Redis store's local cache (CLIENT TRACKING): an unchanged key is read
 * once, a change by anyone else reaches the cache, and without a live
 * invalidation connection nothing is served from it.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
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

/**
 * Counts GETs of keys under `prefix`, from any client, over a MONITOR connection spoken by hand:
 * ioredis's own monitor() once failed with "Command queue state error" when a monitored line
 * arrived before its reply to MONITOR.
 */
async function countGets(prefix: string): Promise<{ readonly count: number }> {
  const url = new URL(REDIS_URL)
  const sock = net.connect(Number(url.port === '' ? 6379 : url.port), url.hostname)
  closers.push(() => void sock.destroy())
  const seen = { count: 0 }
  let buf = ''
  await new Promise<void>((resolve, reject) => {
    const auth = url.password === '' ? '' : `AUTH ${url.username === '' ? '' : decodeURIComponent(url.username) + ' '}${decodeURIComponent(url.password)}\r\n`
    // One +OK for AUTH (when the URL has a password), one for MONITOR.
    let oks = auth === '' ? 1 : 2
    sock.once('error', reject)
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      for (let i = buf.indexOf('\r\n'); i !== -1; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 2)
        if (line === '+OK' && --oks === 0) resolve()
        else if (line.startsWith('-')) reject(new Error(`MONITOR refused: ${line}`))
        // +1796248020.911412 [0 127.0.0.1:50462] "get" "<key>"
        const m = /^\+[\d.]+ \[[^\]]*\] "([^"]*)" "([^"]*)"/.exec(line)
        if (m !== null && m[1]?.toLowerCase() === 'get' && m[2]?.startsWith(prefix) === true) seen.count++
      }
    })
    sock.write(`${auth}MONITOR\r\n`)
  })
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
