/**
 * `npm run bench`: gatehouse side by side with a bare proxy, every server in
 * its own process on 127.0.0.1 and the load from autocannon in another. One
 * run prints a table with ratios against the baseline measured in the same
 * run, PASS/FAIL per target, and writes bench/results/latest.json.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Bench } from 'tinybench'
import { startDevIdp } from '../src/devidp/index.js'
import { compileConfigText } from '../src/config/index.js'
import { createHttpClient, type HttpClient } from '../test/helpers/http-client.js'
import { signInAtIdp } from '../test/helpers/idp-login.js'
import { signInForTokens } from '../test/helpers/okta-flow.js'
import { freePort } from '../test/helpers/stack.js'
import { POSTGRES_URL, requirePostgres, requireRedis, REDIS_URL } from '../test/helpers/requirements.js'

const DURATION_S = Number(process.env.BENCH_DURATION ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const FIXED_RATE = Number(process.env.BENCH_RATE ?? 1000)
const SECRET = 'fBa/6KZJKwft5ejqIxbF/nZrcDrGhtvAVvvm6+2i2Yk='
const NGINX = process.env.NGINX ?? '/usr/sbin/nginx'
// BENCH_LOADGEN=autocannon keeps autocannon for the saturation runs too.
const WRK = process.env.BENCH_LOADGEN === 'autocannon' ? undefined : ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p))
const CORES = availableParallelism()
const children: ChildProcess[] = []
process.on('exit', () => children.forEach((c) => c.kill()))

function forkReady(script: string, args: string[], execArgv: string[] = []): Promise<{ child: ChildProcess; msg: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const child = fork(script, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv })
    children.push(child)
    child.once('message', (msg) => resolve({ child, msg: msg as Record<string, number> }))
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
  })
}

async function serveGatehouse(file: string, port: number, extraArgs: string[] = []): Promise<number | undefined> {
  // BENCH_PROFILE=1 writes a CPU profile of each gatehouse process to bench/results/profiles.
  const prof = process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', '--cpu-prof-dir=bench/results/profiles'] : []
  const child = spawn(process.execPath, [...prof, 'dist/cli.js', 'serve', '-c', file, ...extraArgs], { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  // Up to a minute: compiling the 5 000-route config, or starting a cluster's workers, takes seconds on a loaded machine.
  for (let i = 0; i < 1200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return child.pid
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`gatehouse on ${port} did not become ready`)
}

/** CPU time (user + system, all threads) a process has used, in microseconds; undefined off Linux. */
function cpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    // Fields after the command name: state is 3rd, utime 14th, stime 15th (clock ticks, 100 per second).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return undefined
  }
}

/** A process and its descendants (a gatehouse primary and its workers, nginx's master and workers). */
function processTree(pid: number | undefined): number[] {
  if (pid === undefined) return []
  let children: number[] = []
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((x) => x !== '')
      .map(Number)
  } catch {
    // Not Linux, or gone.
  }
  return [pid, ...children.flatMap(processTree)]
}

/** CPU time of a process tree, in microseconds. */
function treeCpuMicros(pid: number | undefined): number | undefined {
  const pids = processTree(pid)
  let total = 0
  for (const p of pids) {
    const us = cpuMicros(p)
    if (us === undefined) return undefined
    total += us
  }
  return pids.length === 0 ? undefined : total
}

/** Busy CPU time of the whole machine (every core, every process), in microseconds; undefined off Linux. */
function machineBusyMicros(): number | undefined {
  try {
    // cpu  user nice system idle iowait irq softirq steal …, in clock ticks (100 per second).
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)
    return Number.isFinite(busy) && f.length >= 8 ? busy * 10_000 : undefined
  } catch {
    return undefined
  }
}

/**
 * Plain nginx as a reverse proxy to the same upstream, one worker process per
 * core, upstream keep-alive, an access log (buffered, as in production): the
 * physical limit of this machine for a proxy, next to gatehouse's workers.
 * With `verifyPort`, the same nginx asks gatehouse first (auth_request to
 * /.gatehouse/verify over a keep-alive upstream) and copies the identity it
 * answers with, as deploy/nginx/gatehouse-forward-auth.conf does.
 */
