import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { checkReturnUrl, returnParam, type KnownHosts } from '../../../src/server/endpoints/return-url.js'

const hosts: KnownHosts = new Map([
  ['app.example.com', [{ scheme: 'https', port: undefined }]],
  ['admin.example.com', [{ scheme: 'https', port: 8443 }]],
])
const base = new URL('https://app.example.com/x')

describe('checkReturnUrl', () => {
  const accepted = [
    '/',
    '/dashboard?q=1#frag',
    'https://app.example.com/a',
    'https://APP.example.com/a',
    'https://admin.example.com:8443/',
    'https://app.example.com:9999/',
  ]
  for (const rd of accepted) it(`accepts ${rd}`, () => expect(checkReturnUrl(rd, base, hosts)).toBeInstanceOf(URL))

  const refused = [
    '//evil.com',
    '///evil.com',
    '/\\evil.com',
    '\\/evil.com',
    '%2F%5Cevil.com',
    '/%2F/evil.com',
    '/\t/evil.com',
    '/%09/evil.com',
    'https://evil.com',
    'https://app.example.com.evil.com/',
    'https://app.example.com@evil.com/',
    'https://evilexample.com',
    'https://admin.example.com:9443/',
    'http://app.example.com/',
    'javascript:alert(1)',
    'JAVASCRIPT:alert(1)',
    'data:text/html,x',
    '/a\r\nSet-Cookie: x=1',
    'https://user:pw@app.example.com/',
    '/' + 'a'.repeat(9000),
    '',
    '%zz',
  ]
  for (const rd of refused) it(`refuses ${JSON.stringify(rd.slice(0, 40))}`, () => expect(checkReturnUrl(rd, base, hosts)).toBeUndefined())

  it('accepts nothing that resolves off the configured hosts', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl(), fc.string({ unit: 'binary' })), (rd) => {
        const u = checkReturnUrl(rd, base, hosts)
        if (u !== undefined) expect(hosts.has(u.hostname)).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('returnParam (the sign-in URL rd)', () => {
  it('reads an encoded rd as a query parameter', () => {
    expect(returnParam('/.gatehouse/sign_in?rd=' + encodeURIComponent('https://app.example.com/p?a=1&b=2'))).toBe('https://app.example.com/p?a=1&b=2')
    expect(returnParam('/.gatehouse/sign_in?x=1&rd=%2Fdash&y=2')).toBe('/dash')
  })
  it("takes the rest of the query for a raw rd (nginx's $request_uri cannot be encoded): its own & and ? stay", () => {
    expect(returnParam('/.gatehouse/sign_in?rd=https://app.example.com/p?a=1&b=2')).toBe('https://app.example.com/p?a=1&b=2')
    expect(returnParam('/.gatehouse/sign_in?x=1&rd=http://app.example.com/a%2Fb?c=d&e')).toBe('http://app.example.com/a%2Fb?c=d&e')
  })
  it("ingress-nginx's rd (scheme and host raw, the request URI escaped) is an ordinary parameter", () => {
    expect(returnParam('/.gatehouse/sign_in?rd=https://app.example.com%2Fp%3Fa%3D1%26b%3D2')).toBe('https://app.example.com/p?a=1&b=2')
  })
  it('no rd, or none at all', () => {
    expect(returnParam('/.gatehouse/sign_in')).toBeUndefined()
    expect(returnParam('/.gatehouse/sign_in?x=1')).toBeUndefined()
  })
  it('the raw reading still goes through checkReturnUrl: a foreign host is refused', () => {
    expect(checkReturnUrl(returnParam('/.gatehouse/sign_in?rd=https://evil.example/?next=https://app.example.com/'), base, hosts)).toBeUndefined()
  })
})
