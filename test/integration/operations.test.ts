import { afterAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { loadConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/server/telemetry/logger.js'
import { createMetrics, serveMetrics } from '../../src/server/telemetry/metrics.js'
import { watchAndReload } from '../../src/server/lifecycle/reload.js'
import { startGatehouse } from '../../src/server/lifecycle/start.js'
import { startWhoami } from '../../src/demo/whoami.js'
import { createHttpClient } from '../helpers/http-client.js'
import { freePort, ROUTES_APP_ADMIN, startStack, storeYaml, CLIENT_SECRET } from '../helpers/stack.js'
import { expectCliListsAndRevokesBob } from '../helpers/replica-checks.js'
import { runCli, writeOperatorConfig } from '../helpers/cli.js'
import { REDIS_URL, requireRedis } from '../helpers/requirements.js'

const hasRedis = await requireRedis()
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0
const closers: Array<() => Promise<unknown> | void> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

const api = { accept: 'application/json' }
const SECRET = 'fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk='

function configText(port: number, upstream: string, routes: string): string {
  return `address: 127.0.0.1:${port}
insecure_server: true
idp_provider_url: http://127.0.0.1:1/oauth2/default
idp_client_id: x
idp_client_secret: y
cookie_secret: ${SECRET}
metrics_address: 127.0.0.1:0
routes:
${routes.replace(/UPSTREAM/g, upstream).replace(/PORT/g, String(port))}`
}
const ROUTE_A = `  - from: http://a.localhost:PORT
    to: UPSTREAM
    allow_public_unauthenticated_access: true
`
const ROUTE_B = `  - from: http://b.localhost:PORT
    to: UPSTREAM
    allow_public_unauthenticated_access: true
`

function nextReload(): { wait: Promise<'applied' | 'refused'>; hook: (r: 'applied' | 'refused') => void } {
  let hook!: (r: 'applied' | 'refused') => void
  const wait = new Promise<'applied' | 'refused'>((resolve) => (hook = resolve))
  return { wait, hook }
}

async function fileBacked(dir: string, file: string) {
  const up = await startWhoami()
  closers.push(() => up.close())
  const port = await freePort()
  writeFileSync(file, configText(port, up.url, ROUTE_A))
  const loaded = loadConfig({ file, env: {} })
  if ('problems' in loaded) throw new Error(JSON.stringify(loaded.problems))
  const logs: string[] = []
  const log = createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => void (logs.push(c.toString()), cb()) }))
  const metrics = createMetrics()
  const gh = await startGatehouse({ config: loaded.config, log, metrics })
  closers.push(() => gh.close())
  let pending = nextReload()
  const watcher = watchAndReload({ file, env: {}, gh, log, metrics, debounceMs: 50, onReload: (r) => pending.hook(r) })
  closers.push(() => watcher.close())
  return { gh, up, port, logs, metrics, watcher, reloaded: () => pending.wait.then((r) => ((pending = nextReload()), r)) }
}

describe('configuration reload', () => {
  it('a valid change is swapped in; an invalid one is refused with its position and the old config keeps serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-'))
    const file = join(dir, 'gatehouse.yaml')
    const f = await fileBacked(dir, file)
    const c = createHttpClient()
    expect((await c.get(`http://b.localhost:${f.port}/`, { headers: api })).status).toBe(404)

    // An editor that writes a new file and renames it over the old one.
    writeFileSync(file + '.tmp', configText(f.port, f.up.url, ROUTE_A + ROUTE_B))
    renameSync(file + '.tmp', file)
    expect(await f.reloaded()).toBe('applied')
    expect((await c.get(`http://b.localhost:${f.port}/`, { headers: api })).status).toBe(200)

    writeFileSync(
      file,
      configText(f.port, f.up.url, ROUTE_A + ROUTE_B).replace('allow_public_unauthenticated_access: true\n', 'allow_public_unauthenticated_acess: true\n'),
    )
    expect(await f.reloaded()).toBe('refused')
    expect(f.logs.join('')).toMatch(/gatehouse.yaml:1[0-9]:5 routes\[0\].allow_public_unauthenticated_acess: unknown route key/)
    expect((await c.get(`http://b.localhost:${f.port}/`, { headers: api })).status).toBe(200)
    const text = await f.metrics.registry.getSingleMetricAsString('gatehouse_config_last_reload_success')
    expect(text).toMatch(/gatehouse_config_last_reload_success 0/)
  })

  it('follows a Kubernetes ConfigMap symlink swap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cm-'))
    mkdirSync(join(dir, 'v1'))
    const f0 = join(dir, 'v1', 'gatehouse.yaml')
    writeFileSync(f0, 'placeholder')
    symlinkSync('v1', join(dir, '..data'))
    symlinkSync(join('..data', 'gatehouse.yaml'), join(dir, 'gatehouse.yaml'))
    const f = await fileBacked(dir, join(dir, 'gatehouse.yaml'))
    mkdirSync(join(dir, 'v2'))
    writeFileSync(join(dir, 'v2', 'gatehouse.yaml'), configText(f.port, f.up.url, ROUTE_A + ROUTE_B))
    symlinkSync('v2', join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
    expect(await f.reloaded()).toBe('applied')
    expect((await createHttpClient().get(`http://b.localhost:${f.port}/`, { headers: api })).status).toBe(200)
  })
})

