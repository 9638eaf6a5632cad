/**
 * Forward-auth over real HTTP: gatehouse with the local IdP, asked the way
 * nginx (X-Original-URL), Traefik/Caddy (X-Forwarded-*), Pomerium's old
 * style (`uri`) and Envoy (the check request itself) ask.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { startStack, type Stack } from '../helpers/stack.js'
import { sendRaw, statusOf } from '../helpers/raw-http.js'
import type { HttpClient } from '../helpers/http-client.js'
import { adminsOnlyRoute, readonlyRoute } from '../helpers/route-yaml.js'

let s: Stack
let untrusted: Stack
let alice: HttpClient
let bob: HttpClient

const routes = ({ upstream, port }: { upstream: string; port: number }): string => `${readonlyRoute(`http://app.localhost:${port}`)}
  - from: http://app.localhost:${port}
    prefix: /live
    allow_websockets: true
    allow_any_authenticated_user: true
  - from: http://app.localhost:${port}
    to: ${upstream}
    pass_identity_headers: true
    allow_any_authenticated_user: true${adminsOnlyRoute(`http://admin.localhost:${port}`)}
`

/** Pomerium's forward_auth_url: its host's `/?uri=` and `/verify?uri=` are checks. */
const FA_URL = 'forward_auth_url: http://forwardauth.localhost\n'

beforeAll(async () => {
  s = await startStack({ hosts: ['app.localhost', 'admin.localhost'], extra: 'trusted_proxies: [127.0.0.1/32]\n' + FA_URL, routes })
  untrusted = await startStack({ hosts: ['app.localhost', 'admin.localhost'], sharedIdp: s.idp, extra: FA_URL, routes })
  alice = s.client()
  await s.signIn(alice, s.url('app.localhost', '/'), 'alice')
  bob = s.client()
  await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
})
afterAll(async () => {
  await untrusted?.close()
  await s?.close()
})

/** The session cookie a browser holds for the route host, sent on a check request to gatehouse's own address. */
function cookieOf(c: HttpClient, host: string): string {
  return c.cookieHeader(new URL(s.url(host, '/')))
}

function check(c: HttpClient | undefined, path: string, headers: Record<string, string>, host = 'app.localhost'): Promise<import('undici').Response> {
  return s.client().get(`http://127.0.0.1:${s.port}${path}`, {
    headers: { ...(c === undefined ? {} : { cookie: cookieOf(c, host) }), ...headers },
    noCookies: c === undefined,
  })
}

