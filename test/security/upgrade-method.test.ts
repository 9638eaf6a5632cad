/**
 * The policy judges exactly the method and path the upstream receives. A
 * WebSocket upgrade is a GET (RFC 6455 §4.1): an upgrade with any other
 * method is refused with 400 before the policy or the upstream sees it, so a
 * CORS preflight (judged as OPTIONS, let through by cors_allow_preflight)
 * can never be turned into an anonymous GET tunnel. The upstream here
 * records every request it receives, plain or upgrade, and accepts upgrades.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { route, startStack, type Stack } from '../helpers/stack.js'
import { sendRaw, statusOf } from '../helpers/raw-http.js'
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js'
import { resolveRoute } from '../../src/authorize/resolve.js'

let s: Stack
let rec: RecordingUpstream

/** Who may do what on prop.localhost: GET and HEAD under /pub/, POST to /form, CORS preflights anywhere. */
const PROP_POLICY = [
  'policy:',
  '  - allow:',
  '      and:',
  '        - http_method: {in: [GET, HEAD]}',
  '        - http_path: {starts_with: /pub/}',
  '  - allow:',
  '      and:',
  '        - http_method: POST',
  '        - http_path: /form',
]

beforeAll(async () => {
  rec = await startRecordingUpstream()
  s = await startStack({
    hosts: ['ws.localhost', 'pub.localhost', 'prop.localhost'],
    routes: ({ port }) =>
      // The route from the review: preflights pass without a session, WebSockets allowed, everything else needs sign-in.
      route(`http://ws.localhost:${port}`, rec.url, 'any-user', ['allow_websockets: true', 'cors_allow_preflight: true']) +
      route(`http://pub.localhost:${port}`, rec.url, 'public', ['allow_websockets: true']) +
      [
        `  - from: http://prop.localhost:${port}`,
        `    to: ${rec.url}`,
        '    allow_websockets: true',
        '    cors_allow_preflight: true',
        ...PROP_POLICY.map((l) => `    ${l}`),
      ].join('\n') +
      '\n',
  })
})
afterAll(async () => {
  await s.close()
  await rec.close()
})

const UPGRADE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'

function receivedSince(n: number): RecordingUpstream['received'] {
  return rec.received.slice(n)
}

describe('a WebSocket upgrade is a GET', () => {
  it('refuses the preflight-shaped upgrade from the review with 400: no tunnel, nothing upstream', async () => {
    const before = rec.received.length
    const raw = await sendRaw(
      s.port,
      `OPTIONS /api/socket HTTP/1.1\r\nHost: ws.localhost:${s.port}\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: GET\r\n${UPGRADE}\r\n`,
    )
    expect(statusOf(raw)).toBe(400)
    expect(raw).not.toContain('101 Switching Protocols')
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: string; request_id: string }
    expect(body.error).toBe('bad_request')
    expect(body.request_id.length).toBeGreaterThan(0)
    expect(raw.toLowerCase()).toContain('x-content-type-options: nosniff')
    expect(receivedSince(before)).toEqual([])
    // The refusal is logged like any other request.
    expect(s.logs.some((l) => l.includes('"method":"OPTIONS"') && l.includes('"upgrade":"websocket"') && l.includes('"status":400'))).toBe(true)
  })

  for (const method of ['POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'PROPFIND', 'CONNECTX']) {
    it(`refuses ${method} with Upgrade: websocket on a public WebSocket route with 400`, async () => {
      const before = rec.received.length
      const raw = await sendRaw(s.port, `${method} /chat HTTP/1.1\r\nHost: pub.localhost:${s.port}\r\nContent-Length: 0\r\n${UPGRADE}\r\n`)
      expect(statusOf(raw)).toBe(400)
      expect(receivedSince(before)).toEqual([])
    })
  }

  it('still opens a GET upgrade on the public route, and the upstream sees that GET', async () => {
    const before = rec.received.length
    const raw = await sendRaw(s.port, `GET /chat HTTP/1.1\r\nHost: pub.localhost:${s.port}\r\n${UPGRADE}\r\n`)
    expect(statusOf(raw)).toBe(101)
    expect(receivedSince(before).map((r) => [r.method, r.target, r.upgrade])).toEqual([['GET', '/chat', true]])
  })

  it('an anonymous GET upgrade on the signed-in route is refused (401), nothing upstream', async () => {
    const before = rec.received.length
    const raw = await sendRaw(s.port, `GET /api/socket HTTP/1.1\r\nHost: ws.localhost:${s.port}\r\nOrigin: http://evil.example\r\n${UPGRADE}\r\n`)
    expect(statusOf(raw)).toBe(401)
    expect(receivedSince(before)).toEqual([])
  })
})