async function startNginx(dir: string, upstreamPort: number, port: number, workers: number, verifyPort?: number): Promise<number | undefined> {
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'nginx.conf')
  const verify =
    verifyPort === undefined
      ? ''
      : `
    location = /_gatehouse_verify {
      internal;
      proxy_pass http://gatehouse/.gatehouse/verify;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
    }`
  const check =
    verifyPort === undefined
      ? ''
      : `
      auth_request /_gatehouse_verify;
      auth_request_set $gatehouse_assertion $upstream_http_x_gatehouse_jwt_assertion;
      auth_request_set $gatehouse_user $upstream_http_x_auth_request_user;
      auth_request_set $gatehouse_email $upstream_http_x_auth_request_email;
      auth_request_set $gatehouse_groups $upstream_http_x_auth_request_groups;
      proxy_set_header X-Gatehouse-Jwt-Assertion $gatehouse_assertion;
      proxy_set_header X-Auth-Request-User $gatehouse_user;
      proxy_set_header X-Auth-Request-Email $gatehouse_email;
      proxy_set_header X-Auth-Request-Groups $gatehouse_groups;`
  writeFileSync(
    conf,
    `worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/nginx-access.log combined buffer=64k flush=1s;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream bench_upstream { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  ${verifyPort === undefined ? '' : `upstream gatehouse { server 127.0.0.1:${verifyPort}; keepalive 64; }`}
  server {
    listen 127.0.0.1:${port};${verify}
    location / {${check}
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  )
  const child = spawn(NGINX, ['-c', conf, '-p', dir, '-e', `${dir}/nginx-error.log`, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`)
      return child.pid
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode} (see ${dir}/nginx-error.log)`)
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nginx on ${port} did not start`)
}

interface Load {
  rps: number
  total: number
  p50: number
  p99: number
  non2xx: number
  errors: number
}

/** wrk's duration text ("1.23ms", "850.00us", "1.02s") in milliseconds. */
function wrkMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text ?? '')
  if (m === null) return Number.NaN
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1)
}

/**
 * Saturation load from wrk (C, one thread): it spends about half the CPU per
 * request that autocannon does, which on a small machine is CPU the servers
 * measured get instead of the load generator.
 */
function wrk(url: string, headers: Record<string, string>, connections: number, seconds: number): Promise<Load> {
  const args = ['-t1', '-c', String(connections), '-d', `${seconds}s`, '--latency']
  // wrk adds its own Host unless one is given with this exact spelling.
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k.toLowerCase() === 'host' ? 'Host' : k}: ${v}`)
  args.push(url)
  return new Promise((resolve, reject) => {
    const child = spawn(WRK as string, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('exit', () => {
      const total = /(\d+) requests in ([\d.]+)(m?s)/.exec(out)
      if (total === null) return reject(new Error(`wrk printed no result: ${out.slice(0, 300)}`))
      const secs = Number(total[2]) * (total[3] === 'ms' ? 0.001 : 1)
      const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
      resolve({
        rps: Number(total[1]) / secs,
        total: Number(total[1]),
        p50: wrkMs(/ 50%\s+(\S+)/.exec(out)?.[1]),
        p99: wrkMs(/ 99%\s+(\S+)/.exec(out)?.[1]),
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
        errors: errors === null ? 0 : errors.slice(1).reduce((a, b) => a + Number(b), 0),
      })
    })
  })
}

/** Load at saturation: wrk where it is installed, else autocannon. */
function saturate(url: string, headers: Record<string, string>, seconds = DURATION_S): Promise<Load> {
  return WRK === undefined ? autocannon(url, headers, ['-c', String(CONNECTIONS)], seconds) : wrk(url, headers, CONNECTIONS, seconds)
}

function autocannon(url: string, headers: Record<string, string>, extra: string[], seconds = DURATION_S): Promise<Load> {
  const args = ['node_modules/autocannon/autocannon.js', '-j', '-n', '-d', String(seconds), ...extra]
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`)
  args.push(url)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', () => {
      try {
        if (out.trim() === '') throw new Error(`autocannon printed nothing: ${err.slice(0, 300)}`)
        const j = JSON.parse(out) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }
        resolve({ rps: j.requests.average, total: j.requests.total, p50: j.latency.p50, p99: j.latency.p99, non2xx: j.non2xx, errors: j.errors })
      } catch (err) {
        reject(err)
      }
    })
  })
}

interface Measured {
  saturation: Load
  fixed: Load
  /** The server's own CPU time per request at the fixed rate: a steadier measure than req/s on a small machine. */
  cpuUsPerRequest: number | undefined
  /** Requests/s of each round, in round order (for ratios taken round by round). */
  roundsRps: number[]
  /** The server's CPU per request at saturation (every core it could get). */
  satCpuUsPerRequest: number | undefined
  /** CPU per request of the whole machine at saturation: the server, the load generator, the upstream, Redis, everything. */
  machineUsPerRequest: number | undefined
  /** Cores the whole machine kept busy at saturation. */
  machineCoresBusy: number | undefined
}

