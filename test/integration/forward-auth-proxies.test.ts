/**
 * Forward-auth behind the real proxies (Debian's nginx and Caddy): each suite starts its own
 * proxy from the config a person would copy from deploy/ (only the addresses changed to loopback
 * ports), in front of a running gatehouse (local IdP) and a real app that records what reaches it.
 *
 * - nginx `auth_request`: deploy/nginx/gatehouse-forward-auth.conf, as the README shows it.
 * - ingress-nginx: what the controller renders for the annotations in
 *   deploy/kubernetes/app-ingress-nginx.yaml (its template, rootfs/etc/nginx/template/nginx.tmpl:
 *   https://github.com/kubernetes/ingress-nginx/blob/main/rootfs/etc/nginx/template/nginx.tmpl,
 *   the external-auth location and buildAuthSignURL in internal/ingress/controller/template/template.go).
 * - Caddy `forward_auth`: deploy/Caddyfile.forward-auth (the docker-compose example).
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { parse } from 'yaml'
import { freePort, startStack, type Stack } from '../helpers/stack.js'
import { createHttpClient, type HttpClient } from '../helpers/http-client.js'
import { signInAtIdp } from '../helpers/idp-login.js'
import { sendRaw, statusOf } from '../helpers/raw-http.js'
import { adminsOnlyRoute, readonlyRoute, signedInExceptAdmin } from '../helpers/route-yaml.js'
import { servletPath } from '../helpers/path-reading-upstream.js'
import { connectWebSocket, mustOpen } from '../helpers/websocket.js'
import { requireCaddy, requireNginx, startCaddy, startNginx, startRecordingApp, type Received, type RunningProxy } from '../helpers/proxies.js'

const hasNginx = requireNginx()
const hasIngressNginx = hasNginx && requireNginx({ setMisc: true })
const hasCaddy = requireCaddy()

const IDENTITY_HEADERS = [
  'x-gatehouse-jwt-assertion',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-groups',
  'x-auth-request-preferred-username',
]

/**
 * Forward-auth-only routes (no `to`: the proxy forwards): any signed-in user on app (WebSockets
 * too), except /admin; /readonly takes only GET; /nows takes no WebSocket; admins only on admin.
 */
const ROUTES = (): string => `${readonlyRoute('http://app.localhost')}
  - from: http://app.localhost
    prefix: /nows
    allow_any_authenticated_user: true
  - from: http://app.localhost
    pass_identity_headers: true
    allow_websockets: true${signedInExceptAdmin()}${adminsOnlyRoute('http://admin.localhost')}
`

interface Setup {
  readonly stack: Stack
  readonly app: Awaited<ReturnType<typeof startRecordingApp>>
  readonly proxy: RunningProxy
  url(host: string, path: string): string
}

type StartProxy = (o: { readonly port: number; readonly gatehouse: string; readonly app: string }) => Promise<RunningProxy>

async function setUp(start: StartProxy): Promise<Setup> {
  const port = await freePort()
  const stack = await startStack({ hosts: ['app.localhost', 'admin.localhost'], alsoPorts: [port], extra: 'trusted_proxies: [127.0.0.1/32]\n', routes: ROUTES })
  const app = await startRecordingApp()
  let proxy: RunningProxy
  try {
    proxy = await start({ port, gatehouse: `127.0.0.1:${stack.port}`, app: `127.0.0.1:${app.port}` })
  } catch (err) {
    await app.close()
    await stack.close()
    throw err
  }
  return { stack, app, proxy, url: (host, path) => `http://${host}:${port}${path}` }
}

async function tearDown(s: Setup | undefined): Promise<void> {
  await s?.proxy.close()
  await s?.app.close()
  await s?.stack.close()
}