describe('forward-auth', () => {
  it('answers only peers in trusted_proxies: anyone else gets 403 forward_auth_untrusted and nothing else', async () => {
    const res = await untrusted.client().get(`http://127.0.0.1:${untrusted.port}/.gatehouse/verify`, {
      headers: { 'x-original-url': untrusted.url('app.localhost', '/'), accept: 'application/json' },
    })
    expect(res.status).toBe(403)
    const body = (await res.json()) as Record<string, unknown>
    expect(body.error).toBe('forward_auth_untrusted')
    expect(res.headers.get('x-auth-request-user')).toBeNull()
    expect(untrusted.logs.join('')).toContain('"frontend":"forward_auth"')
  })

  it('X-Original-URL (nginx): 200 with the assertion (verified against the JWKS) and the identity headers', async () => {
    const res = await check(alice, '/.gatehouse/verify', { 'x-original-url': s.url('app.localhost', '/some/page?x=1'), 'x-original-method': 'GET' })
    expect(res.status).toBe(200)
    const jwt = res.headers.get('x-gatehouse-jwt-assertion')
    expect(jwt).toBeTruthy()
    const { payload } = await jwtVerify(jwt as string, createRemoteJWKSet(new URL(`http://127.0.0.1:${s.port}/.well-known/gatehouse/jwks.json`)))
    expect(payload.sub).toBe('00u1alice')
    expect(payload.email).toBe('alice@example.com')
    expect(res.headers.get('x-auth-request-user')).toBe('00u1alice')
    expect(res.headers.get('x-auth-request-email')).toBe('alice@example.com')
    expect(res.headers.get('x-auth-request-groups')).toBe('admin,eng')
    expect(res.headers.get('x-gatehouse-claim-email')).toBe('alice@example.com')
    expect(res.headers.get('x-gatehouse-claim-groups')).toBe('admin,eng')
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('X-Forwarded-Proto/Host/Uri (Traefik, Caddy): bob is refused on admin with the public reason', async () => {
    /** Traefik's or Caddy's check for bob's GET http://admin.localhost/dash, answered as JSON. */
    const bobChecksAdminDash = (): ReturnType<typeof check> =>
      check(
        bob,
        '/.gatehouse/forward_auth',
        {
          'x-forwarded-proto': 'http',
          'x-forwarded-host': `admin.localhost:${s.port}`,
          'x-forwarded-uri': '/dash',
          'x-forwarded-method': 'GET',
          accept: 'application/json',
        },
        'admin.localhost',
      )
    const res = await bobChecksAdminDash()
    // bob's cookie is for app.localhost, not admin: he must sign in there first (API client: 401).
    expect(res.status).toBe(401)
    // bob already has a session at the IdP: the redirects come back signed in, to the 403 page.
    const url = s.url('admin.localhost', '/dash')
    const last = await bob.follow(await bob.get(url, { headers: { accept: 'text/html' } }), url)
    expect(last.res.status).toBe(403)
    const again = await bobChecksAdminDash()
    expect(again.status).toBe(403)
    const body = (await again.json()) as Record<string, unknown>
    expect(body.error).toBe('forbidden')
    expect(String(body.reason)).toContain('groups')
    expect(again.headers.get('x-auth-request-user')).toBeNull()
  })

  it('the uri parameter (Pomerium style) names the original request; a header naming another one is refused, never chosen', async () => {
    const uri = encodeURIComponent(s.url('app.localhost', '/x'))
    const res = await check(alice, `/.gatehouse/verify?uri=${uri}`, {})
    expect(res.status).toBe(200)
    expect(res.headers.get('x-auth-request-user')).toBe('00u1alice')
    const conflict = await check(alice, `/.gatehouse/verify?uri=${uri}`, { 'x-original-url': s.url('nowhere.localhost', '/') })
    expect(conflict.status).toBe(403)
    expect(conflict.headers.get('x-auth-request-user')).toBeNull()
  })

  it('the check request itself (Envoy path_prefix): its Host, the path after the prefix, its method', async () => {
    const res = await s
      .client()
      .get(s.url('app.localhost', '/.gatehouse/verify/deep/page?q=1'), { headers: { cookie: cookieOf(alice, 'app.localhost') }, noCookies: true })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-auth-request-email')).toBe('alice@example.com')
  })

  it('sign-in needed: verify says 401; forward_auth sends a browser 302 to the route host sign-in, an API client 401', async () => {
    const h = { 'x-original-url': s.url('app.localhost', '/p?a=b'), 'x-original-method': 'GET' }
    const v = await check(undefined, '/.gatehouse/verify', { ...h, accept: 'text/html' })
    expect(v.status).toBe(401)
    const browser = await check(undefined, '/.gatehouse/forward_auth', { ...h, accept: 'text/html' })
    expect(browser.status).toBe(302)
    const loc = new URL(browser.headers.get('location') as string)
    expect(loc.origin).toBe(`http://app.localhost:${s.port}`)
    expect(loc.pathname).toBe('/.gatehouse/sign_in')
    expect(loc.searchParams.get('rd')).toBe(s.url('app.localhost', '/p?a=b'))
    const api = await check(undefined, '/.gatehouse/forward_auth', { ...h, accept: 'application/json' })
    expect(api.status).toBe(401)
    expect(((await api.json()) as Record<string, unknown>).error).toBe('login_required')
  })

  it('path tricks get the same 400 as the proxy from forward_auth; verify says 403 (nginx auth_request takes only 2xx/401/403)', async () => {
    // Sent raw in the header: no URL parser in between normalises them away.
    for (const p of ['/a%2fb', '/a%5cb', '/%252e%252e/x', '/a%zz', '/a#b']) {
      const fa = await check(alice, '/.gatehouse/forward_auth', {
        'x-original-url': `http://app.localhost:${s.port}${p}`,
        'x-original-method': 'GET',
        accept: 'application/json',
      })
      expect(fa.status, p).toBe(400)
      expect(((await fa.json()) as Record<string, unknown>).error, p).toBe('bad_request')
      const v = await check(alice, '/.gatehouse/verify', {
        'x-original-url': `http://app.localhost:${s.port}${p}`,
        'x-original-method': 'GET',
        accept: 'application/json',
      })
      expect(v.status, p).toBe(403)
      expect(((await v.json()) as Record<string, unknown>).error, p).toBe('bad_request')
      expect(v.headers.get('x-auth-request-user'), p).toBeNull()
    }
  })

  it('bad original-request headers are refused, never a pass', async () => {
    const fa = (h: Record<string, string>) => check(alice, '/.gatehouse/forward_auth', h)
    expect((await fa({ 'x-original-url': 'not a url' })).status).toBe(400)
    expect((await fa({ 'x-original-url': `http://evil@app.localhost:${s.port}/` })).status).toBe(400)
    expect((await check(alice, '/.gatehouse/verify', { 'x-original-url': 'not a url' })).status).toBe(403)
    // No route for the host: 404 from forward_auth, 403 from verify.
    expect((await fa({ 'x-original-url': 'http://nowhere.localhost/', 'x-original-method': 'GET' })).status).toBe(404)
    expect((await check(alice, '/.gatehouse/verify', { 'x-original-url': 'http://nowhere.localhost/', 'x-original-method': 'GET' })).status).toBe(403)
  })

  it('every source of the original request must agree: a client-added copy through Traefik, Caddy or Envoy is a 400, never the one believed', async () => {
    const app = `app.localhost:${s.port}`
    const disagreeing: Record<string, string>[] = [
      // Traefik/Caddy set X-Forwarded-*; the client added X-Original-URL for another page (or another host, or method).
      { 'x-forwarded-proto': 'http', 'x-forwarded-host': app, 'x-forwarded-uri': '/admin', 'x-original-url': `http://${app}/public` },
      { 'x-forwarded-proto': 'http', 'x-forwarded-host': `admin.localhost:${s.port}`, 'x-forwarded-uri': '/', 'x-original-url': `http://${app}/` },
      { 'x-forwarded-host': app, 'x-forwarded-uri': '/', 'x-forwarded-method': 'DELETE', 'x-original-url': `http://${app}/`, 'x-original-method': 'GET' },
      { 'x-forwarded-proto': 'https', 'x-forwarded-host': app, 'x-forwarded-uri': '/', 'x-original-url': `http://${app}/` },
    ]
    for (const h of disagreeing) {
      const res = await check(alice, '/.gatehouse/forward_auth', { ...h, accept: 'application/json' })
      expect(res.status, JSON.stringify(h)).toBe(400)
      expect(String(((await res.json()) as Record<string, unknown>).message)).toContain('describe different requests')
    }
    // Caddy keeps the client's query on its check: a ?uri= for another page disagrees with X-Forwarded-Uri.
    const uri = encodeURIComponent(`http://${app}/public`)
    const viaCaddy = await check(alice, `/.gatehouse/forward_auth?uri=${uri}`, { 'x-forwarded-host': app, 'x-forwarded-uri': `/admin?uri=${uri}` })
    expect(viaCaddy.status).toBe(400)
    // Envoy's path_prefix: after a path suffix the query is the original request's, so ?uri= is not a source at all.
    const viaEnvoy = await s.client().get(s.url('app.localhost', `/.gatehouse/verify/deep?uri=${encodeURIComponent(s.url('nowhere.localhost', '/'))}`), {
      headers: { cookie: cookieOf(alice, 'app.localhost') },
      noCookies: true,
    })
    expect(viaEnvoy.status).toBe(200)
    // Sources that agree are fine (ingress-nginx sends both X-Original-URL and, from the client, nothing else).
    const agreeing = await check(alice, '/.gatehouse/forward_auth', {
      'x-forwarded-proto': 'http',
      'x-forwarded-host': app,
      'x-forwarded-uri': '/p?q=1',
      'x-forwarded-method': 'GET',
      'x-original-url': `http://${app}/p?q=1`,
    })
    expect(agreeing.status).toBe(200)
  })

  it('a route without `to` answers checks; a request sent to gatehouse directly gets 404', async () => {
    const alsoAdmin = s.client()
    // Sign-in works on the route host (gatehouse's own endpoints); the final hop back to the route is the 404.
    const signedIn = await s.signIn(alsoAdmin, s.url('admin.localhost', '/'), 'alice')
    expect(signedIn.res.status).toBe(404)
    const res = await check(alsoAdmin, '/.gatehouse/verify', { 'x-original-url': s.url('admin.localhost', '/'), 'x-original-method': 'GET' }, 'admin.localhost')
    expect(res.status).toBe(200)
    const direct = await alsoAdmin.get(s.url('admin.localhost', '/'))
    expect(direct.status).toBe(404)
  })
})

describe('forward-auth: the method judged is the one forwarded', () => {
  const readonly = (): string => s.url('app.localhost', '/readonly/doc')

  it('X-Original-URL or X-Forwarded-Uri without a method header: 403 forward_auth_method_unknown, never judged as the check’s GET', async () => {
    const named: Record<string, string>[] = [
      { 'x-original-url': readonly() },
      { 'x-forwarded-proto': 'http', 'x-forwarded-host': `app.localhost:${s.port}`, 'x-forwarded-uri': '/readonly/doc' },
      // A page every signed-in user may see: still refused, the method is not known.
      { 'x-original-url': s.url('app.localhost', '/page') },
    ]
    for (const h of named)
      for (const endpoint of ['/.gatehouse/verify', '/.gatehouse/forward_auth']) {
        const res = await check(alice, endpoint, { ...h, accept: 'application/json' })
        expect(res.status, `${endpoint} ${JSON.stringify(h)}`).toBe(403)
        const body = (await res.json()) as Record<string, unknown>
        expect(body.error).toBe('forward_auth_method_unknown')
        expect(String(body.message)).toMatch(/X-Original-URL|X-Forwarded-Host\/-Uri/)
        expect(String(body.hint)).toContain('X-Original-Method $request_method')
        expect(res.headers.get('x-auth-request-user')).toBeNull()
      }
    expect(s.logs.join('')).toMatch(/"outcome":"error"[^\n]*no header states its method|no header states its method[^\n]*"outcome":"error"/)
  })

  it('with the method header the policy judges that method: POST to a GET-only route is refused, GET passes', async () => {
    const post = await check(alice, '/.gatehouse/verify', { 'x-original-url': readonly(), 'x-original-method': 'POST', accept: 'application/json' })
    expect(post.status).toBe(403)
    expect(((await post.json()) as Record<string, unknown>).error).toBe('forbidden')
    const fwdPost = await check(alice, '/.gatehouse/forward_auth', {
      'x-forwarded-host': `app.localhost:${s.port}`,
      'x-forwarded-uri': '/readonly/doc',
      'x-forwarded-method': 'POST',
      accept: 'application/json',
    })
    expect(fwdPost.status).toBe(403)
    await fwdPost.body?.cancel()
    expect((await check(alice, '/.gatehouse/verify', { 'x-original-url': readonly(), 'x-original-method': 'GET' })).status).toBe(200)
  })

  it('?uri= alone and the check itself (Envoy) take the check’s own method', async () => {
    const uri = `/.gatehouse/verify?uri=${encodeURIComponent(readonly())}`
    const asCheck = (method: string, url: string) =>
      s.client().request(url, { method, headers: { cookie: cookieOf(alice, 'app.localhost'), accept: 'application/json' }, noCookies: true })
    expect((await asCheck('GET', `http://127.0.0.1:${s.port}${uri}`)).status).toBe(200)
    expect((await asCheck('POST', `http://127.0.0.1:${s.port}${uri}`)).status).toBe(403)
    expect((await asCheck('GET', s.url('app.localhost', '/.gatehouse/verify/readonly/doc'))).status).toBe(200)
    expect((await asCheck('POST', s.url('app.localhost', '/.gatehouse/verify/readonly/doc'))).status).toBe(403)
    // ?uri= together with a header naming the URL but no method: the header came from a proxy whose check is a GET.
    const both = await check(alice, uri, { 'x-original-url': readonly(), accept: 'application/json' })
    expect(both.status).toBe(403)
    expect(((await both.json()) as Record<string, unknown>).error).toBe('forward_auth_method_unknown')
  })
})

describe('forward-auth: a check describing a WebSocket upgrade is judged as one', () => {
  /** A raw check (an HTTP client will not send Upgrade by hand): the client's Upgrade copied onto it, as Caddy does. */
  async function rawCheck(endpoint: string, path: string, headers: string): Promise<string> {
    return sendRaw(
      s.port,
      `GET ${endpoint} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nCookie: ${cookieOf(alice, 'app.localhost')}\r\nAccept: application/json\r\n` +
        `X-Original-URL: ${s.url('app.localhost', path)}\r\n${headers}Connection: close\r\n\r\n`,
    )
  }

  it('a route without allow_websockets refuses the upgrade with the reason; with it the upgrade passes', async () => {
    const refused = await rawCheck('/.gatehouse/forward_auth', '/sock', 'X-Original-Method: GET\r\nUpgrade: websocket\r\n')
    expect(statusOf(refused), refused).toBe(403)
    expect(refused).toContain('allow_websockets is not set on this route')
    expect(refused.toLowerCase()).not.toContain('x-auth-request-user')
    expect(statusOf(await rawCheck('/.gatehouse/verify', '/sock', 'X-Original-Method: GET\r\nUpgrade: WebSocket\r\n'))).toBe(403)
    // The same page without the upgrade is an ordinary request there.
    expect(statusOf(await rawCheck('/.gatehouse/verify', '/sock', 'X-Original-Method: GET\r\n'))).toBe(200)
    const allowed = await rawCheck('/.gatehouse/verify', '/live/feed', 'X-Original-Method: GET\r\nUpgrade: websocket\r\n')
    expect(statusOf(allowed), allowed).toBe(200)
    expect(allowed.toLowerCase()).toContain('x-auth-request-user: 00u1alice')
  })

  it('an upgrade with a method other than GET is a bad request (403 from verify), as at the proxy', async () => {
    const fa = await rawCheck('/.gatehouse/forward_auth', '/live/feed', 'X-Original-Method: POST\r\nUpgrade: websocket\r\n')
    expect(statusOf(fa)).toBe(400)
    expect(fa).toContain('A WebSocket upgrade must be a GET request.')
    expect(statusOf(await rawCheck('/.gatehouse/verify', '/live/feed', 'X-Original-Method: POST\r\nUpgrade: websocket\r\n'))).toBe(403)
  })
})

describe("forward_auth_url: Pomerium's forward-auth host", () => {
  /** A check sent to the forward-auth host, as Pomerium's nginx and Traefik snippets send it. */
  function atFaHost(c: HttpClient | undefined, path: string, headers: Record<string, string> = {}, cookieHost = 'app.localhost') {
    return s.client().get(s.url('forwardauth.localhost', path), {
      headers: { ...(c === undefined ? {} : { cookie: cookieOf(c, cookieHost) }), ...headers },
      noCookies: true,
    })
  }
  const uri = (host: string, path: string): string => encodeURIComponent(s.url(host, path))

  it('/verify?uri= (nginx auth-url): 200 with the identity, 401 without a session, never a redirect', async () => {
    const ok = await atFaHost(alice, `/verify?uri=${uri('app.localhost', '/page?x=1')}`)
    expect(ok.status).toBe(200)
    expect(ok.headers.get('x-auth-request-email')).toBe('alice@example.com')
    expect(ok.headers.get('x-gatehouse-jwt-assertion')).toBeTruthy()
    const anon = await atFaHost(undefined, `/verify?uri=${uri('app.localhost', '/page')}`, { accept: 'text/html' })
    expect(anon.status).toBe(401)
  })

  it('/?uri= (auth-signin, Traefik): a browser that must sign in is sent to the route host, an API client gets 401', async () => {
    const browser = await atFaHost(undefined, `/?uri=${uri('app.localhost', '/p?a=b')}`, { accept: 'text/html' })
    expect(browser.status).toBe(302)
    const loc = new URL(browser.headers.get('location') as string)
    expect(loc.origin).toBe(`http://app.localhost:${s.port}`)
    expect(loc.pathname).toBe('/.gatehouse/sign_in')
    expect(loc.searchParams.get('rd')).toBe(s.url('app.localhost', '/p?a=b'))
    const api = await atFaHost(undefined, `/?uri=${uri('app.localhost', '/p')}`, { accept: 'application/json' })
    expect(api.status).toBe(401)
    // Traefik's address may be the bare forward-auth URL: X-Forwarded-* name the request.
    const traefik = await atFaHost(alice, '/', {
      'x-forwarded-proto': 'http',
      'x-forwarded-host': `app.localhost:${s.port}`,
      'x-forwarded-uri': '/t',
      'x-forwarded-method': 'GET',
    })
    expect(traefik.status).toBe(200)
    expect(traefik.headers.get('x-auth-request-user')).toBe('00u1alice')
  })

  it('the policy decides as everywhere else: bob is refused on admin with the reason', async () => {
    const res = await atFaHost(bob, `/verify?uri=${uri('admin.localhost', '/dash')}`, { accept: 'application/json' }, 'admin.localhost')
    expect(res.status).toBe(403)
    expect(String(((await res.json()) as Record<string, unknown>).reason)).toContain('groups')
    expect(s.logs.join('')).toContain('"frontend":"forward_auth"')
  })

  it('a check there that carries the client’s Upgrade is answered as a check, judged as a WebSocket', async () => {
    const raw = (path: string) =>
      sendRaw(
        s.port,
        `GET /verify?uri=${uri('app.localhost', path)} HTTP/1.1\r\nHost: forwardauth.localhost:${s.port}\r\nCookie: ${cookieOf(alice, 'app.localhost')}\r\n` +
          `Accept: application/json\r\nX-Forwarded-Method: GET\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      )
    const allowed = await raw('/live/feed')
    expect(statusOf(allowed), allowed).toBe(200)
    expect(allowed.toLowerCase()).toContain('x-auth-request-user: 00u1alice')
    const refused = await raw('/sock')
    expect(statusOf(refused), refused).toBe(403)
    expect(refused).toContain('allow_websockets is not set on this route')
  })

  it('other paths on that host are no route; the same paths on a route host are ordinary requests; untrusted peers are refused', async () => {
    expect((await atFaHost(alice, `/other?uri=${uri('app.localhost', '/')}`)).status).toBe(404)
    // On the route host, /verify is the app's own page, proxied (no identity headers in the answer).
    const onRoute = await s
      .client()
      .get(s.url('app.localhost', `/verify?uri=${uri('app.localhost', '/')}`), { headers: { cookie: cookieOf(alice, 'app.localhost') }, noCookies: true })
    expect(onRoute.status).toBe(200)
    expect(onRoute.headers.get('x-auth-request-user')).toBeNull()
    const stranger = await untrusted.client().get(untrusted.url('forwardauth.localhost', `/verify?uri=${uri('app.localhost', '/')}`), {
      headers: { accept: 'application/json' },
    })
    expect(stranger.status).toBe(403)
    expect(((await stranger.json()) as Record<string, unknown>).error).toBe('forward_auth_untrusted')
  })
})