interface Scenario {
  readonly name: string
  readonly pid: number | undefined
  readonly url: string
  readonly headers: Record<string, string>
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

function orUndefined(xs: number[] | undefined): number | undefined {
  return xs === undefined || xs.length === 0 ? undefined : median(xs)
}

/** The run whose requests/s is the median, so that its latencies and counts belong together. */
function medianLoad(runs: Load[]): Load {
  const m = median(runs.map((r) => r.rps))
  return runs.reduce((best, r) => (Math.abs(r.rps - m) < Math.abs(best.rps - m) ? r : best))
}

/**
 * Every scenario is measured in ROUNDS rounds, interleaved (2, 3, 4, … then
 * again), and the median round is reported: on a shared machine a neighbour's
 * burst then lands on one round of every scenario instead of on one scenario.
 */
async function measureAll(scenarios: Scenario[]): Promise<Map<string, Measured>> {
  for (const s of scenarios) {
    process.stderr.write(`  warming up: ${s.name}\n`)
    await saturate(s.url, s.headers, 2)
  }
  const sat = new Map<string, Load[]>()
  const fixed = new Map<string, Load[]>()
  const cpu = new Map<string, number[]>()
  const satCpu = new Map<string, number[]>()
  const machine = new Map<string, number[]>()
  const busy = new Map<string, number[]>()
  const push = (m: Map<string, number[]>, k: string, v: number | undefined) => v !== undefined && Number.isFinite(v) && m.set(k, [...(m.get(k) ?? []), v])
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of scenarios) {
      process.stderr.write(`  round ${round}/${ROUNDS}: ${s.name}\n`)
      const [m0, s0, t0] = [machineBusyMicros(), treeCpuMicros(s.pid), performance.now()]
      const load = await saturate(s.url, s.headers)
      const [m1, s1, t1] = [machineBusyMicros(), treeCpuMicros(s.pid), performance.now()]
      sat.set(s.name, [...(sat.get(s.name) ?? []), load])
      if (load.total > 0) {
        if (s0 !== undefined && s1 !== undefined) push(satCpu, s.name, (s1 - s0) / load.total)
        if (m0 !== undefined && m1 !== undefined) {
          push(machine, s.name, (m1 - m0) / load.total)
          push(busy, s.name, (m1 - m0) / ((t1 - t0) * 1000))
        }
      }
      const before = treeCpuMicros(s.pid)
      const f = await autocannon(s.url, s.headers, ['-c', '16', '-R', String(FIXED_RATE)])
      const after = treeCpuMicros(s.pid)
      fixed.set(s.name, [...(fixed.get(s.name) ?? []), f])
      if (before !== undefined && after !== undefined && f.total > 0) cpu.set(s.name, [...(cpu.get(s.name) ?? []), (after - before) / f.total])
    }
  }
  const out = new Map<string, Measured>()
  for (const s of scenarios) {
    const f = fixed.get(s.name) ?? []
    const c = cpu.get(s.name)
    out.set(s.name, {
      saturation: medianLoad(sat.get(s.name) ?? []),
      fixed: { ...medianLoad(f), p50: median(f.map((x) => x.p50)), p99: median(f.map((x) => x.p99)) },
      cpuUsPerRequest: c === undefined || c.length === 0 ? undefined : median(c),
      roundsRps: (sat.get(s.name) ?? []).map((l) => l.rps),
      satCpuUsPerRequest: orUndefined(satCpu.get(s.name)),
      machineUsPerRequest: orUndefined(machine.get(s.name)),
      machineCoresBusy: orUndefined(busy.get(s.name)),
    })
  }
  return out
}

/**
 * Latency at the fixed rate, baseline and gatehouse loaded at the same time
 * (each at the full rate, each by its own autocannon), in ROUNDS rounds. On a
 * shared machine a scheduling stall then lands on both at once, so the
 * difference of their p99s measures gatehouse rather than the neighbours.
 */
async function pairedLatency(a: Scenario, b: Scenario): Promise<{ a: { p50: number; p99: number }; b: { p50: number; p99: number } }> {
  const runs: Array<[Load, Load]> = []
  for (let round = 1; round <= ROUNDS; round++) {
    process.stderr.write(`  paired latency, round ${round}/${ROUNDS}: ${a.name.split(' ')[0]} beside ${b.name.split(' ')[0]}\n`)
    runs.push(
      await Promise.all([
        autocannon(a.url, a.headers, ['-c', '16', '-R', String(FIXED_RATE)]),
        autocannon(b.url, b.headers, ['-c', '16', '-R', String(FIXED_RATE)]),
      ]),
    )
  }
  const pick = (i: 0 | 1) => ({ p50: median(runs.map((r) => r[i].p50)), p99: median(runs.map((r) => r[i].p99)) })
  return { a: pick(0), b: pick(1) }
}

function configText(port: number, issuer: string, upstream: string, extra: string, routes: string): string {
  return `address: 127.0.0.1:${port}\ninsecure_server: true\nidp_provider_url: ${issuer}\nidp_client_id: bench\nidp_client_secret: bench-secret\ncookie_secret: ${SECRET}\nlog_level: ${process.env.BENCH_LOG_LEVEL ?? 'info'}\n${extra}routes:\n${routes.replace(/UPSTREAM/g, upstream).replace(/PORT/g, String(port))}`
}

