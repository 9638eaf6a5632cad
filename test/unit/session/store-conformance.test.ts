import { afterEach, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import {
  createHandoffCodes,
  createMemoryStore,
  createPostgresStore,
  createRedisStore,
  createSessionManager,
  type KeyValueStore,
} from '../../../src/session/index.js'
import type { NewSession } from '../../../src/session/record.js'
import { postgresConnection, REDIS_URL, requirePostgres, requireRedis } from '../../helpers/requirements.js'

const hasRedis = await requireRedis()
const hasPostgres = await requirePostgres()

const alice: NewSession = {
  sub: '00u-alice',
  email: 'alice@example.com',
  name: 'Alice',
  groups: ['admin', 'eng'],
  claims: { department: 'ops' },
  idToken: 'eyJ.ID-TOKEN-SECRET.x',
  accessToken: 'ACCESS-TOKEN-SECRET',
  refreshToken: 'REFRESH-TOKEN-SECRET',
  idTokenExpiresAtMs: 0,
}

interface Backend {
  /** `twin`: a second connection to the same store, as another replica has (undefined for a one-process store). */
  make(): { store: KeyValueStore; advance(ms: number): void; now: () => number; twin(): KeyValueStore | undefined }
}

const clocked = (): { now: () => number; advance(ms: number): void } => {
  let t = 1_700_000_000_000
  return { now: () => t, advance: (ms) => void (t += ms) }
}

const backends: Array<[string, Backend, boolean]> = [
  [
    'memory',
    {
      make: () => {
        const c = clocked()
        return { store: createMemoryStore({ now: c.now }), ...c, twin: () => undefined }
      },
    },
    true,
  ],
  [
    'redis',
    {
      make: () => {
        // Redis keeps real time: the clock only drives the manager's own expiry checks.
        let offset = 0
        const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
        const store = createRedisStore({ url: REDIS_URL, prefix })
        return { store, now: () => Date.now() + offset, advance: (ms) => void (offset += ms), twin: () => createRedisStore({ url: REDIS_URL, prefix }) }
      },
    },
    hasRedis,
  ],
  [
    'postgres',
    {
      make: () => {
        // Postgres keeps its own time, as Redis does.
        let offset = 0
        const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
        const store = createPostgresStore({ connection: postgresConnection(), prefix })
        return {
          store,
          now: () => Date.now() + offset,
          advance: (ms) => void (offset += ms),
          twin: () => createPostgresStore({ connection: postgresConnection(), prefix }),
        }
      },
    },
    hasPostgres,
  ],
]

for (const [name, backend, enabled] of backends) {
  describe.skipIf(!enabled)(`session store conformance: ${name}`, () => {
    // Each test's stores (and their twins) close when it ends: a Postgres store holds a pool and a
    // listening connection, and a shared server's connection slots are few.
    let opened: KeyValueStore[] = []
    afterEach(async () => {
      const stores = opened
      opened = []
      for (const s of new Set(stores)) {
        for await (const k of s.scan('')) await s.delete(k)
        await s.close()
      }
    })
    const setup = (cacheTtlMs = 0) => {
      const b = backend.make()
      opened.push(b.store)
      const manager = createSessionManager({ store: b.store, cookieSecret: randomBytes(32), now: b.now, ttlMs: 3_600_000, cacheTtlMs })
      const twin = (): KeyValueStore | undefined => {
        const t = b.twin()
        if (t !== undefined) opened.push(t)
        return t
      }
      return { ...b, twin, manager }
    }

    it('creates a fresh session id every time and loads it back', async () => {
      const { manager } = setup()
      const a = await manager.create(alice)
      const b = await manager.create(alice)
      expect(a.session.id).not.toBe(b.session.id)
      expect(a.cookieValue).not.toBe(b.cookieValue)
      const loaded = await manager.load(a.cookieValue)
      expect(loaded).toMatchObject({ sub: '00u-alice', groups: ['admin', 'eng'], refreshToken: 'REFRESH-TOKEN-SECRET', version: 1 })
    })

    it('treats missing, tampered, foreign and unknown cookies as no session', async () => {
      const { manager, store } = setup()
      const { cookieValue, session } = await manager.create(alice)
      const other = createSessionManager({ store, cookieSecret: randomBytes(32), now: Date.now, ttlMs: 1000 })
      expect(await manager.load(undefined)).toBeUndefined()
      expect(await manager.load('')).toBeUndefined()
      expect(await manager.load('garbage')).toBeUndefined()
      expect(await other.load(cookieValue)).toBeUndefined()
      const flipped = cookieValue.slice(0, 20) + (cookieValue[20] === 'A' ? 'B' : 'A') + cookieValue.slice(21)
      expect(await manager.load(flipped)).toBeUndefined()
      await manager.revoke(session.id)
      expect(await manager.load(cookieValue)).toBeUndefined()
    })

    it('keeps tokens encrypted at rest', async () => {
      const { manager, store } = setup()
      const { session } = await manager.create(alice)
      for await (const key of store.scan('')) {
        const text = /^[ubx]:/.test(key) ? (await store.members(key)).join(',') : Buffer.from((await store.get(key)) ?? []).toString('latin1')
        expect(text).not.toContain('SECRET')
      }
      expect(await store.exists('s:' + session.id)).toBe(true)
    })

    it('ends a session at its absolute lifetime, refreshes or not', async () => {
      const { manager, advance } = setup()
      const { cookieValue } = await manager.create(alice)
      advance(3_000_000)
      const saved = await manager.save(cookieValue, { groups: ['eng'], refreshedAtMs: 0 })
      expect(saved?.version).toBe(2)
      expect(saved?.groups).toEqual(['eng'])
      advance(700_000)
      expect(await manager.load(cookieValue)).toBeUndefined()
    })

    it("lists and revokes a user's sessions", async () => {
      const { manager } = setup()
      const a = await manager.create(alice)
      await manager.create(alice)
      const bob = await manager.create({ ...alice, sub: '00u-bob', email: 'bob@example.com' })
      expect((await manager.list({ user: 'ALICE@example.com' })).length).toBe(2)
      expect((await manager.list()).length).toBe(3)
      expect(await manager.revokeUser('alice@example.com')).toBe(2)
      expect(await manager.load(a.cookieValue)).toBeUndefined()
      expect(await manager.load(bob.cookieValue)).toBeDefined()
      expect(await manager.revokeAll()).toBe(1)
      expect(await manager.load(bob.cookieValue)).toBeUndefined()
    })

    it('indexes sessions by IdP subject and IdP session, and ends exactly those', async () => {
      const { manager } = setup()
      const a1 = await manager.create({ ...alice, idpSid: 'idp-sess-1' })
      const a2 = await manager.create({ ...alice, idpSid: 'idp-sess-1' })
      const a3 = await manager.create({ ...alice, idpSid: 'idp-sess-2' })
      const bob = await manager.create({ ...alice, sub: '00u-bob', email: 'bob@example.com', idpSid: 'idp-sess-9' })
      expect((await manager.list({ idpSid: 'idp-sess-1' })).map((s) => s.id).sort()).toEqual([a1.session.id, a2.session.id].sort())
      expect((await manager.list({ sub: '00u-alice' })).length).toBe(3)
      expect((await manager.list({ sub: '00u-alice' }))[0]?.idpSid).toBeDefined()

      const bySid = await manager.revokeWhere({ idpSid: 'idp-sess-1' })
      expect([...bySid.ids].sort()).toEqual([a1.session.id, a2.session.id].sort())
      expect(await manager.load(a1.cookieValue)).toBeUndefined()
      expect(await manager.load(a3.cookieValue)).toBeDefined()
      expect((await manager.revokeWhere({ idpSid: 'unknown' })).ids).toEqual([])

      const bySub = await manager.revokeWhere({ sub: '00u-alice' }, { refreshTokens: true })
      expect(bySub.ids).toEqual([a3.session.id])
      expect(bySub.refreshTokens).toEqual(['REFRESH-TOKEN-SECRET'])
      expect(await manager.load(a3.cookieValue)).toBeUndefined()
      expect(await manager.load(bob.cookieValue)).toBeDefined()
      expect(await manager.exists(bob.session.id)).toBe(true)
    })

    it('keeps the latest refresh token for revocation, and none once the session is gone', async () => {
      const { manager } = setup()
      const a = await manager.create(alice)
      await manager.save(a.cookieValue, { refreshToken: 'ROTATED-REFRESH-SECRET' })
      expect((await manager.revokeWhere({ user: 'alice@example.com' }, { refreshTokens: true })).refreshTokens).toEqual(['ROTATED-REFRESH-SECRET'])
      expect((await manager.revokeWhere({ user: 'alice@example.com' }, { refreshTokens: true })).refreshTokens).toEqual([])
    })

    it('hands a session over with a one-time code that another replica can redeem, once, within 60 s', async () => {
      const b = backend.make()
      opened.push(b.store)
      const secret = randomBytes(32)
      const manager = createSessionManager({ store: b.store, cookieSecret: secret, now: b.now, ttlMs: 3_600_000 })
      const minter = createHandoffCodes({ store: b.store, cookieSecret: secret, now: b.now })
      const elsewhere = b.twin()
      if (elsewhere !== undefined) opened.push(elsewhere)
      const redeemer = createHandoffCodes({ store: elsewhere ?? b.store, cookieSecret: secret, now: b.now })
      const { cookieValue, session } = await manager.create(alice)
      const grant = { host: 'docs.beta.example', binding: 'digest-of-nonce', returnTo: 'https://docs.beta.example/x' }
      const code = (await minter.mint(cookieValue, grant)) as string
      expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/)
      // The store holds neither the code nor the ticket in the clear.
      for await (const k of b.store.scan('c:')) {
        expect(k).not.toContain(code)
        expect(Buffer.from((await b.store.get(k)) as Uint8Array).toString('latin1')).not.toContain(session.id)
      }
      const r = await redeemer.redeem(code)
      if (!r.ok) throw new Error(r.why)
      expect(r.grant).toEqual(grant)
      expect(r.cookieValue).not.toBe(cookieValue)
      expect((await manager.load(r.cookieValue))?.id).toBe(session.id)
      expect(await minter.redeem(code)).toEqual({ ok: false, why: 'unknown' })
      expect(await redeemer.redeem('x'.repeat(43))).toEqual({ ok: false, why: 'unknown' })
      expect(await redeemer.redeem('short')).toEqual({ ok: false, why: 'malformed' })
      expect(await minter.mint('not-a-cookie', grant)).toBeUndefined()
      const late = (await minter.mint(cookieValue, grant)) as string
      b.advance(61_000)
      expect((await redeemer.redeem(late)).ok).toBe(false)
    })

    it('claims a key once, whoever asks', async () => {
      const { manager, store, now } = setup()
      const other = createSessionManager({ store, cookieSecret: randomBytes(32), now, ttlMs: 1000 })
      expect(await manager.claimOnce('jti-1', 60_000)).toBe(true)
      expect(await manager.claimOnce('jti-1', 60_000)).toBe(false)
      expect(await other.claimOnce('jti-1', 60_000)).toBe(false)
      expect(await other.claimOnce('jti-2', 60_000)).toBe(true)
    })

    it('tells this process at once, and every other process sharing the store, which sessions ended', async () => {
      const { manager, store, now, twin } = setup()
      const seen: Array<{ ids: readonly string[]; local: boolean }> = []
      manager.onEnded((e) => void (e.kind === 'ended' && seen.push({ ids: e.ids, local: e.local })))
      const a = await manager.create({ ...alice, idpSid: 'idp-sess-7' })
      await manager.revokeWhere({ idpSid: 'idp-sess-7' })
      expect(seen).toEqual([{ ids: [a.session.id], local: true }])
      const elsewhere = twin()
      if (elsewhere === undefined) return
      expect(store.broadcast).toBeDefined()
      // A second process on the same store hears the first one's revocations; the first hears its own only once.
      const heard: string[] = []
      const remote = createSessionManager({ store: elsewhere, cookieSecret: randomBytes(32), now, ttlMs: 1000 })
      remote.onEnded((e) => void (e.kind === 'ended' && !e.local && heard.push(...e.ids)))
      await expect.poll(() => elsewhere.cacheActive?.() ?? true, { timeout: 5000 }).toBe(true)
      const b = await manager.create(alice)
      await manager.revoke(b.session.id)
      await expect.poll(() => heard, { timeout: 5000 }).toEqual([b.session.id])
      expect(seen.filter((e) => e.ids.includes(b.session.id))).toEqual([{ ids: [b.session.id], local: true }])
    })

    it('runs one refresh for twenty concurrent callers, and one across two managers', async () => {
      const { manager, store, now } = setup()
      const second = createSessionManager({ store, cookieSecret: randomBytes(32), now, ttlMs: 1000 })
      let runs = 0
      let release!: () => void
      const gate = new Promise<void>((r) => (release = r))
      const fn = async () => {
        runs++
        await gate
        return 'done'
      }
      const calls = Array.from({ length: 20 }, () => manager.withRefreshLock('sid-1', fn))
      const fromOther = second.withRefreshLock('sid-1', async () => {
        runs++
        return 'other'
      })
      // The other manager cannot get the lock until the first run releases it.
      await Promise.resolve()
      release()
      expect(new Set(await Promise.all(calls))).toEqual(new Set(['done']))
      expect(await fromOther).toBe('other')
      expect(runs).toBe(2)
    })

    it('lock release is owner-checked', async () => {
      const { store } = setup()
      const a = await store.tryLock('l:x', 10_000)
      expect(a).toBeDefined()
      expect(await store.tryLock('l:x', 10_000)).toBeUndefined()
      await a?.release()
      const b = await store.tryLock('l:x', 10_000)
      expect(b).toBeDefined()
      await a?.release() // stale holder: must not free b's lock
      expect(await store.tryLock('l:x', 10_000)).toBeUndefined()
      await b?.release()
    })
  })
}