describe('property: the upstream receives exactly the method and path the policy judged', () => {
  const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND', 'TRACE', 'PURGE']
  const SEGMENTS = ['pub', 'form', 'admin', 'api', '.', '..', '%2e', '%2E%2e', 'x', '', 'a%20b']
  const request = fc.record({
    // Weighted towards requests the policy lets in, so that many reach the upstream.
    method: fc.oneof({ arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'OPTIONS'), weight: 2 }, { arbitrary: fc.constantFrom(...METHODS), weight: 1 }),
    segments: fc.oneof(
      fc.array(fc.constantFrom(...SEGMENTS), { minLength: 0, maxLength: 4 }),
      fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 }).map((rest) => ['pub', ...rest]),
      fc.constant(['form']),
    ),
    upgrade: fc.boolean(),
    preflight: fc.boolean(),
    body: fc.boolean(),
  })

  it('for any request, what reached the upstream is what the policy saw, and the policy allows it', async () => {
    let n = 0
    const start = rec.received.length
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        n += 1
        const path = '/' + r.segments.join('/')
        const target = `${path}?n=${n}`
        const headers =
          `Host: prop.localhost:${s.port}\r\n` +
          (r.preflight ? 'Origin: http://other.example\r\nAccess-Control-Request-Method: GET\r\n' : '') +
          (r.upgrade ? UPGRADE : '') +
          (r.body ? 'Content-Length: 2\r\n' : '')
        const before = rec.received.length
        const raw = await sendRaw(
          s.port,
          `${r.method} ${target} HTTP/1.1\r\n${headers}Connection: ${r.upgrade ? 'Upgrade' : 'close'}\r\n\r\n${r.body ? 'hi' : ''}`,
        )
        const status = statusOf(raw)
        const got = receivedSince(before)
        if (got.length === 0) return
        expect(got.length).toBe(1)
        const up = got[0] as (typeof got)[number]
        // What the policy saw: the core's own reading of these facts (the method as sent, the judged path).
        const facts = {
          method: r.method,
          scheme: 'http' as const,
          host: `prop.localhost:${s.port}`,
          target,
          peer: '127.0.0.1',
          headers: { host: `prop.localhost:${s.port}`, ...(r.preflight ? { origin: 'http://other.example', 'access-control-request-method': 'GET' } : {}) },
          isWebSocket: r.upgrade,
        }
        const judged = resolveRoute(s.gh.current(), facts)
        expect(judged.kind, `status ${status}`).toBe('route')
        if (judged.kind !== 'route') return
        expect(up.method).toBe(r.method)
        expect(up.target).toBe(judged.judgedPath + judged.query)
        expect(up.upgrade).toBe(r.upgrade)
        // And the policy, asked about exactly what the upstream received, lets it in.
        const received = {
          method: up.method,
          path: up.target.split('?')[0] as string,
          sourceIp: '127.0.0.1',
          isCorsPreflight: up.method === 'OPTIONS' && up.headers.origin !== undefined && up.headers['access-control-request-method'] !== undefined,
        }
        expect(judged.route.policy.evaluate(undefined, received, Date.now()).outcome).toBe('allow')
      }),
      {
        numRuns: 150,
        // One allowed request of each kind always runs first, so the checks below do not hang on the
        // random draw (a run of 150 once sent no HEAD that the policy lets in).
        examples: [
          [{ method: 'HEAD', segments: ['pub', 'x'], upgrade: false, preflight: false, body: false }],
          [{ method: 'GET', segments: ['pub', 'x'], upgrade: true, preflight: false, body: false }],
          [{ method: 'OPTIONS', segments: ['x'], upgrade: false, preflight: true, body: false }],
          [{ method: 'POST', segments: ['form'], upgrade: false, preflight: false, body: true }],
        ],
      },
    )
    // The property was not vacuous: requests of every kind reached the upstream.
    const reached = rec.received.slice(start)
    expect(reached.some((r) => r.upgrade)).toBe(true)
    expect(reached.some((r) => r.method === 'OPTIONS')).toBe(true)
    expect(reached.some((r) => r.method === 'POST')).toBe(true)
    expect(reached.some((r) => r.method === 'HEAD')).toBe(true)
  })
})
