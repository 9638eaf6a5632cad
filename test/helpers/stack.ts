/**
 * A whole gatehouse over real pieces, on loopback: the Okta-shaped IdP, a
 * whoami upstream (it reports the request it received), and gatehouse built
 * from a config written as YAML.
 */
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { compileConfigText, type CompiledConfig } from '../../src/config/index.js'
import { startDevIdp, type DevClient, type DevIdp, type DevIdpOptions } from '../../src/devidp/index.js'
import { startWhoami, type Whoami } from '../../src/demo/whoami.js'
import { createLogger } from '../../src/server/telemetry/logger.js'
import { startGatehouse, type RunningGatehouse } from '../../src/server/lifecycle/start.js'
import { createHttpClient, type HttpClient } from './http-client.js'
import { signInAtIdp } from './idp-login.js'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

export interface StackOptions {
  /** Route YAML (a list), given the upstream URL and gatehouse's port. */
  readonly routes: (ctx: { upstream: string; port: number }) => string
  /** Extra top-level YAML. */
  readonly extra?: string
  /** Hostnames to register callbacks for (default app.localhost, admin.localhost). */
  readonly hosts?: readonly string[]
  readonly idp?: Partial<DevIdpOptions>
  /** Reuse an IdP (several gatehouses on one IdP). */
  readonly sharedIdp?: DevIdp
  readonly cookieSecret?: string
  readonly port?: number
  /** Listen here instead of on `port` (a relay in front forwards `port` to it; URLs and routes keep `port`). */
  readonly listenPort?: number
  readonly jwksCooldownMs?: number
  /** gatehouse's clock (the IdP keeps real time). */
  readonly now?: () => number
  /** Other gatehouse ports to register redirect URIs for (replicas sharing one IdP). */
  readonly alsoPorts?: readonly number[]
  readonly headersTimeoutMs?: number
  readonly idpTimeoutMs?: number
  /** Sign in through this authorization server of the IdP (`org`, `default`, `aus…`); default: `default`. */
  readonly server?: string
  /** More settings of the test app at the IdP (a groups claim filter, refresh-token rotation, …). */
  readonly app?: Partial<DevClient>
  /** Key prefix in Redis: replicas of one test share one; tests never share theirs. */
  readonly storePrefix?: string
  /** Register gatehouse's front-channel, back-channel and Universal Logout endpoints (on app.localhost) with the IdP's app. */
  readonly idpLogout?: boolean
}

export interface Stack {
  readonly idp: DevIdp
  readonly upstream: Whoami
  readonly gh: RunningGatehouse
  readonly config: CompiledConfig
  readonly port: number
  readonly logs: string[]
  readonly cookieSecret: string
  url(host: string, path?: string): string
  client(): HttpClient
  /** Browser-style sign-in from a protected URL; returns the final response after the redirects back. */
  signIn(client: HttpClient, url: string, username: string, password?: string): Promise<{ res: import('undici').Response; url: URL; visited: URL[] }>
  close(): Promise<void>
}

export const CLIENT_ID = 'gatehouse-test'
export const CLIENT_SECRET = 'test-client-secret-0123456789'

export async function startStack(o: StackOptions): Promise<Stack> {
  const port = o.port ?? (await freePort())
  const hosts = o.hosts ?? ['app.localhost', 'admin.localhost']
  const upstream = await startWhoami({ jwksUrl: () => new URL(`http://127.0.0.1:${port}/.well-known/gatehouse/jwks.json`) })
  const idp =
    o.sharedIdp ??
    (await startDevIdp({
      users: [
        { username: 'alice', password: 'alice', sub: '00u1alice', email: 'alice@example.com', name: 'Alice', groups: ['admin', 'eng'] },
        { username: 'bob', password: 'bob', sub: '00u1bob', email: 'bob@example.com', name: 'Bob', groups: ['eng'] },
        { username: 'carol', password: 'carol', sub: '00u1carol', email: 'carol@example.com', name: 'Carol', groups: ['eng'], assigned: false },
      ],
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [port, ...(o.alsoPorts ?? [])].flatMap((p) => hosts.map((h) => `http://${h}:${p}/.gatehouse/callback`)),
          post_logout_redirect_uris: [port, ...(o.alsoPorts ?? [])].flatMap((p) => hosts.map((h) => `http://${h}:${p}/.gatehouse/signed_out`)),
          ...(o.idpLogout === true
            ? {
                frontchannel_logout_uri: `http://app.localhost:${port}/.gatehouse/frontchannel_logout`,
                backchannel_logout_uri: `http://app.localhost:${port}/.gatehouse/backchannel_logout`,
                universal_logout: { endpoint: `http://app.localhost:${port}/.gatehouse/global-token-revocation` },
              }
            : {}),
          ...o.app,
        },
      ],
      ...o.idp,
    }))
  const cookieSecret = o.cookieSecret ?? randomBytes(32).toString('base64')
  const yaml = `
address: 127.0.0.1:${port}
insecure_server: true
idp_provider: okta
idp_provider_url: ${o.server === undefined ? idp.issuer : idp.issuerOf(o.server)}
idp_client_id: ${CLIENT_ID}
idp_client_secret: ${CLIENT_SECRET}
cookie_secret: ${cookieSecret}
log_level: info
${o.extra ?? ''}
routes:
${o.routes({ upstream: upstream.url, port })}
`
  const compiled = compileConfigText(yaml, 'test.yaml', {})
  if ('problems' in compiled) throw new Error(`test config invalid: ${JSON.stringify(compiled.problems, null, 1)}\n${yaml}`)
  const logs: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString())
      cb()
    },
  })
  const gh = await startGatehouse({
    config: compiled.config,
    log: createLogger('info', sink),
    listen: { host: '127.0.0.1', port: o.listenPort ?? port },
    drainTimeoutMs: 2000,
    ...(o.jwksCooldownMs === undefined ? {} : { jwksCooldownMs: o.jwksCooldownMs }),
    ...(o.now === undefined ? {} : { now: o.now }),
    ...(o.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: o.headersTimeoutMs }),
    ...(o.idpTimeoutMs === undefined ? {} : { idpTimeoutMs: o.idpTimeoutMs }),
    ...(o.storePrefix === undefined ? {} : { storePrefix: o.storePrefix }),
  })
  await gh.identity.ready()
  return {
    idp,
    upstream,
    gh,
    config: compiled.config,
    port,
    logs,
    cookieSecret,
    url: (host, path = '/') => `http://${host}:${port}${path}`,
    client: () => createHttpClient(),
    async signIn(client, url, username, password = username) {
      const first = await client.get(url, { headers: { accept: 'text/html' } })
      const login = await client.follow(first, url)
      return signInAtIdp(client, login, { username, password })
    },
    async close() {
      await gh.close()
      await upstream.close()
      if (o.sharedIdp === undefined) await idp.close()
    },
  }
}

