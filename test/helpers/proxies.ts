/**
 * Real nginx and Caddy (Debian's packages) in front of gatehouse, for the forward-auth suites:
 * each started as a child process from a config written to a temp directory, listening on a
 * loopback port only, with its pid file, logs and temp files in that directory. On a machine
 * without them the suites are skipped with a message; with REQUIRE_FORWARD_AUTH_PROXIES=1 (CI)
 * a missing binary is an error.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { listenLocal, type LocalServer } from './local-server.js'

export const NGINX_PATH = process.env.NGINX_PATH ?? ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p))
export const CADDY_PATH = process.env.CADDY_PATH ?? ['/usr/bin/caddy', '/usr/local/bin/caddy'].find((p) => existsSync(p))
/** Debian's libnginx-mod-http-set-misc: ingress-nginx's `set_escape_uri`. */
const NGINX_MODULES = ['/usr/lib/nginx/modules/ndk_http_module.so', '/usr/lib/nginx/modules/ngx_http_set_misc_module.so']

function missing(what: string, install: string): false {
  if (process.env.REQUIRE_FORWARD_AUTH_PROXIES === '1') throw new Error(`REQUIRE_FORWARD_AUTH_PROXIES=1 but ${what} (install Debian's ${install})`)
  console.warn(`[skipped] forward-auth suites with ${install}: ${what} (set REQUIRE_FORWARD_AUTH_PROXIES=1 to make this an error)`)
  return false
}

export function requireNginx(opts: { readonly setMisc?: boolean } = {}): boolean {
  if (NGINX_PATH === undefined) return missing('there is no nginx binary', 'nginx package')
  if (opts.setMisc === true && !NGINX_MODULES.every((m) => existsSync(m)))
    return missing('the set-misc module is not installed', 'libnginx-mod-http-set-misc package')
  return true
}

export function requireCaddy(): boolean {
  if (CADDY_PATH === undefined || spawnSync(CADDY_PATH, ['version']).status !== 0) return missing('there is no working caddy binary', 'caddy package')
  return true
}

export interface RunningProxy {
  readonly port: number
  /** What the process wrote (and nginx's error log), for failure messages. */
  output(): string
  close(): Promise<void>
}

function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null) return reject(new Error(`the proxy exited (${child.exitCode}):\n${output()}`))
      if (Date.now() > deadline) return reject(new Error(`the proxy did not listen on ${port}:\n${output()}`))
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve()
      })
      s.once('error', () => setTimeout(attempt, 50))
    }
    attempt()
  })
}

async function run(bin: string, args: string[], dir: string, port: number, env: NodeJS.ProcessEnv, extraLog?: string): Promise<RunningProxy> {
  const child = spawn(bin, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const output = (): string => out + (extraLog !== undefined && existsSync(extraLog) ? readFileSync(extraLog, 'utf8') : '')
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForPort(port, child, output)
  } catch (err) {
    await close()
    throw err
  }
  return { port, output, close }
}

/**
 * nginx in the foreground with `httpConfig` as its http {} block. `listen` lines must name
 * 127.0.0.1:`port`. `setMisc` loads the set-misc module (ingress-nginx's `set_escape_uri`).
 */
export async function startNginx(httpConfig: string, port: number, opts: { readonly setMisc?: boolean } = {}): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'))
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${join(dir, k)};`).join('\n')
  const conf = `
${opts.setMisc === true ? NGINX_MODULES.map((m) => `load_module ${m};`).join('\n') : ''}
daemon off;
master_process on;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
    access_log off;
${temp}
${httpConfig}
}
`
  writeFileSync(join(dir, 'nginx.conf'), conf)
  return run(
    NGINX_PATH as string,
    ['-p', dir + '/', '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
    dir,
    port,
    process.env,
    join(dir, 'error.log'),
  )
}

/** Caddy in the foreground with this Caddyfile (it should say `admin off`; its data and config stay in a temp directory). */
export async function startCaddy(caddyfile: string, port: number): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-caddy-'))
  writeFileSync(join(dir, 'Caddyfile'), caddyfile)
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') }
  return run(CADDY_PATH as string, ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], dir, port, env)
}

export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly websocket: boolean
}

/** The app behind the proxy: records every request (and WebSocket upgrade) it receives, answers JSON, echoes WebSocket messages. */
export async function startRecordingApp(): Promise<LocalServer & { readonly received: Received[] }> {
  const received: Received[] = []
  const server = http.createServer((req, res) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, websocket: false })
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ app: 'reached', url: req.url }))
  })
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws, req) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, websocket: true })
    ws.on('message', (m) => ws.send(`echo:${m.toString()}`))
  })
  const local = await listenLocal(server)
  return {
    ...local,
    received,
    async close() {
      for (const c of wss.clients) c.terminate()
      wss.close()
      await local.close()
    },
  }
}