/** A browser at `url` through the proxy, signing in when sent to the IdP; returns where it ended. */
async function browse(s: Setup, c: HttpClient, url: string, user: string): Promise<{ res: import('undici').Response; url: URL; visited: URL[] }> {
  const first = await c.get(url, { headers: { accept: 'text/html' } })
  const atIdp = await c.follow(first, url, 10, { accept: 'text/html' }, (u) => u.origin === s.stack.idp.url)
  if (atIdp.url.origin !== s.stack.idp.url) return atIdp
  const login = await c.follow(await c.get(atIdp.url, { headers: { accept: 'text/html' } }), atIdp.url)
  const back = await signInAtIdp(c, login, { username: user, password: user })
  return { ...back, visited: [...atIdp.visited, ...login.visited, ...back.visited] }
}

function lastAppRequest(s: Setup, pred: (r: Received) => boolean): Received | undefined {
  return [...s.app.received].reverse().find(pred)
}

/** The shared scenario: what every proxy in front of gatehouse must do. */
function scenario(
  name: string,
  available: boolean,
  start: StartProxy,
  opts: {
    readonly reasonInBody: boolean
    /**
     * Whether a refused POST shows gatehouse's reason: nginx's `error_page` turns a POST into a GET
     * for the page it shows, so the example's 403 page for a POST is empty (the refusal stands).
     */
    readonly reasonForPost: boolean
    /** Whether the proxy's check carries the client's `Upgrade` (Caddy copies it; the nginx example sets it). */
    readonly upgradeOnCheck: boolean
  },
): void {
  describe.skipIf(!available)(name, () => {
    let s: Setup | undefined
    let alice: HttpClient
    const setup = (): Setup => s as Setup

    beforeAll(async () => {
      s = await setUp(start)
      alice = createHttpClient()
    }, 30_000)
    afterAll(() => tearDown(s))

    it('an anonymous browser is sent to sign in on the route host, then comes back to the original URL through the proxy', async () => {
      const target = setup().url('app.localhost', '/reports/q3?year=2026&view=full')
      const end = await browse(setup(), alice, target, 'alice')
      expect(end.res.status, setup().proxy.output()).toBe(200)
      expect(end.url.href).toBe(target)
      // The sign-in and the callback ran on the route host, through the proxy.
      expect(end.visited.some((u) => u.host === `app.localhost:${setup().proxy.port}` && u.pathname === '/.gatehouse/sign_in')).toBe(true)
      expect(end.visited.some((u) => u.host === `app.localhost:${setup().proxy.port}` && u.pathname === '/.gatehouse/callback')).toBe(true)
      expect(await end.res.json()).toEqual({ app: 'reached', url: '/reports/q3?year=2026&view=full' })
    })

    it("alice's app gets the assertion (verified against gatehouse's JWKS) and the identity headers, never the client's copies", async () => {
      const forged: Record<string, string> = {
        'x-gatehouse-jwt-assertion': 'forged.jwt.value',
        'x-auth-request-user': '00u1mallory',
        'x-auth-request-email': 'mallory@example.com',
        'x-auth-request-groups': 'admin,root',
        'x-auth-request-preferred-username': 'root',
      }
      const res = await alice.get(setup().url('app.localhost', '/whoami'), { headers: { accept: 'application/json', ...forged } })
      expect(res.status).toBe(200)
      await res.body?.cancel()
      const seen = lastAppRequest(setup(), (r) => r.url === '/whoami')
      if (seen === undefined) throw new Error('the app saw nothing')
      const jwt = seen.headers['x-gatehouse-jwt-assertion']
      expect(typeof jwt).toBe('string')
      const { payload } = await jwtVerify(
        jwt as string,
        createRemoteJWKSet(new URL(`http://127.0.0.1:${setup().stack.port}/.well-known/gatehouse/jwks.json`)),
        {
          algorithms: ['ES256'],
          audience: 'app.localhost',
        },
      )
      expect(payload.sub).toBe('00u1alice')
      expect(payload.email).toBe('alice@example.com')
      expect(seen.headers['x-auth-request-user']).toBe('00u1alice')
      expect(seen.headers['x-auth-request-email']).toBe('alice@example.com')
      expect(seen.headers['x-auth-request-groups']).toBe('admin,eng')
      for (const h of IDENTITY_HEADERS) expect(seen.headers[h], h).not.toBe(forged[h])
      // gatehouse's cookie is for gatehouse; the app still gets the request otherwise unchanged.
      expect(seen.method).toBe('GET')
    })

    it('bob is refused on the admin host with a 403 that says why, and the app never sees him', async () => {
      const bob = createHttpClient()
      const before = setup().app.received.length
      const end = await browse(setup(), bob, setup().url('admin.localhost', '/dash'), 'bob')
      expect(end.res.status).toBe(403)
      const page = await end.res.text()
      if (opts.reasonInBody) expect(page).toContain('groups')
      const api = await bob.get(setup().url('admin.localhost', '/dash'), { headers: { accept: 'application/json' } })
      expect(api.status).toBe(403)
      const body = await api.text()
      if (opts.reasonInBody) expect(JSON.parse(body)).toMatchObject({ error: 'forbidden', reason: expect.stringContaining('groups') })
      expect(
        setup()
          .app.received.slice(before)
          .filter((r) => r.headers.host?.startsWith('admin.localhost')),
      ).toEqual([])
      expect(setup().stack.logs.join('')).toMatch(/"frontend":"forward_auth"[^\n]*"outcome":"deny"|"outcome":"deny"[^\n]*"frontend":"forward_auth"/)
    })

    it('path tricks through the proxy never reach the denied /admin', async () => {
      const cookie = alice.cookieHeader(new URL(setup().url('app.localhost', '/')))
      const before = setup().app.received.length
      const tricks = [
        '/admin',
        '/admin/users',
        '/x/../admin',
        '/./admin',
        '/%61dmin',
        '/x/%2e%2e/admin',
        '/x/%2E%2E/admin',
        '/x%2f..%2fadmin',
        '/x/..%2fadmin',
        '/x/..%5cadmin',
        '/x/..;/admin',
        '/admin;jsessionid=1',
        '/%252e%252e/admin',
        '/x/%252e%252e/admin',
        '//admin',
        '/admin%00.css',
      ]
      for (const p of tricks) {
        const raw = await sendRaw(
          setup().proxy.port,
          `GET ${p} HTTP/1.1\r\nHost: app.localhost:${setup().proxy.port}\r\nCookie: ${cookie}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`,
        )
        expect([400, 403, 404], `${p}: ${raw.slice(0, 200)}`).toContain(statusOf(raw))
      }
      const reached = setup().app.received.slice(before)
      // However the app reads the path (decoded, path parameters dropped, dot segments resolved), never /admin.
      for (const r of reached) expect(servletPath(r.url), r.url).not.toMatch(/^\/+admin/)
      // A plain page next to it still passes.
      const ok = await alice.get(setup().url('app.localhost', '/public/guide'), { headers: { accept: 'application/json' } })
      expect(ok.status).toBe(200)
      await ok.body?.cancel()
    })

    it('a client-sent X-Original-URL, X-Forwarded-Uri or ?uri= naming an allowed page does not open /admin', async () => {
      const allowed = setup().url('app.localhost', '/public')
      const before = setup().app.received.length
      const sent: Record<string, string>[] = [
        { 'x-original-url': allowed },
        { 'x-forwarded-uri': '/public', 'x-forwarded-host': `app.localhost:${setup().proxy.port}` },
        { 'x-original-url': allowed, 'x-original-method': 'GET', 'x-forwarded-uri': '/public', 'x-forwarded-host': `app.localhost:${setup().proxy.port}` },
      ]
      for (const headers of sent) {
        const res = await alice.get(setup().url('app.localhost', '/admin'), { headers: { accept: 'application/json', ...headers } })
        expect([400, 403], JSON.stringify(headers)).toContain(res.status)
        await res.body?.cancel()
      }
      const res = await alice.get(setup().url('app.localhost', `/admin?uri=${encodeURIComponent(allowed)}`), { headers: { accept: 'application/json' } })
      expect([400, 403]).toContain(res.status)
      await res.body?.cancel()
      expect(
        setup()
          .app.received.slice(before)
          .filter((r) => r.url.startsWith('/admin')),
      ).toEqual([])
    })

    it('the method judged is the one forwarded: a POST to a GET-only route is refused, a GET passes', async () => {
      const before = setup().app.received.length
      const post = await alice.request(setup().url('app.localhost', '/readonly/doc'), {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'text/plain' },
        body: 'change',
      })
      expect(post.status, setup().proxy.output()).toBe(403)
      const body = await post.text()
      if (opts.reasonForPost) expect(JSON.parse(body)).toMatchObject({ error: 'forbidden', reason: expect.stringContaining('http_method') })
      expect(setup().stack.logs.join('')).toMatch(/"outcome":"deny"[^\n]*http_method/)
      const get = await alice.get(setup().url('app.localhost', '/readonly/doc'), { headers: { accept: 'application/json' } })
      expect(get.status).toBe(200)
      await get.body?.cancel()
      const reached = setup().app.received.slice(before)
      expect(reached.filter((r) => r.url.startsWith('/readonly') && r.method !== 'GET')).toEqual([])
      expect(reached.some((r) => r.url === '/readonly/doc' && r.method === 'GET')).toBe(true)
    })

    it('a WebSocket to a route without allow_websockets: refused with 403 when the check carries the Upgrade', async () => {
      const cookie = alice.cookieHeader(new URL(setup().url('app.localhost', '/')))
      const before = setup().app.received.length
      const attempt = await connectWebSocket(setup().url('app.localhost', '/nows/live'), cookie)
      const reached = setup()
        .app.received.slice(before)
        .filter((r) => r.websocket && r.url.startsWith('/nows'))
      if (opts.upgradeOnCheck) {
        expect('open' in attempt).toBe(false)
        expect((attempt as { status: number }).status).toBe(403)
        expect(setup().stack.logs.join('')).toContain('allow_websockets is not set on this route')
        expect(reached).toEqual([])
      } else {
        // The documented limit: without Upgrade on the check, the upgrade is judged as a plain GET.
        expect('open' in attempt).toBe(true)
        if ('open' in attempt) attempt.open.ws.close()
        expect(reached.length).toBe(1)
      }
      // The same path as a plain request passes: only the upgrade is refused.
      const plain = await alice.get(setup().url('app.localhost', '/nows/live'), { headers: { accept: 'application/json' } })
      expect(plain.status).toBe(200)
      await plain.body?.cancel()
    })

    it('WebSocket through the proxy: alice connects and the app sees her assertion; no session, no socket', async () => {
      const cookie = alice.cookieHeader(new URL(setup().url('app.localhost', '/')))
      const ws = mustOpen(await connectWebSocket(setup().url('app.localhost', '/live'), cookie))
      expect(await ws.echo('hello')).toBe('echo:hello')
      ws.ws.close()
      const upgrade = lastAppRequest(setup(), (r) => r.websocket && r.url === '/live')
      expect(upgrade?.headers['x-auth-request-email']).toBe('alice@example.com')
      expect(typeof upgrade?.headers['x-gatehouse-jwt-assertion']).toBe('string')
      const anonymous = await connectWebSocket(setup().url('app.localhost', '/live-anon'))
      expect('open' in anonymous).toBe(false)
      expect([302, 401]).toContain((anonymous as { status: number }).status)
      const denied = await connectWebSocket(setup().url('app.localhost', '/admin/live'), cookie)
      expect('open' in denied).toBe(false)
      expect((denied as { status: number }).status).toBe(403)
      // (/nows is the route above: through ingress-nginx its upgrade reaches the app, the documented limit.)
      expect(setup().app.received.filter((r) => r.websocket && r.url !== '/live' && !r.url.startsWith('/nows'))).toEqual([])
    })
  })
}

