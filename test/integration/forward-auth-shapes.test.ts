/**
 * Traefik and Envoy are not packaged here: these tests send gatehouse exactly the check requests
 * their documentation says they send, and read the answers the way they do.
 *
 * Traefik forwardAuth (https://doc.traefik.io/traefik/middlewares/http/forwardauth/): the check goes
 * to `address`; the request's properties arrive as X-Forwarded-Method, -Proto, -Host, -Uri and -For;
 * every other client header is copied unless `authRequestHeaders` narrows them; a 2xx lets the
 * request through with `authResponseHeaders` copied onto it ("replacing any existing conflicting
 * headers"), anything else is returned to the client as the auth server answered it.
 *
 * Envoy ext_authz, HTTP service
 * (https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_authz/v3/ext_authz.proto):
 * the check keeps the client request's method, `Host` and path, with `path_prefix` put in front of the
 * path ("Sets a prefix to the value of authorization request header Path"); Host, Method, Path,
 * Content-Length (0, no body) and Authorization are always sent, other headers only when
 * `allowed_headers` matches them; on 200 `allowed_upstream_headers` are copied to the request, any
 * other answer goes back to the client.
 *
 * Envoy Gateway SecurityPolicy `extAuth.http`
 * (https://gateway.envoyproxy.io/docs/tasks/security/ext-auth/; its translator,
 * internal/xds/translator/extauth.go, sets `path_prefix: http.path` and `allowed_headers` from
 * `headersToExtAuth`): the check is Envoy's, shaped by deploy/kubernetes/app-envoy-gateway.yaml.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { startStack, type Stack } from '../helpers/stack.js'
import type { HttpClient } from '../helpers/http-client.js'
import { adminsOnlyRoute, signedInExceptAdmin } from '../helpers/route-yaml.js'

let s: Stack
let alice: HttpClient
let bob: HttpClient

const routes = ({ port }: { port: number }): string => `
  - from: http://app.localhost:${port}${signedInExceptAdmin({ denyDelete: true })}${adminsOnlyRoute(`http://admin.localhost:${port}`)}
`

beforeAll(async () => {
  s = await startStack({ hosts: ['app.localhost', 'admin.localhost'], extra: 'trusted_proxies: [127.0.0.1/32]\n', routes })
  alice = s.client()
  await s.signIn(alice, s.url('app.localhost', '/'), 'alice')
  bob = s.client()
  await s.signIn(bob, s.url('admin.localhost', '/'), 'bob')
})
afterAll(() => s?.close())

const BROWSER = { accept: 'text/html,application/xhtml+xml', 'user-agent': 'Mozilla/5.0', 'accept-language': 'en' }

function cookieOf(c: HttpClient | undefined, host: string): Record<string, string> {
  return c === undefined ? {} : { cookie: c.cookieHeader(new URL(s.url(host, '/'))) }
}

describe('Traefik forwardAuth (address: http://gatehouse/.gatehouse/forward_auth)', () => {
  /** What Traefik sends for a client request: the client's headers, then its X-Forwarded-* over them; always GET. */
  function traefik(o: { c?: HttpClient; host: string; uri: string; method?: string; client?: Record<string, string> }) {
    return s.client().request(`http://127.0.0.1:${s.port}/.gatehouse/forward_auth`, {
      method: 'GET',
      noCookies: true,
      headers: {
        ...BROWSER,
        ...o.client,
        ...cookieOf(o.c, o.host),
        'x-forwarded-method': o.method ?? 'GET',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': `${o.host}:${s.port}`,
        'x-forwarded-uri': o.uri,
        'x-forwarded-for': '203.0.113.7',
      },
    })
  }

  it('alice: 200 and the authResponseHeaders to copy', async () => {
    const res = await traefik({ c: alice, host: 'app.localhost', uri: '/dash?tab=1' })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-auth-request-email')).toBe('alice@example.com')
    expect(res.headers.get('x-auth-request-groups')).toBe('admin,eng')
    expect(res.headers.get('x-gatehouse-jwt-assertion')).toMatch(/^ey/)
  })

  it('an anonymous browser: a 302 Traefik hands to the client, to sign in on the route host and come back', async () => {
    const res = await traefik({ host: 'app.localhost', uri: '/dash?tab=1&x=2' })
    expect(res.status).toBe(302)
    const loc = new URL(res.headers.get('location') as string)
    expect(loc.origin).toBe(`http://app.localhost:${s.port}`)
    expect(loc.pathname).toBe('/.gatehouse/sign_in')
    expect(loc.searchParams.get('rd')).toBe(s.url('app.localhost', '/dash?tab=1&x=2'))
  })

  it('bob on admin: 403 with the reason, for Traefik to return', async () => {
    const res = await traefik({ c: bob, host: 'admin.localhost', uri: '/', client: { accept: 'application/json' } })
    expect(res.status).toBe(403)
    expect(((await res.json()) as Record<string, unknown>).reason).toMatch(/groups/)
  })

  it('the method is the X-Forwarded-Method one (the check itself is always GET)', async () => {
    expect((await traefik({ c: alice, host: 'app.localhost', uri: '/doc', method: 'DELETE' })).status).toBe(403)
    expect((await traefik({ c: alice, host: 'app.localhost', uri: '/doc', method: 'PUT' })).status).toBe(200)
  })

  it('client headers Traefik copies along (X-Original-URL, a ?uri=) cannot name another request', async () => {
    const forged = await traefik({ c: alice, host: 'app.localhost', uri: '/admin', client: { 'x-original-url': s.url('app.localhost', '/public') } })
    expect(forged.status).toBe(400)
    expect(forged.headers.get('x-auth-request-user')).toBeNull()
    const forgedMethod = await traefik({
      c: alice,
      host: 'app.localhost',
      uri: '/doc',
      method: 'DELETE',
      client: { 'x-original-url': s.url('app.localhost', '/doc'), 'x-original-method': 'GET' },
    })
    expect(forgedMethod.status).toBe(400)
  })
})

