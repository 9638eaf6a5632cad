import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import net from 'node:net'
import { route, startStack, type Stack } from '../helpers/stack.js'
import { sendRaw, statusOf } from '../helpers/raw-http.js'
import type { HttpClient } from '../helpers/http-client.js'
import type { Seen } from '../../src/demo/whoami.js'

let s: Stack
let bob: HttpClient
const api = { accept: 'application/json' }

beforeAll(async () => {
  s = await startStack({
    hosts: ['app.localhost', 'site.localhost'],
    headersTimeoutMs: 500,
    routes: ({ upstream, port }) =>
      route(`http://app.localhost:${port}`, upstream, 'any-user', ['pass_identity_headers: true']) +
      route(`http://site.localhost:${port}`, upstream, { group: 'admin' }, ['prefix: /admin']) +
      route(`http://site.localhost:${port}`, upstream, 'public'),
  })
  bob = s.client()
  await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
  await bob.follow(await bob.get(s.url('site.localhost', '/admin'), { headers: { accept: 'text/html' } }), s.url('site.localhost', '/admin'))
})
afterAll(() => s.close())

describe('header trust', () => {
  const spoofed: Record<string, string> = {
    'x-forwarded-for': '10.9.9.9',
    'x-forwarded-host': 'evil.com',
    'x-forwarded-proto': 'https',
    'x-forwarded-uri': '/admin',
    'x-gatehouse-claim-email': 'admin@example.com',
    x_gatehouse_claim_email: 'admin@example.com',
    'X-Gatehouse-Claim-Groups': 'admin',
    'x-gatehouse-jwt-assertion': 'eyJhbGciOiJub25lIn0.e30.',
    'x-pomerium-jwt-assertion': 'forged',
    'x-forwarded-email': 'admin@example.com',
    'x-forwarded-user': 'admin',
    'x-auth-request-user': 'admin',
    'remote-user': 'admin',
    x_forwarded_user: 'admin',
    'user-agent': 'GoogleHC/1.0',
  }

  it('no client-sent identity or forwarding header reaches the upstream', async () => {
    const r = (await (await bob.get(s.url('app.localhost', '/'), { headers: { ...api, ...spoofed } })).json()) as Seen
    for (const name of Object.keys(spoofed)) {
      const n = name.toLowerCase()
      if (n === 'user-agent') continue
      const got = r.headers[n]
      if (n === 'x-gatehouse-claim-email') expect(got).toBe('bob@example.com')
      else if (n === 'x-gatehouse-claim-groups') expect(got).toBe('eng')
      else if (n === 'x-gatehouse-jwt-assertion') expect(r.assertion?.valid).toBe(true)
      else if (n === 'x-forwarded-for') expect(got).toBe('127.0.0.1')
      else if (n === 'x-forwarded-host') expect(got).toBe(`app.localhost:${s.port}`)
      else if (n === 'x-forwarded-proto') expect(got).toBe('http')
      else expect(got, n).toBeUndefined()
    }
  })

  it('spoofed headers and health-check user agents change no decision, redirect or cookie', async () => {
    for (const ua of ['GoogleHC/1.0', 'kube-probe/1.29', 'ELB-HealthChecker/2.0']) {
      const anon = await s.client().get(s.url('app.localhost', '/'), { headers: { ...spoofed, 'user-agent': ua, accept: 'text/html' } })
      expect(anon.status).toBe(302)
      const loc = new URL(anon.headers.get('location') ?? '')
      expect(loc.searchParams.get('redirect_uri')).toBe(s.url('app.localhost', '/.gatehouse/callback'))
      for (const c of anon.headers.getSetCookie()) expect(c).not.toMatch(/Domain=/i)
    }
    const denied = await bob.get(s.url('site.localhost', '/admin'), { headers: { ...api, ...spoofed } })
    expect(denied.status).toBe(403)
  })
})

describe('path matching: the decision is made on the path the upstream receives', () => {
  const tricks = [
    '/public/../admin',
    '/public/%2e%2e/admin',
    '/public/%2E%2E/admin',
    '//admin',
    '/./admin',
    '/admin%2f',
    '/admin%2F..%2Fpublic',
    '/ADMIN',
    '/Admin/x',
    '/admin;x=1',
    '/;x/admin',
    '/admin;x/y',
    '/admin%3bx',
    '/public/%252e%252e/admin',
    '/public/%252E%252E/admin',
    '/public/..%252fadmin',
    '/public/%25%32%65%25%32%65/admin',
    '/admin%253b',
    '/admin/..;/x',
    '/public%23/../admin',
    '/%61dmin',
    '/admin%00',
    '/admin\\x',
    '/admin?/../public',
    '/admin#/../public',
  ]
  for (const path of tricks) {
    it(`${JSON.stringify(path)} gets the admin policy or a 400`, async () => {
      const before = s.upstream.requests.length
      const raw = await sendRaw(
        s.port,
        `GET ${path} HTTP/1.1\r\nHost: site.localhost:${s.port}\r\nAccept: application/json\r\nCookie: ${bob.cookieHeader(new URL(s.url('site.localhost')))}\r\nConnection: close\r\n\r\n`,
      )
      expect([400, 403], raw.slice(0, 200)).toContain(statusOf(raw))
      expect(s.upstream.requests.length).toBe(before)
    })
  }
})

