import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import net from 'node:net'
import fc from 'fast-check'
import { startStack, type Stack } from '../helpers/stack.js'

let s: Stack
beforeAll(async () => {
  s = await startStack({
    hosts: ['app.localhost', 'pub.localhost'],
    routes: ({ upstream, port }) => `
  - from: http://app.localhost:${port}
    prefix: /admin
    to: ${upstream}
    policy:
      - allow:
          and:
            - groups: admin
  - from: http://app.localhost:${port}
    to: ${upstream}
    allow_any_authenticated_user: true
  - from: http://pub.localhost:${port}
    to: ${upstream}
    allow_public_unauthenticated_access: true
`,
  })
})
afterAll(() => s.close())

function send(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    // write, not end: a half-closed socket may be torn down before an asynchronous answer.
    const sock = net.connect(port, '127.0.0.1', () => sock.write(text))
    let out = ''
    sock.setTimeout(5000, () => sock.destroy())
    sock.on('data', (d) => {
      out += d.toString('latin1')
      // Stop once the whole response (by Content-Length) is in: keep-alive would hold the socket.
      const end = out.indexOf('\r\n\r\n')
      if (end === -1) return
      const len = /\r\ncontent-length: *(\d+)/i.exec(out.slice(0, end))
      if (len === null || out.length - end - 4 >= Number(len[1]) || /^HEAD /.test(text)) sock.destroy()
    })
    sock.on('close', () => resolve(out))
    sock.on('error', () => resolve(out))
  })
}

describe('random requests', () => {
  it('never get a 5xx, a stack trace, or upstream bytes without a session', async () => {
    const segment = fc.oneof(fc.constantFrom('admin', 'ADMIN', '..', '.', '%2e%2e', '%2f', '%5c', '%00', '%', '%zz', ';x=1', '', '.gatehouse', 'callback', 'sign_in', 'user', '\\', '~', '%61dmin'), fc.webSegment())
    const target = fc.array(segment, { maxLength: 6 }).map((segs) => '/' + segs.join('/'))
    const query = fc.oneof(fc.constant(''), fc.webQueryParameters().map((q) => '?' + q), fc.constantFrom('?rd=//evil.com', '?state=a&state=b&code=x', '?code=' + 'x'.repeat(100)))
    const host = fc.constantFrom(`app.localhost:${0}`, `pub.localhost:${0}`, 'evil.com', '', 'APP.LOCALHOST', 'app.localhost.', '[::1]', 'a b')
    const cookie = fc.oneof(fc.constant(''), fc.string({ maxLength: 200 }).map((v) => `_gatehouse=${v.replace(/[\r\n;]/g, '')}`), fc.constant('_gatehouse_login_x=y; _gatehouse=' + 'A'.repeat(103)))
    const method = fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE', 'PROPFIND', 'BREW')
    await fc.assert(
      fc.asyncProperty(method, target, query, host, cookie, async (m, t, q, h, c) => {
        const hostHeader = h.replace(':0', `:${s.port}`)
        const before = s.upstream.requests.length
        const raw = await send(s.port, `${m} ${t}${q} HTTP/1.1\r\nHost: ${hostHeader}\r\n${c === '' ? '' : `Cookie: ${c}\r\n`}Accept: text/html\r\nConnection: close\r\n\r\n`)
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0)
        expect(status, `${m} ${t}${q} host=${hostHeader}`).toBeGreaterThan(0)
        expect(status, `${m} ${t}${q} host=${hostHeader}`).toBeLessThan(500)
        expect(raw).not.toMatch(/at .*\.(js|ts):\d+/)
        // Only the public host may reach the upstream without a valid session.
        if (!hostHeader.toLowerCase().startsWith('pub.localhost')) expect(s.upstream.requests.length).toBe(before)
      }),
      { numRuns: 300 },
    )
  })
})