describe('Envoy ext_authz HTTP service (path_prefix: /.gatehouse/forward_auth)', () => {
  /** Envoy's check: the client's method and Host, prefix + its path and query, Content-Length 0, and the allowed headers. */
  function envoy(o: { c?: HttpClient; host: string; path: string; method?: string; allowed?: Record<string, string> }) {
    // Every name resolves to 127.0.0.1 in the test client: the URL's host is the Host header Envoy keeps.
    return s.client().request(s.url(o.host, `/.gatehouse/forward_auth${o.path}`), {
      method: o.method ?? 'GET',
      noCookies: true,
      headers: { ...cookieOf(o.c, o.host), ...o.allowed },
    })
  }

  it('alice: 200 with the upstream headers; the original method is the check method', async () => {
    const res = await envoy({ c: alice, host: 'app.localhost', path: '/dash?tab=1' })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-auth-request-user')).toBe('00u1alice')
    expect((await envoy({ c: alice, host: 'app.localhost', path: '/doc', method: 'DELETE' })).status).toBe(403)
    expect((await envoy({ c: alice, host: 'app.localhost', path: '/doc', method: 'POST' })).status).toBe(200)
  })

  it('no session: a browser (when accept is allowed through) gets the 302 to sign in, anything else 401', async () => {
    const browser = await envoy({ host: 'app.localhost', path: '/p?q=1', allowed: { accept: 'text/html' } })
    expect(browser.status).toBe(302)
    expect(new URL(browser.headers.get('location') as string).searchParams.get('rd')).toBe(s.url('app.localhost', '/p?q=1'))
    // Envoy's defaults pass no Accept: an API-style 401.
    expect((await envoy({ host: 'app.localhost', path: '/p' })).status).toBe(401)
  })

  it('the path after the prefix is judged as the proxy would: /admin refused, tricks 400, a ?uri= in the query is the app’s', async () => {
    expect((await envoy({ c: alice, host: 'app.localhost', path: '/admin/users' })).status).toBe(403)
    expect((await envoy({ c: alice, host: 'app.localhost', path: '/x/%2e%2e/admin' })).status).toBe(403)
    expect((await envoy({ c: alice, host: 'app.localhost', path: '/x%2fadmin' })).status).toBe(400)
    const uri = encodeURIComponent(s.url('app.localhost', '/public'))
    expect((await envoy({ c: alice, host: 'app.localhost', path: `/admin?uri=${uri}` })).status).toBe(403)
  })
})

describe('Envoy Gateway SecurityPolicy extAuth (deploy/kubernetes/app-envoy-gateway.yaml)', () => {
  interface Policy {
    kind: string
    spec: { extAuth: { headersToExtAuth: string[]; http: { path: string; headersToBackend: string[] } } }
  }
  const policy = parseAllDocuments(readFileSync('deploy/kubernetes/app-envoy-gateway.yaml', 'utf8'))
    .map((d) => d.toJSON() as Policy)
    .find((d) => d.kind === 'SecurityPolicy')
  if (policy === undefined) throw new Error('no SecurityPolicy in deploy/kubernetes/app-envoy-gateway.yaml')
  const ext = policy.spec.extAuth

  /** A browser request as Envoy Gateway forwards it: only Host/Method/Path/Content-Length/Authorization and headersToExtAuth. */
  function check(c: HttpClient | undefined, host: string, path: string, method = 'GET') {
    const client: Record<string, string> = {
      ...BROWSER,
      ...cookieOf(c, host),
      'x-forwarded-proto': 'http',
      'x-request-id': 'req-1',
      'x-original-url': 'http://evil.example/',
    }
    const passed = Object.fromEntries(Object.entries(client).filter(([k]) => ext.headersToExtAuth.includes(k)))
    return s.client().request(s.url(host, `${ext.http.path}${path}`), {
      method,
      noCookies: true,
      headers: passed,
    })
  }

  it('alice: 200 and every header the policy copies to the backend', async () => {
    const res = await check(alice, 'app.localhost', '/dash')
    expect(res.status).toBe(200)
    for (const h of ext.http.headersToBackend.filter((h) => h !== 'X-Auth-Request-Preferred-Username')) expect(res.headers.get(h), h).toBeTruthy()
  })

  it('an anonymous browser: 302 to sign in on the route host (Envoy returns it); bob: 403', async () => {
    const anon = await check(undefined, 'app.localhost', '/dash?x=1')
    expect(anon.status).toBe(302)
    expect(new URL(anon.headers.get('location') as string).pathname).toBe('/.gatehouse/sign_in')
    expect((await check(bob, 'admin.localhost', '/')).status).toBe(403)
  })
})

describe('the README shows the SecurityPolicy these tests follow', () => {
  it("its extAuth is deploy/kubernetes/app-envoy-gateway.yaml's", () => {
    const readme = readFileSync('README.md', 'utf8')
    const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string).find((b) => b.includes('kind: SecurityPolicy'))
    if (block === undefined) throw new Error('no SecurityPolicy in the README')
    const shown = parseAllDocuments(block)[0]?.toJSON() as { spec: { extAuth: unknown } }
    const file = parseAllDocuments(readFileSync('deploy/kubernetes/app-envoy-gateway.yaml', 'utf8'))
      .map((d) => d.toJSON() as { kind: string; spec: { extAuth: unknown } })
      .find((d) => d.kind === 'SecurityPolicy')
    expect(shown.spec.extAuth).toEqual(file?.spec.extAuth)
  })
})
