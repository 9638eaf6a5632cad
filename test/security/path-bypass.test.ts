/**
 * The policy judges exactly the path an upstream serves. Upstreams here read
 * paths as real servers do (test/helpers/path-reading-upstream.ts): a
 * Tomcat-style servlet container that strips `;params` per segment and merges
 * `//`, and a server that decodes the path twice. Each route tells the
 * upstream which route gatehouse judged (set_request_headers X-Route), and the
 * upstream's own reading of the path must land on that same route.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { route, startStack, type Stack } from '../helpers/stack.js'
import { sendRaw, statusOf } from '../helpers/raw-http.js'
import { startPathReadingUpstream, type PathReadingUpstream } from '../helpers/path-reading-upstream.js'
import type { HttpClient } from '../helpers/http-client.js'

let s: Stack
let servlet: PathReadingUpstream
let doubleDecoder: PathReadingUpstream
let bob: HttpClient
const HOSTS = ['app.localhost', 'mx.localhost', 'dd.localhost', 'rw.localhost']

/** Route index → what it guards, as the X-Route header names it. */
const tag = (i: number): string[] => ['set_request_headers:', `  X-Route: "${i}"`]
const ADMIN_ROUTES = new Set([0, 1, 2, 4, 6])

beforeAll(async () => {
  servlet = await startPathReadingUpstream('servlet')
  doubleDecoder = await startPathReadingUpstream('double-decode')
  s = await startStack({
    hosts: HOSTS,
    routes: ({ port }) =>
      // app: a servlet upstream, prefix/path/regex routes for admins, anything else for any user.
      route(`http://app.localhost:${port}`, servlet.url, { group: 'admin' }, ['prefix: /admin/', ...tag(0)]) +
      route(`http://app.localhost:${port}`, servlet.url, { group: 'admin' }, ['path: /settings/billing', ...tag(1)]) +
      route(`http://app.localhost:${port}`, servlet.url, { group: 'admin' }, ['regex: "/reports/[0-9]+"', ...tag(2)]) +
      route(`http://app.localhost:${port}`, servlet.url, 'any-user', tag(3)) +
      // mx: the same upstream, with path parameters allowed (the policy judges the path without them).
      route(`http://mx.localhost:${port}`, servlet.url, { group: 'admin' }, ['prefix: /admin', 'allow_path_parameters: true', ...tag(4)]) +
      route(`http://mx.localhost:${port}`, servlet.url, 'any-user', ['allow_path_parameters: true', ...tag(5)]) +
      // dd: an upstream that decodes twice.
      route(`http://dd.localhost:${port}`, doubleDecoder.url, { group: 'admin' }, ['prefix: /admin', ...tag(6)]) +
      route(`http://dd.localhost:${port}`, doubleDecoder.url, 'any-user', tag(7)) +
      // rw: prefix_rewrite into a base directory.
      route(`http://rw.localhost:${port}`, servlet.url, 'public', ['prefix: /pub1', 'prefix_rewrite: /public/', ...tag(8)]),
  })
  bob = s.client()
  await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
  // Signed in at the IdP already: the other hosts' sign-ins come straight back.
  for (const h of ['mx.localhost', 'dd.localhost']) await bob.follow(await bob.get(s.url(h, '/'), { headers: { accept: 'text/html' } }), s.url(h, '/'))
})
afterAll(async () => {
  await s.close()
  await servlet.close()
  await doubleDecoder.close()
})

async function asBob(host: string, target: string, method = 'GET'): Promise<number> {
  const raw = await sendRaw(
    s.port,
    `${method} ${target} HTTP/1.1\r\nHost: ${host}:${s.port}\r\nAccept: application/json\r\nCookie: ${bob.cookieHeader(new URL(s.url(host)))}\r\nConnection: close\r\n\r\n`,
  )
  return statusOf(raw)
}

/** The route the config gives a path the upstream served: the one the policy must have judged. */
function routeOfServed(host: string, served: string): number | undefined {
  const f = s.config.routeTable.find(host, s.port, served)
  return f.kind === 'route' ? f.route.index : undefined
}