describe('sessions and state', () => {
  it('never adopts a session id set by an attacker before sign-in', async () => {
    const c = s.client()
    c.cookies('app.localhost').set('_gatehouse', { name: '_gatehouse', value: 'attacker-chosen-value', path: '/', expiresAtMs: undefined })
    await s.signIn(c, s.url('app.localhost', '/'), 'alice')
    const value = c.cookies('app.localhost').get('_gatehouse')?.value
    expect(value).toBeDefined()
    expect(value).not.toBe('attacker-chosen-value')
  })

  it('a tampered or garbage cookie is no session (401 or a redirect), never a 500', async () => {
    const real = bob.cookies('app.localhost').get('_gatehouse')?.value ?? ''
    const tampered = real.slice(0, 10) + (real[10] === 'A' ? 'B' : 'A') + real.slice(11)
    for (const v of [
      tampered,
      'x',
      '%%%',
      '"' + 'a'.repeat(3000) + '"',
      Buffer.alloc(300, 0xff)
        .toString('latin1')
        .replace(/[^\x21-\x7e]/g, 'z'),
    ]) {
      const res = await s.client().get(s.url('app.localhost', '/'), { headers: { ...api, cookie: `_gatehouse=${v}` } })
      expect(res.status).toBe(401)
    }
  })
})

describe('resource abuse', () => {
  it('thousands of cookies and chunk-count tricks get a fast refusal, not a crash', async () => {
    const many = Array.from({ length: 1500 }, (_, i) => `c${i}=v`).join('; ')
    expect((await s.client().get(s.url('app.localhost', '/'), { headers: { ...api, cookie: many } })).status).toBe(401)
    expect(
      (await s.client().get(s.url('app.localhost', '/'), { headers: { ...api, cookie: '_gatehouse_1of10000000000=x; _gatehouse_2of10000000000=y' } })).status,
    ).toBe(401)
  })

  it('a 64 KB cookie and a 100 KB request line are refused at the door', async () => {
    expect(statusOf(await sendRaw(s.port, `GET / HTTP/1.1\r\nHost: app.localhost:${s.port}\r\nCookie: _gatehouse=${'a'.repeat(64 * 1024)}\r\n\r\n`))).toBe(431)
    expect([414, 431]).toContain(statusOf(await sendRaw(s.port, `GET /${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: app.localhost:${s.port}\r\n\r\n`)))
  })

  it('a slow-loris client is cut off once the header timeout passes', async () => {
    const closed = await new Promise<string>((resolve) => {
      const sock = net.connect(s.port, '127.0.0.1', () => sock.write(`GET / HTTP/1.1\r\nHost: app.localhost:${s.port}\r\nX-Slow: `))
      let out = ''
      sock.on('data', (d) => (out += d.toString()))
      sock.on('close', () => resolve(out))
    })
    // Answered from the refusal table, then closed.
    expect(statusOf(closed)).toBe(408)
    expect(JSON.parse(closed.slice(closed.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'request_timeout' })
    // Still serving.
    expect((await fetch(s.url('app.localhost', '/healthz').replace('app.localhost', '127.0.0.1'))).status).toBe(200)
  })

  it('a malformed Host is a 400, and health checks answer on any Host', async () => {
    expect(statusOf(await sendRaw(s.port, `GET / HTTP/1.1\r\nHost: evil.com@app.localhost\r\nConnection: close\r\n\r\n`))).toBe(400)
    expect(statusOf(await sendRaw(s.port, `GET /healthz HTTP/1.1\r\nHost: 10.0.0.7:8443\r\nConnection: close\r\n\r\n`))).toBe(200)
    expect(statusOf(await sendRaw(s.port, `GET / HTTP/1.1\r\nHost: unknown.example\r\nConnection: close\r\n\r\n`))).toBe(404)
  })

  it('a request with two Host headers is a 400 whichever comes first, WebSocket upgrades included (RFC 9112 §3.2)', async () => {
    const app = `app.localhost:${s.port}`
    for (const [a, b] of [
      [app, 'unknown.example'],
      ['unknown.example', app],
      [app, app],
    ]) {
      const plain = await sendRaw(s.port, `GET / HTTP/1.1\r\nHost: ${a}\r\nhost: ${b}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`)
      expect(statusOf(plain)).toBe(400)
      expect(plain).toContain('repeated')
      const upgrade = `GET / HTTP/1.1\r\nHost: ${a}\r\nHost: ${b}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`
      expect(statusOf(await sendRaw(s.port, upgrade))).toBe(400)
    }
  })
})
