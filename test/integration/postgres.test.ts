/**
 * Two gatehouse replicas on one PostgreSQL, configured as Pomerium's HA
 * configs are (databroker_storage_type: postgres + a connection string):
 * sign-in shared, one refresh across replicas, sign-out everywhere at once,
 * fail closed while Postgres is away and recover by itself; the operator
 * commands and `check --online` against the same database.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runCli, writeOperatorConfig } from '../helpers/cli.js'
import { testClock } from '../helpers/clock.js'
import { ROUTES_APP_ADMIN, startReplicas, storeYaml, type Stack } from '../helpers/stack.js'
import { expectCliListsAndRevokesBob, expectOneRefreshAcrossReplicas, expectSignOutSeenAtOnce } from '../helpers/replica-checks.js'
import { POSTGRES_URL, postgresConnection, requirePostgres } from '../helpers/requirements.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

const hasPostgres = await requirePostgres()
const closers: Array<() => Promise<unknown> | void> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

const api = { accept: 'application/json' }
const PUBLIC = ({ upstream, port }: { upstream: string; port: number }): string =>
  `  - from: http://pub.localhost:${port}\n    to: ${upstream}\n    allow_public_unauthenticated_access: true\n`

/** Two replicas sharing one IdP, one cookie secret and one Postgres (reached through `dsn`). */
async function replicas(dsn: string, now?: () => number): Promise<[Stack, Stack]> {
  const routes = (ctx: { upstream: string; port: number }): string => ROUTES_APP_ADMIN(ctx) + PUBLIC(ctx)
  const r = await startReplicas({
    routes,
    hosts: ['app.localhost', 'admin.localhost', 'pub.localhost'],
    extra: `session_refresh_interval: 1m\n${storeYaml('postgres', dsn)}`,
    ...(now === undefined ? {} : { now }),
  })
  closers.push(
    () => r[0].close(),
    () => r[1].close(),
  )
  return r
}

describe.skipIf(!hasPostgres)('two replicas sharing Postgres', () => {
  it('sign in on A, use the cookie on B; sign out on B and A refuses it at once, with its read cache on', async () => {
    const [a, b] = await replicas(POSTGRES_URL)
    const alice = a.client()
    await a.signIn(alice, a.url('app.localhost', '/'), 'alice')
    expect((await alice.get(b.url('app.localhost', '/'), { headers: api })).status).toBe(200)
    await expect.poll(() => a.gh.store.cacheActive?.() === true && b.gh.store.cacheActive?.() === true, { timeout: 5000 }).toBe(true)
    // A answers from its cache now; B's sign-out must still count before B answers.
    for (let i = 0; i < 3; i++) expect((await alice.get(a.url('app.localhost', '/'), { headers: api })).status).toBe(200)

    await expectSignOutSeenAtOnce(a, b, alice)
  })

  it('twenty concurrent requests at refresh time, spread over both replicas, cause exactly one refresh at the IdP', async () => {
    const c = testClock()
    const [a, b] = await replicas(POSTGRES_URL, c.now)
    const { bob, grantsBefore: before } = await expectOneRefreshAcrossReplicas(a, b, c)
    // The rotated refresh token is the one both replicas use next time.
    c.advance(61_000)
    expect((await bob.get(b.url('app.localhost', '/'), { headers: api })).status).toBe(200)
    expect(a.idp.counters.refreshGrants - before).toBe(2)
  })

  it('Postgres away: 503 for session routes on both replicas, public routes up, not ready; back by itself', async () => {
    const target = postgresConnection()
    const proxy: TcpProxy = await startTcpProxy({ host: target.host, port: target.port })
    closers.push(() => proxy.close())
    const u = new URL(POSTGRES_URL)
    u.hostname = '127.0.0.1'
    u.port = String(proxy.port)
    const [a, b] = await replicas(u.toString())
    const alice = a.client()
    await a.signIn(alice, a.url('app.localhost', '/'), 'alice')
    expect((await alice.get(b.url('app.localhost', '/'), { headers: api })).status).toBe(200)

    const appRequests = (): number => a.upstream.requests.filter((q) => String(q.headers.host).startsWith('app.')).length
    const reachedBefore = appRequests()
    await proxy.cut()
    // The listening connections notice the cut (their cache goes off with them).
    await expect.poll(() => a.gh.store.cacheActive?.() === false && b.gh.store.cacheActive?.() === false, { timeout: 5000 }).toBe(true)
    for (const r of [a, b]) {
      const down = await alice.get(r.url('app.localhost', '/'), { headers: api })
      expect(down.status).toBe(503)
      expect(await down.json()).toMatchObject({ code: 'SESSION_STORE_UNAVAILABLE' })
      expect((await r.client().get(r.url('pub.localhost', '/'), { headers: api })).status).toBe(200)
      expect((await r.client().get(r.url('app.localhost', '/readyz'))).status).toBe(503)
    }
    // Nothing that needed a session was forwarded while the store was away.
    expect(appRequests()).toBe(reachedBefore)

    await proxy.restore()
    for (const r of [a, b]) {
      await expect.poll(async () => (await alice.get(r.url('app.localhost', '/'), { headers: api })).status, { timeout: 15_000, interval: 100 }).toBe(200)
      const ready = await r.client().get(r.url('app.localhost', '/readyz'))
      expect(ready.status).toBe(200)
      // The server's product and version, not its build details (the endpoint is public).
      expect(await ready.json()).toMatchObject({ checks: { session_store: true }, session_store_version: expect.stringMatching(/^PostgreSQL \d+(\.\d+)*$/) })
    }
  })
})

describe.skipIf(!hasPostgres)('operator commands on Postgres', () => {
  it('sessions list and revoke --user, and check --online reports the server version', async () => {
    const [a] = await replicas(POSTGRES_URL)
    const bob = a.client()
    await a.signIn(bob, a.url('app.localhost', '/'), 'bob')
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-cli-'))
    // Pomerium's shape: the connection string in its own file.
    writeFileSync(join(dir, 'dsn'), POSTGRES_URL + '\n')
    const file = writeOperatorConfig(a, `databroker_storage_type: postgres\ndatabroker_storage_connection_string_file: ${join(dir, 'dsn')}`, dir)
    await expectCliListsAndRevokesBob(a, file, bob)

    const online = await runCli(['check', '--online', '-c', file])
    expect(online.code).toBe(0)
    expect(online.all).toMatch(/ok {4}Postgres session store reachable at 127\.0\.0\.1:5432\/\S+: PostgreSQL \d+/)

    writeFileSync(join(dir, 'dsn'), 'postgresql://postgres@127.0.0.1:1/nothing\n')
    const down = await runCli(['check', '--online', '-c', file])
    expect(down.code).toBe(1)
    expect(down.all).toMatch(/FAIL {2}Postgres session store: cannot use 127\.0\.0\.1:1\/nothing/)
  })
})
