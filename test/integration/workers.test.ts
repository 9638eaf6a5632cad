/**
 * `gatehouse serve` with `workers: 2` on Redis: the real CLI in its own
 * process (a node:cluster primary and two workers), the local IdP over HTTP,
 * real upstreams. Which worker served a request is read from the access log:
 * requests carry their own X-Request-Id (kept because the test's address is a
 * trusted proxy), and every worker's log line carries its `worker` number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDevIdp, type DevIdp } from '../../src/devidp/index.js'
import { startWhoami, type Whoami } from '../../src/demo/whoami.js'
import { createHttpClient, type HttpClient } from '../helpers/http-client.js'
import { listenLocal, type LocalServer } from '../helpers/local-server.js'
import { REDIS_URL, requireRedis } from '../helpers/requirements.js'
import { CLIENT_ID, CLIENT_SECRET, freePort } from '../helpers/stack.js'
import { signInAtIdp } from '../helpers/idp-login.js'

const hasRedis = await requireRedis()
const api = { accept: 'application/json' }

interface LogLine {
  readonly msg: string
  readonly worker?: number
  readonly reqId?: string
  readonly status?: number
  readonly path?: string
  readonly pid?: number
  readonly [k: string]: unknown
}

/** An upstream that holds every request until released, and says which request ids it holds. */
function holdingUpstream(): { server: http.Server; held: string[]; release(): void; arrived(n: number): Promise<void> } {
  let pending: Array<() => void> = []
  const held: string[] = []
  const waiters: Array<{ n: number; resolve: () => void }> = []
  const server = http.createServer((req, res) => {
    held.push(String(req.headers['x-request-id']))
    pending.push(() => res.end('held and released'))
    for (const w of waiters.filter((x) => held.length >= x.n)) w.resolve()
  })
  return {
    server,
    held,
    release() {
      const p = pending
      pending = []
      held.length = 0
      for (const f of p) f()
    },
    arrived: (n) => (held.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  }
}

describe.skipIf(!hasRedis)('workers: 2 on Redis (the real CLI: a primary and two worker processes)', () => {
  let child: ChildProcess
  let exited: Promise<number | null>
  const logs: LogLine[] = []
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = []
  let output = ''
  let idp: DevIdp
  let upstream: Whoami
  let hold: ReturnType<typeof holdingUpstream>
  let holdServer: LocalServer
  let port: number
  let metricsPort: number
  let file: string
  let config: (extraRoutes: string) => string
  let seq = 0
  let alice: HttpClient
  let aliceAllowed = 0

  const url = (host: string, path = '/'): string => `http://${host}.localhost:${port}${path}`
  /** The first log line (already written, or still to come) that matches. */
  function waitForLog(pred: (l: LogLine) => boolean): Promise<LogLine> {
    const found = logs.find(pred)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise((resolve) => waiters.push({ pred, resolve }))
  }
  const workerOf = async (reqId: string): Promise<number> => (await waitForLog((l) => l.msg === 'request' && l.reqId === reqId)).worker as number
  /** A request on a connection of its own (so that the cluster may give it to any worker), tagged with a request id. */
  async function tagged(client: HttpClient, target: string, headers: Record<string, string> = api): Promise<{ id: string; status: number; body: string }> {
    const id = `t${process.pid}-${++seq}`
    const res = await client.get(target, { headers: { ...headers, 'x-request-id': id } })
    return { id, status: res.status, body: await res.text() }
  }

  beforeAll(async () => {
    port = await freePort()
    metricsPort = await freePort()
    upstream = await startWhoami({ jwksUrl: () => new URL(`http://127.0.0.1:${port}/.well-known/gatehouse/jwks.json`) })
    hold = holdingUpstream()
    holdServer = await listenLocal(hold.server)
    const hosts = ['app', 'extra']
    idp = await startDevIdp({
      users: [
        { username: 'alice', password: 'alice', sub: '00u1alice', email: 'alice@example.com', name: 'Alice', groups: ['admin', 'eng'] },
        { username: 'bob', password: 'bob', sub: '00u1bob', email: 'bob@example.com', name: 'Bob', groups: ['eng'] },
      ],
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: hosts.map((h) => `http://${h}.localhost:${port}/.gatehouse/callback`),
          post_logout_redirect_uris: hosts.map((h) => `http://${h}.localhost:${port}/.gatehouse/signed_out`),
        },
      ],
    })
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-workers-'))
    file = join(dir, 'gatehouse.yaml')
    config = (extraRoutes) => `address: 127.0.0.1:${port}
insecure_server: true
idp_provider_url: ${idp.issuer}
idp_client_id: ${CLIENT_ID}
idp_client_secret: ${CLIENT_SECRET}
cookie_secret: ${randomBytes(32).toString('base64')}
databroker_storage_type: redis
databroker_storage_connection_string: ${REDIS_URL}
metrics_address: 127.0.0.1:${metricsPort}
trusted_proxies: [127.0.0.1/32]
workers: 2
routes:
  - from: http://app.localhost:${port}
    prefix: /slow
    to: ${holdServer.url}
    allow_any_authenticated_user: true
  - from: http://app.localhost:${port}
    to: ${upstream.url}
    allow_any_authenticated_user: true
${extraRoutes}`
    const secretLine = (text: string): string => /^cookie_secret: .*$/m.exec(text)?.[0] ?? ''
    const first = config('')
    const fixedSecret = secretLine(first)
    const make = config
    config = (extraRoutes) => make(extraRoutes).replace(/^cookie_secret: .*$/m, fixedSecret)
    writeFileSync(file, first)
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    let partial = ''
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (d: string) => {
      output += d
      const lines = (partial + d).split('\n')
      partial = lines.pop() ?? ''
      for (const text of lines) {
        if (text.trim() === '') continue
        const line = JSON.parse(text) as LogLine
        logs.push(line)
        for (const w of waiters.filter((x) => x.pred(line))) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    })
    child.stderr?.on('data', (d) => (output += d))
    await Promise.race([
      waitForLog((l) => l.msg === 'metrics listening'),
      exited.then((code) => Promise.reject(new Error(`gatehouse exited with ${code}: ${output}`))),
    ])
    alice = createHttpClient({ keepAlive: false })
  }, 60_000)

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    hold?.release()
    await holdServer?.close()
    await upstream?.close()
    await idp?.close()
  })

  async function signIn(client: HttpClient, username: string): Promise<{ start: number; callback: number }> {
    const startId = `t${process.pid}-${++seq}`
    const res = await client.get(url('app'), { headers: { accept: 'text/html', 'x-request-id': startId } })
    expect(res.status).toBe(302)
    const login = await client.follow(res, url('app'))
    const done = await signInAtIdp(client, login, { username, password: username }, (u) => u.pathname === '/.gatehouse/callback')
    // The callback, on a connection of its own: whichever worker the cluster gives it to.
    const callback = await tagged(client, done.url.href, { accept: 'text/html' })
    expect(callback.status).toBe(302)
    return { start: await workerOf(startId), callback: await workerOf(callback.id) }
  }

  it('starts two workers, each in its own process, behind one listener', async () => {
    const started = logs.filter((l) => l.msg === 'worker listening')
    expect(started.map((l) => l.worker).sort()).toEqual([1, 2])
    expect(new Set(started.map((l) => l.pid)).size).toBe(2)
    expect(logs.find((l) => l.msg === 'gatehouse listening' && l.workers === 2)).toBeDefined()
  })

  it('signs in whichever worker the callback lands on, and the session is good on both', async () => {
    const a = await signIn(alice, 'alice')
    const bob = createHttpClient({ keepAlive: false })
    const b = await signIn(bob, 'bob')
    // Fresh connections are handed to the workers in turn: a callback landed on another worker than its sign-in started on.
    expect(a.start !== a.callback || b.start !== b.callback).toBe(true)
  })

  it('many requests spread over both workers are all allowed, with an assertion that verifies', async () => {
    const results = []
    for (let batch = 0; batch < 5; batch++) results.push(...(await Promise.all(Array.from({ length: 8 }, () => tagged(alice, url('app'))))))
    expect(results.map((r) => r.status)).toEqual(Array(40).fill(200))
    aliceAllowed += 40
    for (const r of results) {
      const seen = JSON.parse(r.body) as { headers: Record<string, string>; assertion: { valid: boolean; claims: { email: string } } }
      expect(seen.assertion).toMatchObject({ valid: true, claims: { email: 'alice@example.com' } })
    }
    const workers = await Promise.all(results.map((r) => workerOf(r.id)))
    expect(workers.filter((w) => w === 1).length).toBeGreaterThan(5)
    expect(workers.filter((w) => w === 2).length).toBeGreaterThan(5)
  })

  it('sign-out on one worker ends the session on both at once (each had it cached)', async () => {
    const carol = createHttpClient({ keepAlive: false })
    await signIn(carol, 'bob')
    // Both workers read (and cache) the session.
    const warm = await Promise.all(Array.from({ length: 6 }, () => tagged(carol, url('app'))))
    expect(warm.map((r) => r.status)).toEqual(Array(6).fill(200))
    expect(new Set(await Promise.all(warm.map((r) => workerOf(r.id))))).toEqual(new Set([1, 2]))
    const cookie = carol.cookieHeader(new URL(url('app')))
    const confirm = await carol.get(url('app', '/.gatehouse/sign_out'), { headers: { accept: 'text/html' } })
    const csrf = /name="csrf" value="([^"]+)"/.exec(await confirm.text())?.[1] ?? ''
    const out = await carol.request(url('app', '/.gatehouse/sign_out'), {
      method: 'POST',
      body: new URLSearchParams({ csrf }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': `t${process.pid}-signout` },
    })
    expect(out.status).toBe(302)
    const signedOutBy = await workerOf(`t${process.pid}-signout`)
    const replay = await Promise.all(Array.from({ length: 8 }, () => tagged(createHttpClient({ keepAlive: false }), url('app'), { ...api, cookie })))
    expect(replay.map((r) => r.status)).toEqual(Array(8).fill(401))
    const refusedBy = new Set(await Promise.all(replay.map((r) => workerOf(r.id))))
    expect(refusedBy).toEqual(new Set([1, 2]))
    expect(refusedBy).toContain(signedOutBy === 1 ? 2 : 1)
  })

  it('/metrics is served once and counts the requests of both workers', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN)
    const perWorker = [1, 2].map((w) => value(new RegExp(`^gatehouse_worker_requests_total\\{worker="${w}"\\} (\\d+)$`, 'm')))
    expect(perWorker[0]).toBeGreaterThan(0)
    expect(perWorker[1]).toBeGreaterThan(0)
    const total = [...text.matchAll(/^gatehouse_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0)
    expect(total).toBe((perWorker[0] ?? 0) + (perWorker[1] ?? 0))
    // Alice's allowed requests (40 spread, plus the page each sign-in lands on is not hers): at least the 40, all counted once.
    expect(value(new RegExp(`^gatehouse_requests_total\\{route="app.localhost:${port}",outcome="allow",status="200"\\} (\\d+)$`, 'm'))).toBeGreaterThanOrEqual(
      aliceAllowed,
    )
    expect(text).toMatch(/^gatehouse_workers 2$/m)
    expect(text).toMatch(/^gatehouse_config_last_reload_success 1$/m)
  })

  it('a reload reaches both workers; an invalid file is refused with its position and both keep serving', async () => {
    const extra = `  - from: http://extra.localhost:${port}\n    to: ${upstream.url}\n    allow_public_unauthenticated_access: true\n`
    const reloaded = waitForLog((l) => l.msg === 'config reloaded')
    writeFileSync(file + '.tmp', config(extra))
    renameSync(file + '.tmp', file)
    expect(await reloaded).toMatchObject({ routes: 3, workers: 2 })
    const anyone = createHttpClient({ keepAlive: false })
    const served = await Promise.all(Array.from({ length: 8 }, () => tagged(anyone, url('extra'))))
    expect(served.map((r) => r.status)).toEqual(Array(8).fill(200))
    expect(new Set(await Promise.all(served.map((r) => workerOf(r.id))))).toEqual(new Set([1, 2]))

    const refused = waitForLog((l) => l.msg === 'config reload refused; the previous config keeps serving')
    writeFileSync(file, config(extra.replace('allow_public_unauthenticated_access', 'allow_public_unauthenticated_acess')))
    const problems = (await refused).problems as string[]
    expect(problems.join('\n')).toMatch(/gatehouse\.yaml:2[0-9]:5 routes\[2\]\.allow_public_unauthenticated_acess: unknown route key/)
    const still = await Promise.all(Array.from({ length: 8 }, () => tagged(anyone, url('extra'))))
    expect(still.map((r) => r.status)).toEqual(Array(8).fill(200))
    expect(new Set(await Promise.all(still.map((r) => workerOf(r.id))))).toEqual(new Set([1, 2]))
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    expect(text).toMatch(/^gatehouse_config_last_reload_success 0$/m)
  })

  it('a worker killed with SIGKILL is replaced, and no request in flight on the other worker fails', async () => {
    // Settled as they come: the requests on the killed worker fail while the others still wait.
    const inFlight = Array.from({ length: 6 }, () =>
      tagged(alice, url('app', '/slow')).then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      ),
    )
    await hold.arrived(6)
    const pids = new Map(logs.filter((l) => l.msg === 'worker listening').map((l) => [l.worker as number, l.pid as number]))
    const victim = 1
    process.kill(pids.get(victim) as number, 'SIGKILL')
    const replaced = waitForLog((l) => l.msg === 'worker listening' && l.worker === victim && l.replacement === true)
    await waitForLog((l) => l.msg === 'worker exited unexpectedly; starting a replacement' && l.worker === victim)
    hold.release()
    const settled = await Promise.all(inFlight)
    // The killed worker's connections are cut (a connection error, no answer); every answer that came is the upstream's.
    const answered = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
    expect(answered.map((r) => [r.status, r.body])).toEqual(answered.map(() => [200, 'held and released']))
    expect(new Set(await Promise.all(answered.map((r) => workerOf(r.id))))).toEqual(new Set([2]))
    expect(answered.length).toBeGreaterThan(0)
    expect(answered.length).toBeLessThan(settled.length)
    // The replacement serves; alice's session still works on both.
    await replaced
    const after = []
    for (let i = 0; i < 6; i++) after.push(await tagged(alice, url('app')))
    expect(after.map((r) => r.status)).toEqual(Array(6).fill(200))
    expect(new Set(await Promise.all(after.map((r) => workerOf(r.id))))).toEqual(new Set([1, 2]))
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
    expect(text).toMatch(/^gatehouse_worker_restarts_total\{worker="1"\} 1$/m)
    expect(text).toMatch(/^gatehouse_workers 2$/m)
  })

  it('SIGTERM drains both workers: requests in flight on each finish, then the process exits 0', async () => {
    const inFlight = Array.from({ length: 6 }, () => tagged(alice, url('app', '/slow')))
    await hold.arrived(6)
    child.kill('SIGTERM')
    await waitForLog((l) => l.msg === 'shutting down: draining requests in flight')
    await Promise.all([1, 2].map((w) => waitForLog((l) => l.msg === 'worker draining requests in flight' && l.worker === w)))
    hold.release()
    const results = await Promise.all(inFlight)
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(200))
    expect(new Set(await Promise.all(results.map((r) => workerOf(r.id))))).toEqual(new Set([1, 2]))
    expect(await exited).toBe(0)
    expect(logs.filter((l) => l.msg === 'worker stopped').map((l) => l.worker)).toEqual(expect.arrayContaining([1, 2]))
    expect(logs.at(-1)?.msg).toBe('stopped')
    await expect(createHttpClient({ keepAlive: false }).get(url('app'))).rejects.toThrow()
  })
})