describe('memory store as gatehouse runs it (no operator summaries)', () => {
  it('a record and a revocation note per session plus the indexes; load, revoke and revokeAll work', async () => {
    const store = createMemoryStore()
    const manager = createSessionManager({ store, cookieSecret: randomBytes(32), now: Date.now, ttlMs: 60_000, operatorIndex: false })
    const a = await manager.create(alice)
    const b = await manager.create(alice)
    const keys: string[] = []
    for await (const k of store.scan('')) keys.push(k)
    expect(keys.sort()).toEqual(
      [`s:${a.session.id}`, `s:${b.session.id}`, `r:${a.session.id}`, `r:${b.session.id}`, 'b:00u-alice', 'u:alice@example.com'].sort(),
    )
    expect((await manager.load(a.cookieValue))?.sub).toBe('00u-alice')
    await manager.revoke(a.session.id)
    expect(await manager.load(a.cookieValue)).toBeUndefined()
    expect(await manager.revokeAll()).toBe(1)
    expect(await manager.load(b.cookieValue)).toBeUndefined()
    const left: string[] = []
    for await (const k of store.scan('')) left.push(k)
    expect(left).toEqual([])
  })
})

describe('memory store bounds', () => {
  it('evicts the oldest entries past maxEntries and expires by TTL', async () => {
    let t = 0
    const store = createMemoryStore({ now: () => t, maxEntries: 3 })
    for (const k of ['a', 'b', 'c', 'd']) await store.set(k, Buffer.from(k), 100)
    expect(await store.get('a')).toBeUndefined()
    expect(Buffer.from((await store.get('d')) ?? []).toString()).toBe('d')
    t = 100
    expect(await store.get('d')).toBeUndefined()
  })
})

describe.skipIf(!hasRedis)('redis store outage', () => {
  it('fails fast with SESSION_STORE_UNAVAILABLE when Redis is unreachable, without crashing', async () => {
    const store = createRedisStore({ url: 'redis://127.0.0.1:1', onError: () => undefined })
    await expect(store.get('s:x')).rejects.toMatchObject({ code: 'SESSION_STORE_UNAVAILABLE' })
    const manager = createSessionManager({ store, cookieSecret: randomBytes(32), now: Date.now, ttlMs: 1000 })
    await expect(manager.create(alice)).rejects.toMatchObject({ code: 'SESSION_STORE_UNAVAILABLE' })
    expect(store.isReady()).toBe(false)
    await store.close()
  })
})