const ROUTES = `  - from: http://app.localhost:PORT
    to: UPSTREAM
    policy:
      - allow:
          and:
            - groups: eng
  - from: http://admin.localhost:PORT
    to: UPSTREAM
    policy:
      - allow:
          and:
            - groups: admin
  - from: http://pub.localhost:PORT
    to: UPSTREAM
    allow_public_unauthenticated_access: true
  - from: http://api.localhost:PORT
    to: UPSTREAM
    bearer_token_format: idp_access_token
    idp_access_token_allowed_audiences: [api://default]
    policy:
      - allow:
          and:
            - claim/cid: {in: [bench]}
`

async function signIn(host: string, port: number, user: string): Promise<string> {
  const c: HttpClient = createHttpClient()
  const url = `http://${host}:${port}/`
  const first = await c.get(url, { headers: { accept: 'text/html' } })
  const login = await c.follow(first, url)
  await signInAtIdp(c, login, { username: user, password: user })
  return c.cookieHeader(new URL(url))
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'))
  // BENCH_ONLY=4,10,11 measures only those rows (and skips the micro-benchmarks, memory and check measurements).
  const only = process.env.BENCH_ONLY?.split(',')
  const wanted = (...rows: string[]): boolean => only === undefined || rows.some((r) => only.includes(r))
  const hasRedis = await requireRedis().catch(() => false)
  const hasPostgres = await requirePostgres().catch(() => false)
  const [pMem, pRedis, pBig, pPg, pCluster, pNginx, pFa, pFaNginx, pNginx1] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ]
  const up = await forkReady('bench/upstream.mjs', [])
  const upstream = `http://127.0.0.1:${up.msg.port}`
  const base = wanted('2') ? await forkReady('bench/baseline.mjs', [upstream]) : undefined
  const idp = await startDevIdp({
    modelFile: 'config/devidp.yaml',
    clients: [
      {
        client_id: 'bench',
        client_secret: 'bench-secret',
        redirect_uris: [pMem, pRedis, pBig, pPg, pCluster, pFa].flatMap((p) => ['app', 'admin'].map((h) => `http://${h}.localhost:${p}/.gatehouse/callback`)),
      },
    ],
  })

  const memFile = join(dir, 'memory.yaml')
  writeFileSync(memFile, configText(pMem, idp.issuer, upstream, '', ROUTES))
  const redisStore = `databroker_storage_type: redis\ndatabroker_storage_connection_string: ${REDIS_URL}\n`
  const redisFile = join(dir, 'redis.yaml')
  writeFileSync(redisFile, configText(pRedis, idp.issuer, upstream, redisStore, ROUTES))
  const clusterFile = join(dir, 'cluster.yaml')
  writeFileSync(clusterFile, configText(pCluster, idp.issuer, upstream, redisStore, ROUTES))
  const pgFile = join(dir, 'postgres.yaml')
  writeFileSync(
    pgFile,
    configText(pPg, idp.issuer, upstream, `databroker_storage_type: postgres\ndatabroker_storage_connection_string: ${POSTGRES_URL}\n`, ROUTES),
  )
  const many = Array.from(
    { length: 5000 },
    (_, i) =>
      `  - from: http://r${i}.bench.localhost:PORT\n    prefix: /svc${i}/\n    to: UPSTREAM\n    policy:\n      - allow:\n          and:\n            - groups: eng\n`,
  ).join('')
  // gatehouse answering nginx's auth_request: the same routes, nginx (on loopback) trusted to ask.
  const faFile = join(dir, 'forward-auth.yaml')
  writeFileSync(faFile, configText(pFa, idp.issuer, upstream, 'trusted_proxies: [127.0.0.1/32]\n', ROUTES))
  const bigFile = join(dir, 'big.yaml')
  writeFileSync(bigFile, configText(pBig, idp.issuer, upstream, '', ROUTES + many))

  const pidMem = wanted('3', '5', '6', '8', '12') ? await serveGatehouse(memFile, pMem) : undefined
  const pidRedis = hasRedis && wanted('4') ? await serveGatehouse(redisFile, pRedis, ['--workers', '1']) : undefined
  const pidCluster = hasRedis && wanted('10') ? await serveGatehouse(clusterFile, pCluster, ['--workers', 'auto']) : undefined
  const pidPg = hasPostgres && wanted('9') ? await serveGatehouse(pgFile, pPg) : undefined
  const pidBig = wanted('7') ? await serveGatehouse(bigFile, pBig) : undefined
  const pidNginx = wanted('11') ? await startNginx(dir, up.msg.port as number, pNginx, CORES) : undefined
  const pidNginx1 = wanted('14') ? await startNginx(join(dir, 'nginx-1'), up.msg.port as number, pNginx1, 1) : undefined
  const pidFa = wanted('13') ? await serveGatehouse(faFile, pFa) : undefined
  if (wanted('13')) await startNginx(join(dir, 'forward-auth-nginx'), up.msg.port as number, pFaNginx, 1, pFa)

  const bobMem = wanted('3', '5') ? await signIn('app.localhost', pMem, 'bob') : ''
  const scenarios: Scenario[] = []
  const add = (name: string, pid: number | undefined, url: string, headers: () => Promise<Record<string, string>> | Record<string, string>) =>
    wanted(name.split(' ')[0] as string) ? Promise.resolve(headers()).then((h) => void scenarios.push({ name, pid, url, headers: h })) : undefined
  const REDIS_ROW = '4 gatehouse, signed in, allowed (Redis, workers: 1)'
  const POSTGRES_ROW = '9 gatehouse, signed in, allowed (Postgres)'
  const CLUSTER_ROW = `10 gatehouse, signed in, allowed (Redis, workers: auto = ${CORES})`
  await add('1 upstream alone', up.child.pid, `${upstream}/`, () => ({}))
  await add('2 baseline: bare @fastify/http-proxy', base?.child.pid, `http://127.0.0.1:${base?.msg.port}/`, () => ({}))
  await add('3 gatehouse, signed in, allowed (memory)', pidMem, `http://127.0.0.1:${pMem}/`, () => ({
    host: `app.localhost:${pMem}`,
    cookie: bobMem,
    accept: 'application/json',
  }))
  if (hasRedis) {
    await add(REDIS_ROW, pidRedis, `http://127.0.0.1:${pRedis}/`, async () => ({
      host: `app.localhost:${pRedis}`,
      cookie: await signIn('app.localhost', pRedis, 'bob'),
      accept: 'application/json',
    }))
    await add(CLUSTER_ROW, pidCluster, `http://127.0.0.1:${pCluster}/`, async () => ({
      host: `app.localhost:${pCluster}`,
      cookie: await signIn('app.localhost', pCluster, 'bob'),
      accept: 'application/json',
    }))
  }
  if (hasPostgres)
    await add(POSTGRES_ROW, pidPg, `http://127.0.0.1:${pPg}/`, async () => ({
      host: `app.localhost:${pPg}`,
      cookie: await signIn('app.localhost', pPg, 'bob'),
      accept: 'application/json',
    }))
  await add('5 gatehouse, signed in, denied (403)', pidMem, `http://127.0.0.1:${pMem}/`, () => ({
    host: `admin.localhost:${pMem}`,
    cookie: bobMem,
    accept: 'application/json',
  }))
  await add('6 gatehouse, no session (302 to the IdP)', pidMem, `http://127.0.0.1:${pMem}/`, () => ({ host: `app.localhost:${pMem}`, accept: 'text/html' }))
  await add('7 gatehouse, 5 000 routes, the last one', pidBig, `http://127.0.0.1:${pBig}/svc4999/x`, async () => ({
    host: `r4999.bench.localhost:${pBig}`,
    cookie: await signIn('app.localhost', pBig, 'bob'),
    accept: 'application/json',
  }))
  await add('8 gatehouse, public route (forwarding only: no session, no policy)', pidMem, `http://127.0.0.1:${pMem}/`, () => ({
    host: `pub.localhost:${pMem}`,
    accept: 'application/json',
  }))
  // The same request with an Okta access token instead of the cookie: verified once, then answered from the token cache.
  await add('12 gatehouse, bearer access token, allowed (memory)', pidMem, `http://127.0.0.1:${pMem}/`, async () => {
    const t = await signInForTokens(idp, {
      clientId: 'bench',
      secret: 'bench-secret',
      redirectUri: `http://app.localhost:${pMem}/.gatehouse/callback`,
      scope: 'openid email',
      username: 'bob',
      password: 'bob',
    })
    if (typeof t.body.access_token !== 'string') throw new Error(`no access token for the bearer row: ${JSON.stringify(t.body)}`)
    return { host: `api.localhost:${pMem}`, authorization: `Bearer ${t.body.access_token}`, accept: 'application/json' }
  })
  await add(`11 plain nginx, worker_processes ${CORES} (the machine's limit for a proxy)`, pidNginx, `http://127.0.0.1:${pNginx}/`, () => ({}))
  // nginx's own scaling on this machine (11 ÷ 14): what a second worker process can add here at all.
  await add('14 plain nginx, worker_processes 1', pidNginx1, `http://127.0.0.1:${pNginx1}/`, () => ({}))
  // The CPU column of row 13 is gatehouse's alone (the verify answers), to set beside row 3's (gatehouse proxying).
  await add(
    '13 nginx (1 worker) auth_request → gatehouse /.gatehouse/verify (memory), signed in, allowed; CPU: gatehouse',
    pidFa,
    `http://127.0.0.1:${pFaNginx}/`,
    async () => ({ host: `app.localhost:${pFa}`, cookie: await signIn('app.localhost', pFa, 'bob'), accept: 'application/json' }),
  )
  // Measured in an order that puts each compared pair next to each other (4 10 11 14, 11 13, 9 4, 2 3 12 7), so
  // that a slow drift of the machine's load falls on both sides of a ratio alike.
  const ORDER = ['1', '9', '4', '10', '11', '14', '13', '2', '3', '12', '7', '8', '5', '6']
  const byOrder = [...scenarios].sort((a, b) => ORDER.indexOf(a.name.split(' ')[0] as string) - ORDER.indexOf(b.name.split(' ')[0] as string))
  const measured = await measureAll(byOrder)
  const s2 = scenarios.find((x) => x.name.startsWith('2 '))
  const s3 = scenarios.find((x) => x.name.startsWith('3 '))
  const paired = s2 === undefined || s3 === undefined ? undefined : await pairedLatency(s2, s3)
  const rowNumber = (name: string): number => Number(name.split(' ')[0])
  const rows: Array<{ name: string; r: Measured | undefined }> = scenarios.map((s) => ({ name: s.name, r: measured.get(s.name) }))
  if (!hasRedis) for (const name of [REDIS_ROW, CLUSTER_ROW]) if (wanted(name.split(' ')[0] as string)) rows.push({ name, r: undefined })
  if (!hasPostgres && wanted('9')) rows.push({ name: POSTGRES_ROW, r: undefined })
  rows.sort((a, b) => rowNumber(a.name) - rowNumber(b.name))

  const extras = only === undefined || only.includes('extras')
  // Memory per session, with records the size a real sign-in produces.
  const mem = { msg: { bytesPerSession: NaN, heapBytesPerSession: NaN, coldBytesPerSession: NaN } }
  if (extras) {
    const realTokens = await realTokenSizes()
    const memRun = await forkReady('bench/memory-per-session.ts', [JSON.stringify(realTokens)], ['--import', 'tsx', '--expose-gc'])
    mem.msg = {
      bytesPerSession: Number(memRun.msg.bytesPerSession),
      heapBytesPerSession: Number(memRun.msg.heapBytesPerSession),
      coldBytesPerSession: Number(memRun.msg.coldBytesPerSession),
    }
  }

  // gatehouse check on the 5 000-route config.
  let checkMs = NaN
  if (extras) {
    const t0 = performance.now()
    const check = spawnSync(process.execPath, ['dist/cli.js', 'check', '-c', bigFile])
    checkMs = performance.now() - t0
    if (check.status !== 0) throw new Error(`check failed: ${check.stderr.toString()}`)
  }

  // Policy evaluation and route matching, ns/op.
  const compiled = compileConfigText(configText(pBig, idp.issuer, upstream, '', ROUTES + many), 'big.yaml', {})
  if ('problems' in compiled) throw new Error('bench config invalid')
  const cfg = compiled.config
  const route = cfg.routes[0]
  const who = { sub: '00u1', email: 'bob@example.com', name: 'Bob', groups: ['eng'], claims: {} }
  const facts = { method: 'GET', path: '/', sourceIp: '127.0.0.1', isCorsPreflight: false }
  const micro = new Bench({ time: 500 })
  micro.add('policy evaluate (allow)', () => void route?.policy.evaluate(who, facts, 0))
  micro.add('policy evaluate (deny, with reason)', () => void cfg.routes[1]?.policy.evaluate(who, facts, 0))
  micro.add('route match, 5 000 routes, last one', () => void cfg.routeTable.match('r4999.bench.localhost', pBig, '/svc4999/x'))
  if (extras) await micro.run()

  const get = (n: string) => rows.find((r) => r.name.startsWith(`${n} `))?.r
  const b2 = get('2')
  const b3 = get('3')
  const b4 = get('4')
  const b7 = get('7')
  const b9 = get('9')
  const b10 = get('10')
  const b11 = get('11')
  const b12 = get('12')
  const b13 = get('13')
  const b14 = get('14')
  const known = (v: number | undefined): number | undefined => (v === undefined || Number.isNaN(v) ? undefined : v)
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : a / b)
  // Targets compare scenarios measured next to each other in the same round, round by round, and take the median.
  const roundRatio = (a: Measured | undefined, b: Measured | undefined): number | undefined => {
    if (a === undefined || b === undefined) return undefined
    const rs = a.roundsRps.map((x, i) => x / (b.roundsRps[i] ?? Number.NaN)).filter((r) => Number.isFinite(r))
    return rs.length === 0 ? undefined : median(rs)
  }
  const targets = [
    { name: '3 ÷ 2 requests/s ≥ 0.90', value: roundRatio(b3, b2), pass: (v: number) => v >= 0.9 },
    { name: '4 ÷ 2 requests/s ≥ 0.80', value: roundRatio(b4, b2), pass: (v: number) => v >= 0.8 },
    { name: '7 ÷ 3 requests/s ≥ 0.95', value: roundRatio(b7, b3), pass: (v: number) => v >= 0.95 },
    { name: '12 ÷ 3 requests/s ≥ 0.90 (bearer token beside cookie)', value: roundRatio(b12, b3), pass: (v: number) => v >= 0.9 },
    { name: '9 ÷ 4 requests/s ≥ 0.90 (Postgres beside Redis)', value: roundRatio(b9, b4), pass: (v: number) => v >= 0.9 },
    {
      name: `p99 at ${FIXED_RATE} req/s, side by side: 3 − 2 ≤ 1 ms`,
      value: paired === undefined ? undefined : paired.b.p99 - paired.a.p99,
      pass: (v: number) => v <= 1,
    },
    { name: 'memory per session ≤ 2 KiB', value: known(mem.msg.bytesPerSession), pass: (v: number) => v <= 2048 },
    { name: 'check of 5 000 routes < 2 s', value: known(checkMs), pass: (v: number) => v < 2000 },
    { name: `10 ÷ 4 requests/s ≥ 1.40 (workers: auto ÷ workers: 1, ${CORES} cores)`, value: roundRatio(b10, b4), pass: (v: number) => v >= 1.4 },
    { name: '10 ÷ 11 requests/s ≥ 0.55 (workers: auto ÷ plain nginx)', value: roundRatio(b10, b11), pass: (v: number) => v >= 0.55 },
    {
      name: 'CPU per request, 13 ÷ 3 ≤ 1.00 (gatehouse answering verify ÷ gatehouse proxying)',
      value: ratio(b13?.cpuUsPerRequest, b3?.cpuUsPerRequest),
      pass: (v: number) => v <= 1,
    },
    {
      name: 'CPU per request, 10 ÷ 4 ≤ 1.00 (all workers and the primary ÷ the single process)',
      value: ratio(b10?.cpuUsPerRequest, b4?.cpuUsPerRequest),
      pass: (v: number) => v <= 1,
    },
  ]

  const lines: string[] = []
  lines.push(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; median of ${ROUNDS} interleaved ${DURATION_S}s runs, ${CONNECTIONS} connections, fixed rate ${FIXED_RATE} req/s`,
  )
  lines.push(
    `Load: ${WRK === undefined ? 'autocannon' : 'wrk (one thread)'} at saturation, autocannon at the fixed rate. The load generator, the upstream, Redis, the IdP and the server measured all share these ${cpus().length} cores: a row with more server processes takes cores from the load generator and the upstream too.`,
  )
  lines.push('')
  lines.push(
    '| scenario | req/s | ÷ baseline | ÷ nginx | p50 ms @rate | p99 ms @rate | server CPU µs/req @rate | server CPU µs/req saturated | machine CPU µs/req saturated | cores busy | non-2xx |',
  )
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  const fixed2 = (v: number | undefined): string => (v === undefined ? '' : v.toFixed(2))
  const whole = (v: number | undefined): string => (v === undefined ? 'n/a' : String(Math.round(v)))
  for (const { name, r } of rows) {
    if (r === undefined) {
      lines.push(`| ${name} | skipped (no ${name.includes('Postgres') ? 'PostgreSQL' : 'Redis'}) | | | | | | | | | |`)
      continue
    }
    lines.push(
      `| ${name} | ${Math.round(r.saturation.rps)} | ${fixed2(ratio(r.saturation.rps, b2?.saturation.rps))} | ${fixed2(ratio(r.saturation.rps, b11?.saturation.rps))} | ${r.fixed.p50.toFixed(2)} | ${r.fixed.p99.toFixed(2)} | ${whole(r.cpuUsPerRequest)} | ${whole(r.satCpuUsPerRequest)} | ${whole(r.machineUsPerRequest)} | ${fixed2(r.machineCoresBusy)} | ${r.saturation.non2xx} |`,
    )
  }
  lines.push('')
  if (paired !== undefined) {
    lines.push(`| latency at ${FIXED_RATE} req/s, side by side (median of ${ROUNDS}) | p50 ms | p99 ms |`)
    lines.push('|---|---:|---:|')
    lines.push(`| 2 baseline | ${paired.a.p50.toFixed(2)} | ${paired.a.p99.toFixed(2)} |`)
    lines.push(`| 3 gatehouse (memory) | ${paired.b.p50.toFixed(2)} | ${paired.b.p99.toFixed(2)} |`)
    lines.push('')
  }
  if (extras) {
    lines.push('| micro-benchmark | ns/op |')
    lines.push('|---|---:|')
    for (const t of micro.tasks) lines.push(`| ${t.name} | ${Math.round(nsPerOp(t))} |`)
    lines.push(`| resident memory per in-memory session (100 000 more, beside 100 000) | ${Math.round(mem.msg.bytesPerSession)} bytes |`)
    lines.push(`| of which live JavaScript heap | ${Math.round(mem.msg.heapBytesPerSession)} bytes |`)
    lines.push(`| the first 100 000 in a fresh process (young generation and allocator growth included) | ${Math.round(mem.msg.coldBytesPerSession)} bytes |`)
    lines.push(`| gatehouse check, 5 000 routes | ${Math.round(checkMs)} ms |`)
    lines.push('')
  }
  lines.push('| target | value | result |')
  lines.push('|---|---:|---|')
  for (const t of targets.filter((x) => x.value !== undefined || only === undefined))
    lines.push(
      `| ${t.name} | ${t.value === undefined ? 'n/a' : t.value.toFixed(2)} | ${t.value === undefined ? 'SKIPPED' : t.pass(t.value) ? 'PASS' : 'FAIL'} |`,
    )
  // What more processes can add here at all: the cores row 4 left idle, and nginx's own scaling (11 ÷ 14).
  if (b4?.machineCoresBusy !== undefined) {
    const busy4 = b4.machineCoresBusy
    const rest = b4.machineUsPerRequest !== undefined && b4.satCpuUsPerRequest !== undefined ? b4.machineUsPerRequest - b4.satCpuUsPerRequest : undefined
    lines.push('')
    lines.push(
      `Scaling ceiling on this machine: with workers: 1 (row 4) the whole machine kept ${busy4.toFixed(2)} of its ${CORES} cores busy` +
        (rest === undefined
          ? ''
          : `, gatehouse ${whole(b4.satCpuUsPerRequest)} µs of CPU per request and the load generator, upstream and Redis ${Math.round(rest)} µs`) +
        `, so more workers can raise requests/s by at most ${CORES} ÷ ${busy4.toFixed(2)} = ${(CORES / busy4).toFixed(2)}× here even if they cost nothing extra.` +
        (b11 !== undefined && b14 !== undefined
          ? ` Plain nginx in the same run: worker_processes ${CORES} ÷ 1 = ${fixed2(roundRatio(b11, b14))}× (11 ÷ 14).`
          : ''),
    )
  }
  const text = lines.join('\n')
  process.stdout.write(text + '\n')
  mkdirSync('bench/results', { recursive: true })
  writeFileSync(
    only === undefined ? 'bench/results/latest.json' : `bench/results/latest-${only.join('-')}.json`,
    JSON.stringify(
      {
        when: new Date().toISOString(),
        rows,
        micro: micro.tasks.map((t) => ({ name: t.name, nsPerOp: nsPerOp(t) })),
        memoryBytesPerSession: mem.msg.bytesPerSession,
        pairedLatency: paired,
        checkMs,
        targets: targets.map((t) => ({ name: t.name, value: t.value, pass: t.value === undefined ? null : t.pass(t.value) })),
        table: text,
      },
      null,
      2,
    ),
  )
  await idp.close()
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'))))))
}

function nsPerOp(t: { result?: unknown }): number {
  const r = t.result as { latency?: { mean?: number } } | undefined
  return (r?.latency?.mean ?? 0) * 1e6
}

/** Token sizes from a real code flow at the local IdP, for the memory measurement. */
async function realTokenSizes(): Promise<{ idToken: string; accessToken: string; refreshToken: string }> {
  const { createIdentityProvider } = await import('../src/identity/index.js')
  const port = await freePort()
  const idp2 = await startDevIdp({
    modelFile: 'config/devidp.yaml',
    clients: [{ client_id: 'm', client_secret: 's', redirect_uris: [`http://app.localhost:${port}/cb`] }],
  })
  const rp = createIdentityProvider(
    {
      provider: 'okta',
      providerUrl: idp2.issuer,
      clientId: 'm',
      clientSecret: 's',
      clientAuthMethod: 'client_secret_basic',
      clientPrivateKeyPem: undefined,
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      groupsClaim: 'groups',
      groupsFilter: undefined,
    },
    Buffer.alloc(32, 1),
  )
  const c = createHttpClient()
  const start = await rp.beginLogin(new URL(`http://app.localhost:${port}/`), `http://app.localhost:${port}/cb`)
  const page = await c.follow(await c.get(start.authorizationUrl), start.authorizationUrl)
  const back = await signInAtIdp(c, page, { username: 'alice', password: 'alice' }, (u) => u.pathname === '/cb')
  const { signedIn } = await rp.completeLogin(back.url, start.sealed)
  await idp2.close()
  return { idToken: signedIn.idToken, accessToken: signedIn.accessToken, refreshToken: signedIn.refreshToken ?? '' }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  },
)