/** The nginx example with its addresses swapped for the test's loopback ports (nothing else changes). */
function nginxExample(o: { port: number; gatehouse: string; app: string }): string {
  const text = readFileSync('deploy/nginx/gatehouse-forward-auth.conf', 'utf8')
  const swapped = text
    .replace('server gatehouse:8443;', `server ${o.gatehouse};`)
    .replace('listen 80;', `listen 127.0.0.1:${o.port};`)
    .replace('server_name grafana.corp.example;', 'server_name app.localhost admin.localhost;')
    .replace('proxy_pass http://app:3000;', `proxy_pass http://${o.app};`)
  for (const changed of [o.gatehouse, `127.0.0.1:${o.port}`, 'app.localhost admin.localhost', o.app])
    if (!swapped.includes(changed)) throw new Error(`deploy/nginx/gatehouse-forward-auth.conf changed shape: no place for ${changed}`)
  return swapped
}

scenario('nginx auth_request (deploy/nginx/gatehouse-forward-auth.conf)', hasNginx, (o) => startNginx(nginxExample(o), o.port), {
  reasonInBody: true,
  reasonForPost: false,
  upgradeOnCheck: true,
})

describe.skipIf(!hasNginx)('nginx auth_request without X-Original-Method', () => {
  let s: Setup | undefined
  beforeAll(async () => {
    s = await setUp((o) => {
      const config = nginxExample(o).replace('        proxy_set_header X-Original-Method $request_method;\n', '')
      if (config.includes('proxy_set_header X-Original-Method')) throw new Error('deploy/nginx/gatehouse-forward-auth.conf changed shape')
      return startNginx(config, o.port)
    })
  }, 30_000)
  afterAll(() => tearDown(s))

  it('every request is refused with 403 forward_auth_method_unknown (the subrequest is a GET, the client’s method unknown), never judged as GET', async () => {
    const setup = s as Setup
    const alice = createHttpClient()
    const before = setup.app.received.length
    for (const method of ['GET', 'POST']) {
      const res = await alice.request(setup.url('app.localhost', '/readonly/doc'), {
        method,
        headers: { accept: 'application/json' },
        ...(method === 'POST' ? { body: 'x' } : {}),
      })
      expect(res.status, method).toBe(403)
      // nginx's error_page shows gatehouse's answer to the check.
      expect(JSON.parse(await res.text())).toMatchObject({ error: 'forward_auth_method_unknown' })
    }
    expect(setup.app.received.slice(before)).toEqual([])
    expect(setup.stack.logs.join('')).toContain('X-Original-URL names the original request but no header states its method')
  })
})

