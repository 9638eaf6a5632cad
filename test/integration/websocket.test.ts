import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import http from 'node:http'
import { WebSocketServer, WebSocket } from 'ws'
import { listenLocal, type LocalServer } from '../helpers/local-server.js'
import { startStack, type Stack } from '../helpers/stack.js'

let s: Stack
let upstream: LocalServer
let wss: WebSocketServer
const upgradesSeen: http.IncomingMessage[] = []

beforeAll(async () => {
  const server = http.createServer((_req, res) => res.end('plain'))
  wss = new WebSocketServer({ server })
  wss.on('connection', (ws, req) => {
    upgradesSeen.push(req)
    ws.on('message', (m) => ws.send(`echo:${m.toString()}:${req.headers['x-gatehouse-claim-email'] ?? 'nobody'}`))
  })
  upstream = await listenLocal(server)
  const up = upstream.url
  s = await startStack({
    hosts: ['app.localhost', 'admin.localhost', 'nows.localhost'],
    routes: ({ port }) => `
  - from: http://app.localhost:${port}
    to: ${up}
    allow_websockets: true
    pass_identity_headers: true
    allow_any_authenticated_user: true
  - from: http://admin.localhost:${port}
    to: ${up}
    allow_websockets: true
    policy:
      - allow:
          and:
            - groups: admin
  - from: http://nows.localhost:${port}
    to: ${up}
    allow_any_authenticated_user: true
`,
  })
})
afterAll(async () => {
  await s.close()
  wss.close()
  await upstream.close()
})

function connect(url: string, cookie?: string): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace('http', 'ws'), {
      headers: cookie === undefined ? {} : { cookie },
      lookup: (_h: string, o: { all?: boolean }, cb: (e: null, a: unknown, f?: number) => void) =>
        o.all === true ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4),
    } as never)
    ws.on('open', () => resolve({ ws }))
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }))
    ws.on('error', () => resolve({ status: -1 }))
  })
}

describe('WebSockets', () => {
  it('an upgrade with a valid session is tunnelled, with identity headers', async () => {
    const c = s.client()
    await s.signIn(c, s.url('app.localhost', '/'), 'bob')
    const r = await connect(s.url('app.localhost', '/live'), c.cookieHeader(new URL(s.url('app.localhost'))))
    if (!('ws' in r)) throw new Error(`upgrade refused: ${r.status}`)
    const reply = new Promise<string>((resolve) => r.ws.once('message', (m) => resolve(m.toString())))
    r.ws.send('hi')
    expect(await reply).toBe('echo:hi:bob@example.com')
    r.ws.close()
  })

  it('refuses upgrades without a session, when the policy denies, or when the route does not allow them, before any byte reaches the upstream', async () => {
    const before = upgradesSeen.length
    expect(await connect(s.url('app.localhost', '/live'))).toEqual({ status: 401 })
    expect(await connect(s.url('app.localhost', '/live'), '_gatehouse=forged')).toEqual({ status: 401 })
    const c = s.client()
    await s.signIn(c, s.url('admin.localhost', '/'), 'bob')
    expect(await connect(s.url('admin.localhost', '/live'), c.cookieHeader(new URL(s.url('admin.localhost'))))).toEqual({ status: 403 })
    // Already signed in at the IdP: the redirects come straight back.
    await c.follow(await c.get(s.url('nows.localhost', '/'), { headers: { accept: 'text/html' } }), s.url('nows.localhost', '/'))
    expect(await connect(s.url('nows.localhost', '/live'), c.cookieHeader(new URL(s.url('nows.localhost'))))).toEqual({ status: 403 })
    expect(upgradesSeen.length).toBe(before)
  })
})