describe('metrics and shutdown', () => {
  it('serves Prometheus metrics on their own listener', async () => {
    const s = await startStack({ routes: ROUTES_APP_ADMIN })
    closers.push(() => s.close())
    const m = await serveMetrics(s.gh.metrics, { host: '127.0.0.1', port: 0 })
    closers.push(() => m.close())
    const c = s.client()
    await s.signIn(c, s.url('admin.localhost', '/'), 'bob')
    const text = await (await fetch(m.url)).text()
    expect(text).toMatch(/gatehouse_requests_total\{route="admin.localhost:\d+",outcome="deny",status="403"\} [1-9]/)
    expect(text).toMatch(/gatehouse_denials_total\{route="admin.localhost:\d+",criterion="groups"\}/)
    expect(text).toMatch(/gatehouse_jwks_fetches_total\{result="ok"\}/)
    expect(text).toContain('gatehouse_config_last_reload_success 1')
  })

  it('SIGTERM-style close lets requests in flight finish and takes no new ones', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const http = await import('node:http')
    const slow = http.createServer((_req, res) => void gate.then(() => res.end('finished')))
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r))
    closers.push(() => new Promise((r) => slow.close(r)))
    const port = await freePort()
    const loaded = loadConfig({
      file: 'x.yaml',
      env: {},
      readFile: () => configText(port, `http://127.0.0.1:${(slow.address() as import('node:net').AddressInfo).port}`, ROUTE_A),
    })
    if ('problems' in loaded) throw new Error('config')
    const gh = await startGatehouse({ config: loaded.config, log: createLogger('error', new Writable({ write: (_c, _e, cb) => cb() })) })
    let seenArrival!: () => void
    const arrived = new Promise<void>((r) => (seenArrival = r))
    slow.once('request', () => seenArrival())
    const inFlight = createHttpClient().get(`http://a.localhost:${port}/`)
    await arrived
    const closing = gh.close()
    release()
    const res = await inFlight
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('finished')
    await closing
    await expect(createHttpClient().get(`http://a.localhost:${port}/`)).rejects.toThrow()
  })
})

describe.skipIf(!hasRedis || !hasRedisServer)('Redis outage', () => {
  it('fails closed (503) for session routes, keeps public routes up, is not ready, and recovers by itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'))
    const redisPort = await freePort()
    const start = (): ChildProcess =>
      spawn(
        'redis-server',
        ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', 'dump.rdb', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      )
    const waitUp = async (): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        if (
          spawnSync('redis-cli', ['-p', String(redisPort), 'ping'])
            .stdout?.toString()
            .includes('PONG')
        )
          return
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error('redis did not start')
    }
    let redis = start()
    closers.push(() => void redis.kill())
    await waitUp()
    const s = await startStack({
      routes: (ctx) =>
        ROUTES_APP_ADMIN(ctx) + `  - from: http://pub.localhost:${ctx.port}\n    to: ${ctx.upstream}\n    allow_public_unauthenticated_access: true\n`,
      hosts: ['app.localhost', 'admin.localhost', 'pub.localhost'],
      extra: `databroker_storage_type: redis\ndatabroker_storage_connection_string: redis://127.0.0.1:${redisPort}\n`,
    })
    closers.push(() => s.close())
    const alice = s.client()
    await s.signIn(alice, s.url('app.localhost', '/'), 'alice')
    // Stop Redis, keeping its data on disk (as a restart with persistence would).
    spawnSync('redis-cli', ['-p', String(redisPort), 'shutdown', 'save'])
    await new Promise((r) => redis.once('exit', r))
    const down = await alice.get(s.url('app.localhost', '/'), { headers: api })
    expect(down.status).toBe(503)
    expect(await down.json()).toMatchObject({ error: 'session_store_unavailable', code: 'SESSION_STORE_UNAVAILABLE' })
    expect((await alice.get(s.url('app.localhost', '/'), { headers: { accept: 'text/html' } })).status).toBe(503)
    expect((await s.client().get(s.url('pub.localhost', '/'), { headers: api })).status).toBe(200)
    expect((await s.client().get(s.url('app.localhost', '/readyz'))).status).toBe(503)
    redis = start()
    await waitUp()
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await alice.get(s.url('app.localhost', '/'), { headers: api })).status
      if (status !== 200) await new Promise((r) => setTimeout(r, 100))
    }
    expect(status).toBe(200)
    expect((await s.client().get(s.url('app.localhost', '/readyz'))).status).toBe(200)
  })
})