/** Who a test route lets in. */
/** Who a route lets in: a `policy` is its rule list as YAML lines, each starting `- allow:` / `- deny:` or indented under one. */
export type Access = 'public' | 'any-user' | { readonly group: string } | { readonly policy: readonly string[] }

/** One route as YAML list item, for the `routes` of a stack. `extra` lines are route keys written as YAML. */
export function route(from: string, to: string, access: Access, extra: readonly string[] = []): string {
  const who =
    access === 'public'
      ? ['allow_public_unauthenticated_access: true']
      : access === 'any-user'
        ? ['allow_any_authenticated_user: true']
        : 'group' in access
          ? ['policy:', '  - allow:', '      and:', `        - groups: ${access.group}`]
          : ['policy:', ...access.policy.map((l) => `  ${l}`)]
  return [`  - from: ${from}`, `    to: ${to}`, ...[...extra, ...who].map((l) => `    ${l}`)].join('\n') + '\n'
}

export const ROUTES_APP_ADMIN = ({ upstream, port }: { upstream: string; port: number }): string =>
  route(`http://app.localhost:${port}`, upstream, 'any-user', ['pass_identity_headers: true']) +
  route(`http://admin.localhost:${port}`, upstream, { group: 'admin' })

/** Top-level YAML for a shared session store. */
export function storeYaml(type: 'redis' | 'postgres', connectionString: string): string {
  return `databroker_storage_type: ${type}\ndatabroker_storage_connection_string: ${connectionString}\n`
}

export interface ReplicaOptions extends Omit<StackOptions, 'port' | 'sharedIdp' | 'alsoPorts' | 'cookieSecret'> {
  /** Top-level YAML both replicas share: the store (storeYaml) and anything else. */
  readonly extra: string
}

/** Two gatehouses as replicas: one IdP (with both ports' redirect URIs), one cookie secret, the same config and store. */
export async function startReplicas(o: ReplicaOptions): Promise<[Stack, Stack]> {
  const [portA, portB] = [await freePort(), await freePort()]
  const cookieSecret = randomBytes(32).toString('base64')
  const a = await startStack({ ...o, cookieSecret, port: portA, alsoPorts: [portB] })
  try {
    const { idpLogout: _once, ...rest } = o
    const b = await startStack({ ...rest, cookieSecret, port: portB, sharedIdp: a.idp })
    return [a, b]
  } catch (err) {
    await a.close()
    throw err
  }
}

/** A new client of `s`, signed in as `username` at `host`'s root. */
export async function signedIn(s: Stack, username: string, host = 'app.localhost'): Promise<HttpClient> {
  const c = s.client()
  await s.signIn(c, s.url(host, '/'), username)
  return c
}

/** Signs out through the confirmation page (its CSRF token, then the POST), as a browser does; returns the 302 to the IdP's end-session. */
export async function signOut(s: Stack, client: HttpClient, host = 'app.localhost'): Promise<import('undici').Response> {
  const page = await client.get(s.url(host, '/.gatehouse/sign_out'), { headers: { accept: 'text/html' } })
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1]
  if (csrf === undefined) throw new Error(`no sign-out form at ${s.url(host, '/.gatehouse/sign_out')} (status ${page.status})`)
  return client.post(s.url(host, '/.gatehouse/sign_out'), { csrf }, { headers: { accept: 'text/html' } })
}
