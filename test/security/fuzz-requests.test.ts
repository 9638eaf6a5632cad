import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { route, startStack, type Stack } from '../helpers/stack.js'
import { sendRaw, statusOf } from '../helpers/raw-http.js'

let s: Stack
beforeAll(async () => {
  s = await startStack({
    hosts: ['app.localhost', 'pub.localhost'],
    routes: ({ upstream, port }) =>
      route(`http://app.localhost:${port}`, upstream, { group: 'admin' }, ['prefix: /admin']) +
      route(`http://app.localhost:${port}`, upstream, 'any-user') +
      route(`http://pub.localhost:${port}`, upstream, 'public'),
  })
})
afterAll(() => s.close())

describe('random requests', () => {
  it('never get a 5xx, a stack trace, or upstream bytes without a session', async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        'admin',
        'ADMIN',
        '..',
        '.',
        '%2e%2e',
        '%2f',
        '%5c',
        '%00',
        '%',
        '%zz',
        ';x=1',
        ';',
        '%3b',
        'admin;x',
        '%252e%252e',
        '%252f',
        '%25%32%65',
        '',
        '.gatehouse',
        'callback',
        'sign_in',
        'user',
        '\\',
        '~',
        '%61dmin',
      ),
      fc.webSegment(),
    )
    const target = fc.array(segment, { maxLength: 6 }).map((segs) => '/' + segs.join('/'))
    const query = fc.oneof(
      fc.constant(''),
      fc.webQueryParameters().map((q) => '?' + q),
      fc.constantFrom('?rd=//evil.com', '?state=a&state=b&code=x', '?code=' + 'x'.repeat(100)),
    )
    const host = fc.constantFrom(`app.localhost:${0}`, `pub.localhost:${0}`, 'evil.com', '', 'APP.LOCALHOST', 'app.localhost.', '[::1]', 'a b')
    const cookie = fc.oneof(
      fc.constant(''),
      fc.string({ maxLength: 200 }).map((v) => `_gatehouse=${v.replace(/[\r\n;]/g, '')}`),
      fc.constant('_gatehouse_login_x=y; _gatehouse=' + 'A'.repeat(103)),
    )
    const method = fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE', 'PROPFIND', 'BREW')
    await fc.assert(
      fc.asyncProperty(method, target, query, host, cookie, async (m, t, q, h, c) => {
        const hostHeader = h.replace(':0', `:${s.port}`)
        const before = s.upstream.requests.length
        const raw = await sendRaw(
          s.port,
          `${m} ${t}${q} HTTP/1.1\r\nHost: ${hostHeader}\r\n${c === '' ? '' : `Cookie: ${c}\r\n`}Accept: text/html\r\nConnection: close\r\n\r\n`,
        )
        const status = statusOf(raw)
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