interface IngressManifest {
  metadata: { annotations: Record<string, string> }
}

/**
 * What ingress-nginx renders for the app's Ingress and gatehouse's /.gatehouse/ Ingress: the
 * external-auth location (`internal`, no body, X-Original-URL/-Method, Host = the auth-url's host,
 * X-Forwarded-Proto cleared), auth_request_set + proxy_set_header per auth-response-headers, and the
 * 401 → auth-signin redirect with `rd=$pass_access_scheme://$http_host$escaped_request_uri`.
 */
function ingressNginx(o: { port: number; gatehouse: string; app: string }): string {
  const manifest = parse(readFileSync('deploy/kubernetes/app-ingress-nginx.yaml', 'utf8')) as IngressManifest
  const a = manifest.metadata.annotations
  const authUrl = new URL(a['nginx.ingress.kubernetes.io/auth-url'] as string)
  const target = `http://${o.gatehouse}${authUrl.pathname}`
  // The one change for a test: the controller serves 443 under its own name; here http on an ephemeral port.
  const signin = (a['nginx.ingress.kubernetes.io/auth-signin'] as string).replace('https://$host', 'http://$http_host')
  if (signin.includes('?')) throw new Error('auth-signin should leave rd to the controller (it appends the escaped request URI)')
  const headers = (a['nginx.ingress.kubernetes.io/auth-response-headers'] as string).split(',').map((h) => h.trim())
  const responseHeaders = headers
    .map(
      (h, i) =>
        `        auth_request_set $authHeader${i} $upstream_http_${h.toLowerCase().replace(/-/g, '_')};\n        proxy_set_header '${h}' $authHeader${i};`,
    )
    .join('\n')
  const standard = `
        proxy_set_header Host $http_host;
        proxy_set_header X-Request-ID $request_id;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Port $server_port;
        proxy_set_header X-Forwarded-Proto $pass_access_scheme;
        proxy_set_header X-Scheme $pass_access_scheme;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_http_version 1.1;`
  return `
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
    server {
        listen 127.0.0.1:${o.port};
        server_name app.localhost admin.localhost;
        set $pass_access_scheme $scheme;

        # gatehouse's own Ingress (forward-auth.yaml): /.gatehouse/ on the route hosts.
        location /.gatehouse/ {
${standard}
            proxy_pass http://${o.gatehouse};
        }

        location = /_external-auth-Lw-Prefix {
            internal;
            proxy_intercept_errors off;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Proto "";
            proxy_set_header X-Request-ID $request_id;
            proxy_set_header Host ${authUrl.host};
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Sent-From "nginx-ingress-controller";
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Auth-Request-Redirect $request_uri;
            proxy_buffering off;
            proxy_pass_request_headers on;
            proxy_http_version 1.1;
            set $target ${target};
            proxy_pass $target;
        }

        location @gatehouse-signin {
            internal;
            add_header Set-Cookie $auth_cookie;
            return 302 ${signin}?rd=$pass_access_scheme://$http_host$escaped_request_uri;
        }

        location / {
            set $auth_cookie '';
            auth_request /_external-auth-Lw-Prefix;
            auth_request_set $auth_cookie $upstream_http_set_cookie;
            add_header Set-Cookie $auth_cookie;
${responseHeaders}
            set_escape_uri $escaped_request_uri $request_uri;
            error_page 401 = @gatehouse-signin;
${standard}
            proxy_pass http://${o.app};
        }
    }
`
}

