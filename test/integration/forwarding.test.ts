import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import http from 'node:http'
import { createHash } from 'node:crypto'
import { startWhoami, type Seen, type Whoami } from '../../src/demo/whoami.js'
import { listenLocal, type LocalServer } from '../helpers/local-server.js'
import { startStack, type Stack } from '../helpers/stack.js'
import type { HttpClient } from '../helpers/http-client.js'

let s: Stack
let second: Whoami
let slow: LocalServer
let alice: HttpClient

beforeAll(async () => {
  second = await startWhoami({ name: 'second' })
  slow = await listenLocal(http.createServer(() => undefined)) // never answers
  s = await startStack({
    hosts: ['app.localhost', 'admin.localhost', 'lb.localhost', 'down.localhost', 'slow.localhost', 'pub.localhost'],
    extra: 'jwt_claims_headers:\n  X-Email: email\n  X-User: user\n  X-Name: name\n',
    routes: ({ upstream, port }) => `
  - from: http://app.localhost:${port}
    prefix: /api/
    prefix_rewrite: /v2/
    to: ${upstream}
    host_rewrite: internal.example
    set_request_headers:
      X-Id-Token: \${gatehouse.id_token}
      X-Jwt: \${pomerium.jwt}
      X-Static: hello
    remove_request_headers: [X-Secret-Thing]
    set_response_headers:
      X-Frame-Options: SAMEORIGIN
    pass_identity_headers: true
    allow_any_authenticated_user: true
  - from: http://app.localhost:${port}
    to: ${upstream}/base
    preserve_host_header: true
    allow_any_authenticated_user: true
  - from: http://lb.localhost:${port}
    to: [ "${upstream},3", "${second.url},1" ]
    allow_public_unauthenticated_access: true
  - from: http://down.localhost:${port}
    to: http://127.0.0.1:1
    allow_public_unauthenticated_access: true
  - from: http://slow.localhost:${port}
    to: ${slow.url}
    timeout: 300ms
    allow_public_unauthenticated_access: true
  - from: http://pub.localhost:${port}
    to: ${upstream}
    allow_public_unauthenticated_access: true
  - from: http://*.wild.localhost:${port}
    to: ${upstream}
    allow_public_unauthenticated_access: true
`,
  })
  alice = s.client()
  await s.signIn(alice, s.url('app.localhost', '/'), 'alice')
})
afterAll(async () => {
  await s.close()
  await second.close()
  await slow.close()
})

const json = { accept: 'application/json' }
async function seen(res: import('undici').Response): Promise<Seen> {
  expect(res.status).toBe(200)
  return (await res.json()) as Seen
}

