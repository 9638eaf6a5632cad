/**
 * One login state buys at most one token-endpoint call: it is consumed before
 * the code exchange, and callbacks per client address are rate-limited, so a
 * client cannot spend the Okta org's /token rate limit with bogus codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { route, startStack, type Stack } from '../helpers/stack.js'
import { CALLBACKS_PER_MINUTE } from '../../src/server/endpoints/callback.js'

let s: Stack
beforeAll(async () => {
  s = await startStack({ hosts: ['app.localhost'], routes: ({ upstream, port }) => route(`http://app.localhost:${port}`, upstream, 'any-user') })
})
afterAll(() => s.close())

describe('login state', () => {
  it('a replayed successful callback does not sign in twice', async () => {
    const c = s.client()
    const first = await c.get(s.url('app.localhost', '/'), { headers: { accept: 'text/html' } })
    const login = await c.follow(first, s.url('app.localhost', '/'))
    const { signInAtIdp } = await import('../helpers/idp-login.js')
    const atCallback = await signInAtIdp(c, login, { username: 'bob', password: 'bob' }, (u) => u.pathname === '/.gatehouse/callback')
    const cookie = c.cookieHeader(new URL(s.url('app.localhost')))
    const ok = await c.get(atCallback.url, { headers: { accept: 'text/html', cookie } })
    expect(ok.status).toBe(302)
    const replay = await c.get(atCallback.url, { headers: { accept: 'application/json', cookie } })
    expect(replay.status).toBe(400)
  })

  // Last: it uses up this address's callbacks for the minute.
  it('is single-use: bogus codes on one state reach the token endpoint once, then get 400; past the limit, 429', async () => {
    const c = s.client()
    const start = await c.get(s.url('app.localhost', '/'), { headers: { accept: 'text/html' } })
    const authorize = new URL(start.headers.get('location') ?? '')
    const state = authorize.searchParams.get('state') as string
    const cookie = c.cookieHeader(new URL(s.url('app.localhost')))
    const codes: string[] = []
    for (let i = 0; i < CALLBACKS_PER_MINUTE + 10; i++) {
      const res = await c.get(s.url('app.localhost', `/.gatehouse/callback?state=${state}&code=bogus-${i}`), {
        headers: { accept: 'application/json', cookie },
      })
      codes.push(`${res.status} ${String(((await res.json()) as { code?: string }).code)}`)
    }
    // The first attempt is exchanged (and Okta refuses the bogus code); every other one is refused before the IdP.
    expect(codes[0]).not.toBe('400 IDP_STATE_INVALID')
    // The earlier test's callbacks count in this address's minute too.
    const limited = codes.findIndex((x) => x.startsWith('429'))
    expect(limited).toBeGreaterThan(1)
    expect(limited).toBeLessThanOrEqual(CALLBACKS_PER_MINUTE)
    expect(codes.slice(1, limited)).toEqual(Array(limited - 1).fill('400 IDP_STATE_INVALID'))
    expect(codes.slice(limited).every((x) => x.startsWith('429'))).toBe(true)
  })
})
