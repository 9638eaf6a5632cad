/**
 * Every method goes through gatehouse's own pipeline: routed, judged and
 * answered from the refusal table (security headers, a request id, an
 * access-log line), never by the HTTP framework's default 404 (which echoed
 * the URL and logged nothing). TRACE is refused: it would echo the
 * assertion and identity headers gatehouse adds back to the client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { route, startStack, type Stack } from '../helpers/stack.js'
import { sendRaw, statusOf } from '../helpers/raw-http.js'
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js'

let s: Stack
let rec: RecordingUpstream

beforeAll(async () => {
  rec = await startRecordingUpstream()
  s = await startStack({
    hosts: ['app.localhost', 'pub.localhost'],
    routes: ({ port }) => route(`http://app.localhost:${port}`, rec.url, 'any-user') + route(`http://pub.localhost:${port}`, rec.url, 'public'),
  })
})
afterAll(async () => {
  await s.close()
  await rec.close()
})

/** A string that must never come back in a response: it is only in the request line. */
const MARK = 'zq-echo-mark-7d1'

function accessLineFor(method: string, status: number): Record<string, unknown> | undefined {
  for (const line of s.logs) {
    if (!line.includes('"msg":"request"')) continue
    const e = JSON.parse(line) as Record<string, unknown>
    if (e.method === method && e.status === status) return e
  }
  return undefined
}

function expectGatehouseAnswer(raw: string, error: string, echoes = false): void {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase()
  expect(head).toContain('x-content-type-options: nosniff')
  expect(head).toContain('cache-control: no-store')
  const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: string; request_id: string }
  expect(body.error).toBe(error)
  expect(body.request_id.length).toBeGreaterThan(0)
  // A sign-in answer carries the URL to come back to (sign_in_url), on purpose; nothing else does.
  if (!echoes) expect(raw).not.toContain(MARK)
}

const EXTENSION_METHODS = ['PURGE', 'MKCALENDAR', 'LINK', 'UNLINK', 'SUBSCRIBE', 'NOTIFY', 'M-SEARCH', 'BIND', 'ACL', 'QUERY', 'SOURCE', 'MERGE']

describe('methods beyond the usual ones', () => {
  for (const method of EXTENSION_METHODS) {
    it(`${method} on an unknown host gets gatehouse's 404, logged, without echoing the URL`, async () => {
      const raw = await sendRaw(
        s.port,
        `${method} /${MARK} HTTP/1.1\r\nHost: nowhere.localhost:${s.port}\r\nAccept: application/json\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n`,
      )
      expect(statusOf(raw)).toBe(404)
      expectGatehouseAnswer(raw, 'not_found')
      expect(accessLineFor(method, 404)).toMatchObject({ outcome: 'not-found' })
    })

    it(`${method} on a signed-in route without a session is refused by the policy (401), nothing upstream`, async () => {
      const before = rec.received.length
      const raw = await sendRaw(
        s.port,
        `${method} /${MARK} HTTP/1.1\r\nHost: app.localhost:${s.port}\r\nAccept: application/json\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n`,
      )
      expect(statusOf(raw)).toBe(401)
      expectGatehouseAnswer(raw, 'login_required', true)
      expect(rec.received.length).toBe(before)
    })
  }

  it('an extension method on a public route reaches the upstream as that method, body included', async () => {
    const before = rec.received.length
    const raw = await sendRaw(s.port, `PURGE /cache/item HTTP/1.1\r\nHost: pub.localhost:${s.port}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`)
    expect(statusOf(raw)).toBe(200)
    expect(rec.received.slice(before).map((r) => [r.method, r.target])).toEqual([['PURGE', '/cache/item']])
    expect(accessLineFor('PURGE', 200)).toMatchObject({ outcome: 'allow', route: expect.any(String) })
  })

  it('TRACE is refused with 405 on every route, before the policy, nothing upstream', async () => {
    for (const host of ['pub.localhost', 'app.localhost', 'nowhere.localhost']) {
      const before = rec.received.length
      const raw = await sendRaw(s.port, `TRACE /${MARK} HTTP/1.1\r\nHost: ${host}:${s.port}\r\nCookie: secret=${MARK}\r\nConnection: close\r\n\r\n`)
      expect(statusOf(raw), host).toBe(405)
      expectGatehouseAnswer(raw, 'method_not_allowed')
      expect(rec.received.length).toBe(before)
    }
    expect(accessLineFor('TRACE', 405)).toBeDefined()
  })

  it('CONNECT gets a 405 from the refusal table, logged, and no tunnel', async () => {
    const raw = await sendRaw(s.port, `CONNECT 127.0.0.1:${s.port} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`)
    expect(statusOf(raw)).toBe(405)
    expectGatehouseAnswer(raw, 'method_not_allowed')
    expect(accessLineFor('CONNECT', 405)).toBeDefined()
  })

  it('a method the HTTP parser cannot read gets 400 from the refusal table, logged, without echo', async () => {
    const raw = await sendRaw(s.port, `CONNECTX /${MARK} HTTP/1.1\r\nHost: pub.localhost:${s.port}\r\n\r\n`)
    expect(statusOf(raw)).toBe(400)
    expectGatehouseAnswer(raw, 'bad_request')
    expect(s.logs.some((l) => l.includes('"msg":"request"') && l.includes('"status":400') && l.includes('"outcome":"error"') && !l.includes(MARK))).toBe(true)
  })

  it('QUERY without a Content-Type (which RFC 10008 says to refuse) gets 400 from the refusal table, logged', async () => {
    const raw = await sendRaw(s.port, `QUERY /${MARK} HTTP/1.1\r\nHost: pub.localhost:${s.port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`)
    expect(statusOf(raw)).toBe(400)
    expectGatehouseAnswer(raw, 'bad_request')
    expect(accessLineFor('QUERY', 400)).toMatchObject({ outcome: 'error' })
  })

  for (const target of ['*', `http://pub.localhost:${0}/${MARK}`, MARK]) {
    it(`a request target that is not a path (${target.replace(MARK, '…')}) is answered by gatehouse without echo`, async () => {
      const raw = await sendRaw(s.port, `OPTIONS ${target} HTTP/1.1\r\nHost: pub.localhost:${s.port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`)
      expect([400, 404]).toContain(statusOf(raw))
      expectGatehouseAnswer(raw, statusOf(raw) === 400 ? 'bad_request' : 'not_found')
    })
  }
})
