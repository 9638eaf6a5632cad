/**
 * Cookie tossing: a sibling subdomain can set any cookie for the parent
 * domain, including one whose value looks like gatehouse's cookies
 * (`theme=x __Host-_gatehouse_login_X=S`). gatehouse reads the Cookie header
 * as browsers write it, in one place (src/proxy/cookie-header.ts), so such a
 * value is one cookie named `theme`: it cannot complete a login CSRF, plant a
 * session, or hide the real cookie. The reader is fuzzed against the `cookie`
 * package (the parser fastify's ecosystem uses) as a reference.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { parseCookie } from 'cookie'
import { route, startStack, type Stack } from '../helpers/stack.js'
import { signInAtIdp } from '../helpers/idp-login.js'
import { readCookie, readCookies } from '../../src/proxy/cookie-header.js'
import type { Seen } from '../../src/demo/whoami.js'

let s: Stack
beforeAll(async () => {
  s = await startStack({ hosts: ['app.localhost'], routes: ({ upstream, port }) => route(`http://app.localhost:${port}`, upstream, 'any-user') })
})
afterAll(() => s.close())

const json = { accept: 'application/json' }
// Browsers accept a space inside a cookie value, so a sibling can set `theme=x <name>=<value>`.
const toss = (name: string, value: string): string => `theme=x ${name}=${value}`

describe('cookie tossing, end to end', () => {
  it("a login state tossed inside another cookie's value cannot sign the victim in as the attacker (login CSRF)", async () => {
    // The attacker starts a sign-in in their own browser and stops before the callback.
    const attacker = s.client()
    const start = await attacker.get(s.url('app.localhost', '/'), { headers: { accept: 'text/html' } })
    const loginPage = await attacker.follow(start, s.url('app.localhost', '/'))
    const atCallback = await signInAtIdp(attacker, loginPage, { username: 'bob', password: 'bob' }, (u) => u.pathname === '/.gatehouse/callback')
    const callback = atCallback.url
    expect(callback.pathname).toBe('/.gatehouse/callback')
    const [loginName, loginValue] = [...attacker.cookies('app.localhost').entries()].map(([n, c]) => [n, c.value]).find(([n]) => n?.includes('_login_')) ?? []
    expect(loginName).toBeDefined()

    // A sibling subdomain tossed the attacker's login state into the victim's browser, inside another cookie.
    const victim = s.client()
    const res = await victim.get(callback, { headers: { accept: 'text/html', cookie: toss(loginName as string, loginValue as string) } })
    expect(res.status).toBe(400)
    expect(res.headers.getSetCookie().some((c) => c.startsWith('_gatehouse='))).toBe(false)
  })

  it("a session tossed inside another cookie's value is no session", async () => {
    const bob = s.client()
    await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
    const planted = bob.cookies('app.localhost').get('_gatehouse')?.value as string
    expect(planted).toBeDefined()
    const res = await s.client().get(s.url('app.localhost', '/'), { headers: { ...json, cookie: toss('_gatehouse', planted) } })
    expect(res.status).toBe(401)
  })

  it("a decoy inside another cookie's value does not hide the real session cookie (no forced logout)", async () => {
    const alice = s.client()
    await s.signIn(alice, s.url('app.localhost', '/'), 'alice')
    const real = alice.cookies('app.localhost').get('_gatehouse')?.value as string
    const res = await s.client().get(s.url('app.localhost', '/'), { headers: { ...json, cookie: `${toss('_gatehouse', 'junk')}; _gatehouse=${real}` } })
    expect(res.status).toBe(200)
    expect(((await res.json()) as Seen).headers['x-gatehouse-jwt-assertion']).toBeDefined()
  })
})

describe('the Cookie header reader, against a reference parser', () => {
  const names = ['_gatehouse', '__Host-_gatehouse', '_gatehouse_login_abc', 'theme', 'a']
  const name = fc.constantFrom(...names, ' _gatehouse', '_gatehouse ', '', '_GATEHOUSE', 'x_gatehouse')
  const valueChar = fc.constantFrom('a', 'Z', '0', ' ', '=', '"', ',', '_', '-', '\t', ...names.map((n) => `${n}=`))
  const value = fc.array(valueChar, { maxLength: 8 }).map((cs) => cs.join(''))
  const pair = fc.oneof(
    fc.tuple(name, value).map(([n, v]) => `${n}=${v}`),
    value,
    fc.tuple(name, value).map(([n, v]) => `${n}="${v}"`),
  )
  const sep = fc.constantFrom(';', '; ', ' ;', ';;', ';\t')
  const header = fc.tuple(fc.array(pair, { maxLength: 8 }), sep).map(([ps, sp]) => ps.join(sp))

  const unquote = (v: string): string => (v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v)

  it('reads the same value for every name as the reference (first wins, whole names, quotes removed)', () => {
    fc.assert(
      fc.property(header, (h) => {
        const ref = parseCookie(h, { decode: (v) => v })
        for (const n of names) {
          const want = ref[n]
          expect(readCookie(h, n), `${JSON.stringify(h)} ${n}`).toBe(want === undefined ? undefined : unquote(want))
        }
        const prefixed = readCookies(h, '_gatehouse')
        for (const [n, v] of prefixed) expect(v).toBe(unquote(ref[n] as string))
        for (const n of Object.keys(ref)) if (n.startsWith('_gatehouse')) expect(prefixed.has(n), n).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })
})