describe('path parameters (;) on a servlet upstream', () => {
  // As found by review: each reached Tomcat's admin servlets as a user outside the admin group.
  for (const target of [
    '/;x/admin/users',
    '/admin;x/users',
    '/settings/billing;x',
    '/;x/settings/billing',
    '/admin%3bx/users',
    '/admin%3Bx/users',
    '/reports/7;x',
  ]) {
    it(`${target} is refused with 400 and never reaches the upstream`, async () => {
      const before = servlet.requests.length
      expect(await asBob('app.localhost', target)).toBe(400)
      expect(servlet.requests.length).toBe(before)
    })
  }

  it('with allow_path_parameters, the policy judges the path without its parameters and the upstream gets them', async () => {
    // Another route with its parameters than without them: refused, whichever way the upstream reads it.
    expect(await asBob('mx.localhost', '/;x/admin/users')).toBe(400)
    expect(await asBob('mx.localhost', '/admin;jsessionid=1/users')).toBe(403)
    const before = servlet.requests.length
    expect(await asBob('mx.localhost', '/shop;jsessionid=ABC/cart')).toBe(200)
    expect(servlet.requests.slice(before).map((r) => r.target)).toEqual(['/shop;jsessionid=ABC/cart'])
  })
})

describe('a trailing slash on path: and regex: routes', () => {
  it('/settings/billing/ and /reports/7/ are judged by their routes (Express and older Spring serve them as one)', async () => {
    for (const target of ['/settings/billing/', '/settings/billing', '/reports/7/', '/reports/7'])
      expect(await asBob('app.localhost', target), target).toBe(403)
    expect(await asBob('app.localhost', '/settings/billing/x')).toBe(200)
  })
})

describe('double-encoded separators', () => {
  const tricks = [
    '/public/%252e%252e/admin/secret',
    '/public/%252E%252E/admin/secret',
    '/public/..%252fadmin',
    '/x%255c..%255cadmin',
    '/public/%25%32%65%25%32%65/admin/secret',
    '/public/%25252e%25252e/admin/secret',
    '/admin%253bx/a',
  ]
  for (const target of tricks) {
    it(`${target} gets 400 before any upstream`, async () => {
      const before = doubleDecoder.requests.length
      expect(await asBob('dd.localhost', target)).toBe(400)
      expect(doubleDecoder.requests.length).toBe(before)
    })
  }
})

describe('prefix_rewrite keeps the path inside the rewrite base', () => {
  for (const target of ['/pub1../private/keys', '/pub1%2e%2e/private/keys', '/pub1%2E./private/keys', '/pub1.%2e/private']) {
    it(`${target} is refused, never sent upstream as /public/../…`, async () => {
      const before = servlet.requests.length
      expect(await asBob('rw.localhost', target)).toBe(400)
      expect(servlet.requests.length).toBe(before)
    })
  }
  it('an ordinary path is rewritten into the base', async () => {
    const before = servlet.requests.length
    expect(await asBob('rw.localhost', '/pub1/docs/a.txt')).toBe(200)
    expect(servlet.requests.slice(before).map((r) => r.served)).toEqual(['/public/docs/a.txt'])
  })
})

describe('property: no request reaches an upstream path the policy did not judge', () => {
  it('for any path built from separator tricks, the route of the path the upstream serves is the route gatehouse judged', async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        'admin',
        'settings',
        'billing',
        'reports',
        '7',
        'users',
        '',
        '.',
        '..',
        '%2e',
        '%2e%2e',
        ';',
        ';x',
        'admin;x',
        'billing;a=b',
        '%3b',
        'admin%3Bx',
        '%252e%252e',
        '%252f',
        '%255c',
        '%25%32%65',
        '%253b',
        '%253f',
        '%2523',
        '%25',
        'ADMIN',
        'Settings',
        '%61dmin',
      ),
      fc.webSegment(),
    )
    const target = fc.array(segment, { minLength: 1, maxLength: 6 }).map((segs) => '/' + segs.join('/'))
    const host = fc.constantFrom('app.localhost', 'mx.localhost', 'dd.localhost')
    await fc.assert(
      fc.asyncProperty(host, target, async (h, t) => {
        const upstream = h === 'dd.localhost' ? doubleDecoder : servlet
        const before = upstream.requests.length
        const status = await asBob(h, t)
        expect(status, t).toBeLessThan(500)
        for (const r of upstream.requests.slice(before)) {
          const judged = Number(r.route)
          expect(ADMIN_ROUTES.has(judged), `${t} reached admin route ${judged}`).toBe(false)
          expect(routeOfServed(h, r.served), `${h}${t}: served as ${r.served}, judged by route ${judged}`).toBe(judged)
        }
      }),
      { numRuns: 250 },
    )
  })
})