describe('forwarding', () => {
  it('rewrites the prefix and Host, sets templated headers, removes and strips what it must', async () => {
    const res = await alice.get(s.url('app.localhost', '/api/items?q=1'), {
      headers: {
        ...json,
        'x-secret-thing': 'x',
        'x-gatehouse-claim-email': 'mallory@evil.com',
        x_gatehouse_claim_groups: 'admin',
        'x-forwarded-for': '6.6.6.6',
        'x-email': 'spoof@evil.com',
        'remote-user': 'mallory',
        'x-jwt': 'forged',
      },
    })
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN')
    const r = await seen(res)
    expect(r.url).toBe('/v2/items?q=1')
    expect(r.headers.host).toBe('internal.example')
    expect(r.headers['x-static']).toBe('hello')
    expect(String(r.headers['x-id-token']).split('.').length).toBe(3)
    expect(r.headers['x-jwt']).toBe(r.headers['x-gatehouse-jwt-assertion'])
    expect(r.headers['x-secret-thing']).toBeUndefined()
    expect(r.headers['x-gatehouse-claim-email']).toBe('alice@example.com')
    expect(r.headers['x-gatehouse-claim-groups']).toBe('admin,eng')
    expect(r.headers.x_gatehouse_claim_groups).toBeUndefined()
    expect(r.headers['x-email']).toBe('alice@example.com')
    expect(r.headers['x-user']).toBe('00u1alice')
    expect(r.headers['x-name']).toBe('Alice')
    expect(r.headers['remote-user']).toBeUndefined()
    expect(r.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(r.headers['x-forwarded-host']).toBe(`app.localhost:${s.port}`)
    expect(r.headers['x-forwarded-proto']).toBe('http')
  })

  it('prepends the path of `to` and can preserve the Host header', async () => {
    const r = await seen(await alice.get(s.url('app.localhost', '/page'), { headers: json }))
    expect(r.url).toBe('/base/page')
    expect(r.headers.host).toBe(`app.localhost:${s.port}`)
  })

  it('spreads requests over several upstreams by weight', async () => {
    const names: string[] = []
    for (let i = 0; i < 8; i++) names.push((await seen(await s.client().get(s.url('lb.localhost', '/'), { headers: json }))).name)
    expect(names.filter((n) => n === 'second').length).toBe(2)
  })

  it('answers 502 when the upstream is down and 504 when it is too slow, never hanging', async () => {
    const down = await s.client().get(s.url('down.localhost', '/'), { headers: json })
    expect(down.status).toBe(502)
    expect(await down.json()).toMatchObject({ error: 'upstream_unavailable' })
    const slowRes = await s.client().get(s.url('slow.localhost', '/'), { headers: { accept: 'text/html' } })
    expect(slowRes.status).toBe(504)
    expect(await slowRes.text()).toContain('did not answer')
  })

  it('streams a 50 MB upload through without buffering it', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 7)
    const hash = createHash('sha256')
    async function* body() {
      for (let i = 0; i < 50; i++) {
        hash.update(chunk)
        yield chunk
      }
    }
    const res = await s
      .client()
      .request(s.url('pub.localhost', '/upload'), { method: 'PUT', body: body(), headers: { ...json, 'content-type': 'application/octet-stream' } })
    const r = await seen(res)
    expect(r.bodyBytes).toBe(50 * 1024 * 1024)
    expect(r.bodySha256).toBe(hash.digest('hex'))
  })

  it('passes request bodies of any content type untouched, and no cookie of its own', async () => {
    const body = '{"not": "parsed", "by": "gatehouse"'
    const r = await seen(
      await alice.request(s.url('app.localhost', '/api/x'), { method: 'POST', body, headers: { ...json, 'content-type': 'application/json' } }),
    )
    expect(r.bodyBytes).toBe(Buffer.byteLength(body))
    expect(r.headers.cookie).toBeUndefined()
  })

  it("keeps the upstream's own cookies", async () => {
    const r = await seen(
      await alice.get(s.url('app.localhost', '/page'), {
        headers: { ...json, cookie: `${alice.cookieHeader(new URL(s.url('app.localhost')))}; app_pref=dark` },
      }),
    )
    expect(r.headers.cookie).toBe('app_pref=dark')
  })

  it('logs one line per request with route, user and outcome, and never a token or cookie', async () => {
    const lines = s.logs.join('')
    expect(lines).toMatch(/"msg":"request"/)
    expect(lines).toMatch(/"user":"alice@example.com"/)
    const idToken = (await seen(await alice.get(s.url('app.localhost', '/api/x'), { headers: json }))).headers['x-id-token'] as string
    const cookie = alice.cookieHeader(new URL(s.url('app.localhost'))).split('=')[1] as string
    for (const secret of [idToken, idToken.split('.')[1] as string, cookie]) expect(s.logs.join('')).not.toContain(secret)
    expect(s.logs.join('')).not.toMatch(/code=[A-Za-z0-9_-]{20}/)
  })

  it('wildcard hosts (*.wild.localhost) match one or more labels, and not the bare domain', async () => {
    expect((await s.client().get(s.url('a.wild.localhost', '/'), { headers: json })).status).toBe(200)
    expect((await s.client().get(s.url('x.y.wild.localhost', '/'), { headers: json })).status).toBe(200)
    expect((await s.client().get(s.url('wild.localhost', '/'), { headers: json })).status).toBe(404)
    expect((await s.client().get(s.url('evilwild.localhost', '/'), { headers: json })).status).toBe(404)
  })
})
