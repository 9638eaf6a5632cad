/**
 * What crosses gatehouse's boundaries, in both directions: what a refused
 * caller is told, which forwarded values are believed, what an upstream may
 * set on the client, how identity reaches the upstream, and which identity
 * facts the IdP itself does not vouch for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import http from 'node:http'
import { route, startStack, type Stack } from '../helpers/stack.js'
import { listenLocal, type LocalServer } from '../helpers/local-server.js'
import type { HttpClient } from '../helpers/http-client.js'
import type { Seen } from '../../src/demo/whoami.js'

let s: Stack
let cookieSetter: LocalServer
const clients: Record<string, HttpClient> = {}
const json = { accept: 'application/json' }

/** Who a route lets in, as a PPL policy. */
const policy = (...lines: string[]): string[] => ['policy:', ...lines.map((l) => `  ${l}`)]

beforeAll(async () => {
  // An upstream that tries to set gatehouse's own cookies (and one of its own).
  cookieSetter = await listenLocal(
    http.createServer((_req, res) => {
      res.setHeader('set-cookie', [
        '_gatehouse=planted; Path=/',
        '__Host-_gatehouse=planted; Path=/; Secure',
        '__Secure-_gatehouse=planted; Path=/; Secure',
        '__host-_gatehouse=planted; Path=/; Secure',
        '_GATEHOUSE=planted; Path=/',
        '_gatehouse_login_abc=planted; Path=/',
        '_gatehouse_csrf=planted; Path=/',
        ' _gatehouse =planted; Path=/',
        'theme=dark; Path=/',
      ])
      res.end('ok')
    }),
  )
  s = await startStack({
    hosts: ['app.localhost'],
    extra: 'trusted_proxies: [127.0.0.1/32]',
    idp: {
      users: [
        { username: 'bob', password: 'bob', id: '00u1bob', email: 'bob@example.com', name: 'Bob', groups: ['eng'] },
        { username: 'dave', password: 'dave', id: '00u1dave', email: 'dave@example.com', name: 'Dave', groups: ['a,b', 'eng'] },
        { username: 'erin', password: 'erin', id: '00u1erin', email: 'erin@example.com', name: 'Erin', groups: ['eng'], email_verified: false },
      ],
    },
    routes: ({ upstream, port }) => {
      const from = `http://app.localhost:${port}`
      return (
        route(from, upstream, 'any-user', [
          'prefix: /vip',
          ...policy('- allow:', '    or:', '      - email: {in: [ceo@example.com, cfo@example.com, secret-admin@example.com]}'),
        ]).replace('    allow_any_authenticated_user: true\n', '') +
        route(from, upstream, 'public', ['prefix: /office', ...policy('- allow:', '    or:', '      - source_ip: 10.0.0.0/8')]).replace(
          '    allow_public_unauthenticated_access: true\n',
          '',
        ) +
        route(from, upstream, { group: 'x' }, ['prefix: /verified']).replace('groups: x', 'domain: example.com') +
        route(from, upstream, { group: 'x' }, ['prefix: /erin']).replace('groups: x', 'email: erin@example.com') +
        route(from, upstream, 'any-user', ['prefix: /nodeny', ...policy('- deny:', '    or:', '      - email: {ends_with: "@evil.example"}')]) +
        route(from, cookieSetter.url, 'public', ['prefix: /cookies']) +
        route(from, upstream, 'any-user', ['pass_identity_headers: true'])
      )
    },
  })
  for (const name of ['bob', 'dave', 'erin']) {
    const c = s.client()
    await s.signIn(c, s.url('app.localhost', '/'), name)
    clients[name] = c
  }
})
afterAll(async () => {
  await s.close()
  await cookieSetter.close()
})

const as = (name: string): HttpClient => clients[name] as HttpClient

