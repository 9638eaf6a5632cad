import { afterAll, describe, expect, it } from 'vitest'
import { testClock, type TestClock } from '../helpers/clock.js'
import { ROUTES_APP_ADMIN, startReplicas, startStack, storeYaml, type Stack } from '../helpers/stack.js'
import { expectOneRefreshAcrossReplicas, expectSignOutSeenAtOnce } from '../helpers/replica-checks.js'
import { REDIS_URL, requireRedis } from '../helpers/requirements.js'

const hasRedis = await requireRedis()
const closers: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

async function stack(store: 'memory' | 'redis', c: TestClock): Promise<Stack> {
  const extra = `session_refresh_interval: 1m\n${store === 'redis' ? storeYaml('redis', REDIS_URL) : ''}`
  const s = await startStack({ routes: ROUTES_APP_ADMIN, extra, now: c.now })
  closers.push(() => s.close())
  return s
}

const api = { accept: 'application/json' }

for (const store of ['memory', 'redis'] as const) {
  describe.skipIf(store === 'redis' && !hasRedis)(`refresh with the ${store} store`, () => {
    it('a user removed from a group at the IdP loses access after the refresh interval, without signing out', async () => {
      const c = testClock()
      const s = await stack(store, c)
      const alice = s.client()
      await s.signIn(alice, s.url('admin.localhost', '/'), 'alice')
      expect((await alice.get(s.url('admin.localhost', '/'), { headers: api })).status).toBe(200)
      s.idp.setUserGroups('alice', ['eng'])
      // Before the interval, the session's claims stand.
      expect((await alice.get(s.url('admin.localhost', '/'), { headers: api })).status).toBe(200)
      c.advance(61_000)
      const denied = await alice.get(s.url('admin.localhost', '/'), { headers: api })
      expect(denied.status).toBe(403)
      expect(await denied.json()).toMatchObject({ reason: 'no allow rule lets you in (groups; your value: [eng])' })
      s.idp.setUserGroups('alice', ['admin', 'eng'])
    })

    it('twenty concurrent requests at expiry cause exactly one refresh at the IdP, and all succeed', async () => {
      const c = testClock()
      const s = await stack(store, c)
      const bob = s.client()
      await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
      const before = s.idp.counters.refreshGrants
      c.advance(61_000)
      const results = await Promise.all(Array.from({ length: 20 }, () => bob.get(s.url('app.localhost', '/'), { headers: api })))
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))
      expect(s.idp.counters.refreshGrants - before).toBe(1)
      expect(s.idp.counters.refreshFailures).toBe(0)
      // The rotated refresh token keeps working for the next refresh.
      c.advance(61_000)
      expect((await bob.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(200)
      expect(s.idp.counters.refreshGrants - before).toBe(2)
    })

    it('invalid_grant (user deactivated) ends the session: API 401, browser back to sign-in', async () => {
      const c = testClock()
      const s = await stack(store, c)
      const bob = s.client()
      await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
      s.idp.setUserActive('bob', false)
      try {
        c.advance(61_000)
        expect((await bob.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(401)
        const browser = await bob.get(s.url('app.localhost', '/'), { headers: { accept: 'text/html' } })
        expect(browser.status).toBe(302)
        expect(browser.headers.get('location')).toContain('/v1/authorize')
      } finally {
        s.idp.setUserActive('bob', true)
      }
    })

    it('an IdP outage during refresh keeps the session on its current claims', async () => {
      const c = testClock()
      const s = await stack(store, c)
      const bob = s.client()
      await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
      await s.idp.stop()
      try {
        c.advance(61_000)
        expect((await bob.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(200)
        expect(s.logs.join('')).toContain('session refresh failed; keeping the current claims')
      } finally {
        await s.idp.start()
      }
    })

    it('the session ends at cookie_expire whatever the refresh token allows', async () => {
      const c = testClock()
      const s = await stack(store, c)
      const bob = s.client()
      await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
      c.advance(14 * 3_600_000 + 1000)
      expect((await bob.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(401)
    })
  })
}

describe.skipIf(!hasRedis)('two replicas sharing Redis', () => {
  it('sign in on A, use the cookie on B; sign out on B and A refuses it at once; restarts keep sessions', async () => {
    const [a, b] = await startReplicas({ routes: ROUTES_APP_ADMIN, extra: storeYaml('redis', REDIS_URL) })
    closers.push(
      () => a.close(),
      () => b.close(),
    )
    const alice = a.client()
    await a.signIn(alice, a.url('app.localhost', '/'), 'alice')
    // Cookies belong to the host name, not the port: the same cookie goes to B.
    expect((await alice.get(b.url('app.localhost', '/'), { headers: api })).status).toBe(200)

    // Restart A (same port, same config): the session survives in Redis.
    await a.gh.close()
    const { startGatehouse } = await import('../../src/server/lifecycle/start.js')
    const { createLogger } = await import('../../src/server/telemetry/logger.js')
    const { Writable } = await import('node:stream')
    const a2 = await startGatehouse({
      config: a.config,
      log: createLogger('error', new Writable({ write: (_c, _e, cb) => cb() })),
      listen: { host: '127.0.0.1', port: a.port },
    })
    closers.push(() => a2.close())
    await a2.identity.ready()
    // A2 reads sessions through its tracked local cache: once it is on, the
    // next requests are answered from it, and B's sign-out must still count at once.
    await expect.poll(() => a2.store.cacheActive?.(), { timeout: 5000 }).toBe(true)
    for (let i = 0; i < 3; i++) expect((await alice.get(a.url('app.localhost', '/'), { headers: api })).status).toBe(200)

    await expectSignOutSeenAtOnce(a, b, alice)
  })

  it('concurrent requests due for refresh, split over two processes (replicas, or workers), refresh once at the IdP; all succeed', async () => {
    const c = testClock()
    const [a, b] = await startReplicas({ routes: ROUTES_APP_ADMIN, extra: `session_refresh_interval: 1m\n${storeYaml('redis', REDIS_URL)}`, now: c.now })
    closers.push(
      () => b.close(),
      () => a.close(),
    )
    await expectOneRefreshAcrossReplicas(a, b, c)
  })
})