scenario(
  'ingress-nginx auth-url / auth-signin (deploy/kubernetes/app-ingress-nginx.yaml)',
  hasIngressNginx,
  (o) => startNginx(ingressNginx(o), o.port, { setMisc: true }),
  {
    // ingress-nginx answers a refusal with its own 403 page.
    reasonInBody: false,
    reasonForPost: false,
    // Its external-auth location does not set Upgrade, and nginx drops the hop-by-hop header.
    upgradeOnCheck: false,
  },
)

/** The compose example's Caddyfile with its addresses swapped for loopback ports, the admin API off. */
function caddyExample(o: { port: number; gatehouse: string; app: string }): string {
  const text = readFileSync('deploy/Caddyfile.forward-auth', 'utf8')
  const swapped = text
    .replace('auto_https off', 'auto_https off\n\tadmin off\n\tdefault_bind 127.0.0.1')
    .replace('http://grafana.localhost:8080', `http://app.localhost:${o.port}, http://admin.localhost:${o.port}`)
    .replaceAll('gatehouse:8443', o.gatehouse)
    .replace('reverse_proxy app:3000', `reverse_proxy ${o.app}`)
  for (const changed of ['admin off', `http://app.localhost:${o.port}`, o.gatehouse, `reverse_proxy ${o.app}`])
    if (!swapped.includes(changed)) throw new Error(`deploy/Caddyfile.forward-auth changed shape: no place for ${changed}`)
  return swapped
}

scenario('Caddy forward_auth (deploy/Caddyfile.forward-auth)', hasCaddy, (o) => startCaddy(caddyExample(o), o.port), {
  reasonInBody: true,
  reasonForPost: true,
  upgradeOnCheck: true,
})

describe('the README shows the configs these suites run', () => {
  const readme = readFileSync('README.md', 'utf8')
  it('nginx: deploy/nginx/gatehouse-forward-auth.conf, verbatim', () => {
    expect(readme).toContain('```nginx\n' + readFileSync('deploy/nginx/gatehouse-forward-auth.conf', 'utf8') + '```')
  })
  it('Caddy: the site block of deploy/Caddyfile.forward-auth (its comments left out)', () => {
    const text = readFileSync('deploy/Caddyfile.forward-auth', 'utf8')
    const site = text.slice(text.indexOf('http://grafana.localhost:8080 {'))
    const bare = site
      .split('\n')
      .filter((l) => !/^\s*#/.test(l) && l.trim() !== '')
      .join('\n')
    const shown = readme
      .split('\n')
      .filter((l) => l.trim() !== '')
      .join('\n')
    expect(shown).toContain(bare)
  })
})