describe('a refusal tells the caller the criterion and their own value, never the allow-list', () => {
  it('a signed-in user refused by an email allow-list sees neither the list nor its size (page or JSON)', async () => {
    for (const accept of ['application/json', 'text/html']) {
      const res = await as('bob').get(s.url('app.localhost', '/vip/board'), { headers: { accept } })
      expect(res.status).toBe(403)
      const body = await res.text()
      expect(body).not.toMatch(/ceo@|cfo@|secret-admin/)
      expect(body).toContain('email')
      expect(body).toMatch(/bob@example\.com/)
    }
    // The operators still get the whole reason, in the log.
    expect(s.logs.join('')).toMatch(/ceo@example\.com/)
  })

  it("an anonymous client refused by source_ip sees its own address, not the route's CIDRs", async () => {
    const res = await s.client().get(s.url('app.localhost', '/office'), { headers: json })
    expect(res.status).toBe(403)
    const body = await res.text()
    expect(body).not.toContain('10.0.0.0')
    expect(body).toContain('127.0.0.1')
  })
})

describe('X-Forwarded-Host and -Proto from a trusted proxy', () => {
  it('the value the nearest trusted proxy appended is believed, not the client-written one on its left', async () => {
    const res = await as('bob').get(s.url('app.localhost', '/fwd'), {
      headers: { ...json, 'x-forwarded-host': `evil.example, app.localhost:${s.port}`, 'x-forwarded-proto': 'https, http' },
    })
    const seen = (await res.json()) as Seen
    expect(seen.headers['x-forwarded-host']).toBe(`app.localhost:${s.port}`)
    expect(seen.headers['x-forwarded-proto']).toBe('http')
  })

  it('over several header lines the last line is the nearest', async () => {
    const { sendRaw } = await import('../helpers/raw-http.js')
    const raw = await sendRaw(
      s.port,
      `GET /fwd HTTP/1.1\r\nHost: app.localhost:${s.port}\r\nAccept: application/json\r\nCookie: ${as('bob').cookieHeader(new URL(s.url('app.localhost')))}\r\n` +
        `X-Forwarded-Host: evil.example\r\nX-Forwarded-Host: app.localhost:${s.port}\r\nConnection: close\r\n\r\n`,
    )
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4)
    const seen = JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1)) as Seen
    expect(seen.headers['x-forwarded-host']).toBe(`app.localhost:${s.port}`)
  })
})

describe("an upstream cannot set gatehouse's cookies", () => {
  it('Set-Cookie for the session, login-state and CSRF cookies (any prefix or case) is dropped; the upstream keeps its own', async () => {
    const res = await s.client().get(s.url('app.localhost', '/cookies'))
    expect(res.status).toBe(200)
    expect(res.headers.getSetCookie()).toEqual(['theme=dark; Path=/'])
  })
})

describe('identity headers', () => {
  it('a group whose name holds a comma is one group in X-Gatehouse-Claim-Groups (percent-encoded)', async () => {
    const seen = (await (await as('dave').get(s.url('app.localhost', '/'), { headers: json })).json()) as Seen
    expect(seen.headers['x-gatehouse-claim-groups']).toBe('a%2Cb,eng')
    const groups = String(seen.headers['x-gatehouse-claim-groups'])
      .split(',')
      .map((g) => decodeURIComponent(g))
    expect(groups).toEqual(['a,b', 'eng'])
  })
})

describe('an email the IdP has not verified is unknown', () => {
  it('email and domain allows do not let the user in, and a deny on email denies; the reason says why', async () => {
    for (const path of ['/verified', '/erin', '/nodeny']) {
      const res = await as('erin').get(s.url('app.localhost', path), { headers: json })
      expect(res.status, path).toBe(403)
      expect(await res.text(), path).toMatch(/not verified/)
    }
    // A verified address is judged as before.
    expect((await as('bob').get(s.url('app.localhost', '/verified'), { headers: json })).status).toBe(200)
    expect((await as('bob').get(s.url('app.localhost', '/nodeny'), { headers: json })).status).toBe(200)
    // Criteria that do not read the email still work for the unverified user.
    expect((await as('erin').get(s.url('app.localhost', '/'), { headers: json })).status).toBe(200)
  })
})