describe.skipIf(!hasRedis)('operator commands', () => {
  it('sessions list and revoke --user against Redis', async () => {
    const cookieSecret = SECRET
    const s = await startStack({
      routes: ROUTES_APP_ADMIN,
      cookieSecret,
      extra: storeYaml('redis', REDIS_URL),
    })
    closers.push(() => s.close())
    const bob = s.client()
    await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
    const file = writeOperatorConfig(s, storeYaml('redis', REDIS_URL))
    await expectCliListsAndRevokesBob(s, file, bob)

    const online = await runCli(['check', '--online', '-c', file])
    expect(online.code).toBe(0)
    expect(online.all).toContain('client credentials accepted')
    expect(online.all).toContain(`http://app.localhost:${s.port}/.gatehouse/callback`)
    writeFileSync(file, readFileSync(file, 'utf8').replace(CLIENT_SECRET, 'wrong-secret'))
    const refused = await runCli(['check', '--online', '-c', file])
    expect(refused.code).toBe(1)
    expect(refused.all).toMatch(/FAIL {2}client credentials: the IdP rejected gatehouse's client credentials/)
  })

  it("sessions list and revoke by the IdP's subject (--sub) and session id (--sid), on Redis", async () => {
    // The command reads the store under its default key prefix, which other tests share: people of this test's own.
    const tag = Date.now().toString(36)
    const dana = { username: 'dana', password: 'dana', sub: `00u1dana${tag}`, email: `dana-${tag}@example.com`, name: 'Dana', groups: ['eng'] }
    const erin = { username: 'erin', password: 'erin', sub: `00u1erin${tag}`, email: `erin-${tag}@example.com`, name: 'Erin', groups: ['eng'] }
    const s = await startStack({
      routes: ROUTES_APP_ADMIN,
      cookieSecret: SECRET,
      idp: { users: [dana, erin] },
      extra: storeYaml('redis', REDIS_URL),
    })
    closers.push(() => s.close())
    // Two browsers of dana's (two IdP sessions) and one of erin's.
    const [dana1, dana2, erinsBrowser] = [s.client(), s.client(), s.client()]
    await s.signIn(dana1, s.url('app.localhost', '/'), 'dana')
    await s.signIn(dana2, s.url('app.localhost', '/'), 'dana')
    await s.signIn(erinsBrowser, s.url('app.localhost', '/'), 'erin')
    const file = writeOperatorConfig(s, storeYaml('redis', REDIS_URL))
    const cli = async (...args: string[]): Promise<{ code: number; text: string }> => {
      const r = await runCli(args)
      return { code: r.code, text: r.all }
    }
    const status = async (c: typeof erinsBrowser): Promise<number> => {
      const res = await c.get(s.url('app.localhost', '/'), { headers: api })
      await res.body?.cancel()
      return res.status
    }

    const listed = await cli('sessions', 'list', '-c', file, '--sub', dana.sub)
    expect(listed.code).toBe(0)
    expect(listed.text).toMatch(/^2 sessions$/m)
    expect(listed.text).not.toContain(erin.email)
    const sids = [...listed.text.matchAll(/idp session (\S+)/g)].map((m) => m[1] as string)
    expect(sids).toHaveLength(2)
    expect(new Set(sids).size).toBe(2)
    const one = await cli('sessions', 'list', '-c', file, '--sid', sids[0] as string)
    expect(one.text).toMatch(/^1 session$/m)
    expect(one.text).toContain(`idp session ${sids[0]}`)

    // --sid ends that IdP session's gatehouse session only.
    expect(await cli('sessions', 'revoke', '-c', file, '--sid', sids[0] as string)).toMatchObject({ code: 0, text: 'revoked 1 session\n' })
    expect((await Promise.all([status(dana1), status(dana2)])).sort()).toEqual([200, 401])
    // --sub ends every session of the subject; erin keeps hers.
    expect(await cli('sessions', 'revoke', '-c', file, '--sub', dana.sub)).toMatchObject({ code: 0, text: 'revoked 1 session\n' })
    expect([await status(dana1), await status(dana2), await status(erinsBrowser)]).toEqual([401, 401, 200])
    expect(await cli('sessions', 'revoke', '-c', file, '--sid', 'no-such-idp-session')).toMatchObject({ code: 0, text: 'revoked 0 sessions\n' })

    // Misuse is a usage error, never a revocation.
    expect((await cli('sessions', 'revoke', '-c', file, '--sub', erin.sub, '--sid', 'x')).code).toBe(2)
    expect((await cli('sessions', 'revoke', '-c', file)).code).toBe(2)
    expect((await cli('sessions', 'list', '-c', file, '--sub', erin.sub, '--sid', 'x')).code).toBe(2)
    expect((await cli('sessions', 'list', '-c', file, '--all')).code).toBe(2)
    expect(await status(erinsBrowser)).toBe(200)
  })
})
