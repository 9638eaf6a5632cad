/**
 * Two gatehouse replicas on one PostgreSQL, configured as Pomerium's HA
 * configs are (databroker_storage_type: postgres + a connection string):
 * sign-in shared, one refresh across replicas, sign-out everywhere at once,
 * fail closed while Postgres is away and recover by itself; the operator
 * commands and `check --online` against the same database.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../src/cli.js'
import { CLIENT_ID, CLIENT_SECRET, freePort, ROUTES_APP_ADMIN, startStack, type Stack } from '../helpers/stack.js'
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

function clock() {
  let offset = 0
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) }
}

/** Two replicas sharing one IdP, one cookie secret and one Postgres (reached through `dsn`). */
async function replicas(dsn: string, now?: () => number): Promise<[Stack, Stack]> {
  const portA = await freePort()
  const portB = await freePort()
  const cookieSecret = randomBytes(32).toString('base64')
  const extra = `session_refresh_interval: 1m\ndatabroker_storage_type: postgres\ndatabroker_storage_connection_string: ${dsn}\n`
  const routes = (ctx: { upstream: string; port: number }): string => ROUTES_APP_ADMIN(ctx) + PUBLIC(ctx)
  const hosts = ['app.localhost', 'admin.localhost', 'pub.localhost']
  const a = await startStack({ routes, hosts, extra, cookieSecret, port: portA, alsoPorts: [portB], ...(now === undefined ? {} : { now }) })
  closers.push(() => a.close())
  const b = await startStack({ routes, hosts, extra, cookieSecret, port: portB, sharedIdp: a.idp, ...(now === undefined ? {} : { now }) })
  closers.push(() => b.close())
  return [a, b]
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

    const confirm = await alice.get(b.url('app.localhost', '/.gatehouse/sign_out'), { headers: { accept: 'text/html' } })
    const csrf = /name="csrf" value="([^"]+)"/.exec(await confirm.text())?.[1] ?? ''
    const cookie = alice.cookieHeader(new URL(a.url('app.localhost')))
    expect((await alice.post(b.url('app.localhost', '/.gatehouse/sign_out'), { csrf })).status).toBe(302)
    const replay = await a.client().get(a.url('app.localhost', '/'), { headers: { ...api, cookie } })
    expect(replay.status).toBe(401)
  })

  it('twenty concurrent requests at refresh time, spread over both replicas, cause exactly one refresh at the IdP', async () => {
    const c = clock()
    const [a, b] = await replicas(POSTGRES_URL, c.now)
    const bob = a.client()
    await a.signIn(bob, a.url('app.localhost', '/'), 'bob')
    const before = a.idp.counters.refreshGrants
    c.advance(61_000)
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => bob.get((i % 2 === 0 ? a : b).url('app.localhost', '/'), { headers: api })))
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(a.idp.counters.refreshGrants - before).toBe(1)
    expect(a.idp.counters.refreshFailures).toBe(0)
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
      expect((await r.client().get(r.url('app.localhost', '/readyz'))).status).toBe(200)
    }
  })
})

describe.skipIf(!hasPostgres)('operator commands on Postgres', () => {
  it('sessions list and revoke --user, and check --online reports the server version', async () => {
    const [a] = await replicas(POSTGRES_URL)
    const bob = a.client()
    await a.signIn(bob, a.url('app.localhost', '/'), 'bob')
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-cli-'))
    const file = join(dir, 'pomerium.yaml')
    // Pomerium's shape: the connection string in its own file.
    writeFileSync(join(dir, 'dsn'), POSTGRES_URL + '\n')
    writeFileSync(
      file,
      [
        'insecure_server: true',
        `idp_provider_url: ${a.idp.issuer}`,
        `idp_client_id: ${CLIENT_ID}`,
        `idp_client_secret: ${CLIENT_SECRET}`,
        `cookie_secret: ${a.cookieSecret}`,
        'databroker_storage_type: postgres',
        `databroker_storage_connection_string_file: ${join(dir, 'dsn')}`,
        'routes:',
        `  - from: http://app.localhost:${a.port}`,
        '    to: http://127.0.0.1:1',
        '    allow_any_authenticated_user: true',
        '',
      ].join('\n'),
    )
    let out = ''
    const io = { stdout: (t: string) => void (out += t), stderr: (t: string) => void (out += t), env: {}, cwd: process.cwd() }
    expect(await main(['sessions', 'list', '-c', file, '--user', 'bob@example.com'], io)).toBe(0)
    expect(out).toMatch(/bob@example.com/)
    expect(await main(['sessions', 'revoke', '-c', file, '--user', 'bob@example.com'], io)).toBe(0)
    expect(out).toMatch(/revoked [1-9]/)
    expect((await bob.get(a.url('app.localhost', '/'), { headers: api })).status).toBe(401)

    out = ''
    expect(await main(['check', '--online', '-c', file], io)).toBe(0)
    expect(out).toMatch(/ok {4}Postgres session store reachable at 127\.0\.0\.1:5432\/\S+: PostgreSQL \d+/)

    writeFileSync(join(dir, 'dsn'), 'postgresql://postgres@127.0.0.1:1/nothing\n')
    out = ''
    expect(await main(['check', '--online', '-c', file], io)).toBe(1)
    expect(out).toMatch(/FAIL {2}Postgres session store: cannot use 127\.0\.0\.1:1\/nothing/)
  })
})
