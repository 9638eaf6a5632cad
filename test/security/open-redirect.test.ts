import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { loginStateKey, openLoginState } from '../../src/identity/index.js'
import { checkReturnUrl } from '../../src/server/endpoints/return-url.js'
import { ROUTES_APP_ADMIN, startStack, type Stack } from '../helpers/stack.js'
import { generatePayloads } from './payloads.js'

const payloads = JSON.parse(readFileSync(new URL('./open-redirect-payloads.json', import.meta.url), 'utf8')) as string[]
let s: Stack
beforeAll(async () => {
  s = await startStack({ routes: ROUTES_APP_ADMIN })
})
afterAll(() => s.close())

const allowedHosts = new Set(['app.localhost', 'admin.localhost'])

describe('open redirects', () => {
  it('the payload file is the generated list, with at least 300 payloads', () => {
    expect(payloads).toEqual(generatePayloads('app.localhost'))
    expect(payloads.length).toBeGreaterThanOrEqual(300)
  })

  it('the return-URL check never accepts an off-route target', () => {
    const base = new URL(s.url('app.localhost', '/'))
    for (const p of payloads) {
      const u = checkReturnUrl(p, base, s.gh.current().knownHosts)
      if (u !== undefined) expect(allowedHosts.has(u.hostname), p).toBe(true)
    }
  })

  it('sign_in?rd= never sends the browser, now or after sign-in, off the configured hosts', async () => {
    const key = loginStateKey(Buffer.from(s.cookieSecret, 'base64'))
    const c = s.client()
    for (const p of payloads) {
      const res = await c.get(s.url('app.localhost', `/.gatehouse/sign_in?rd=${encodeURIComponent(p)}`), { headers: { accept: 'text/html' }, noCookies: true })
      if (res.status === 431 || res.status === 414 || res.status === 400) continue
      expect(res.status, p).toBe(302)
      const location = new URL(res.headers.get('location') ?? '')
      expect(location.href.startsWith(`${s.idp.issuer}/v1/authorize`), p).toBe(true)
      const sealed = res.headers
        .getSetCookie()
        .map((h) => h.split(';')[0] as string)
        .find((h) => h.includes('_login_'))
        ?.split('=')[1]
      const state = openLoginState(sealed, key, Date.now())
      expect(state, p).toBeDefined()
      expect(allowedHosts.has(new URL(state?.returnTo ?? 'http://x').hostname), `${p} → ${state?.returnTo}`).toBe(true)
    }
  })

  it('a full sign-in with an evil rd lands on the route host', async () => {
    const c = s.client()
    const first = await c.get(s.url('app.localhost', `/.gatehouse/sign_in?rd=${encodeURIComponent('//evil.com/x')}`), { headers: { accept: 'text/html' } })
    const login = await c.follow(first, s.url('app.localhost', '/.gatehouse/sign_in'))
    const { signInAtIdp } = await import('../helpers/idp-login.js')
    const done = await signInAtIdp(c, login, { username: 'alice', password: 'alice' })
    expect(done.url.href).toBe(s.url('app.localhost', '/'))
    for (const u of done.visited) expect(u.hostname === '127.0.0.1' || allowedHosts.has(u.hostname)).toBe(true)
  })

  it('sign_out never redirects off the configured hosts or the IdP, whatever rd says', async () => {
    const c = s.client()
    for (const p of payloads.slice(0, 120)) {
      const res = await c.get(s.url('app.localhost', `/.gatehouse/sign_out?rd=${encodeURIComponent(p)}`), { headers: { accept: 'text/html' }, noCookies: true })
      const loc = res.headers.get('location')
      if (loc !== null) expect(allowedHosts.has(new URL(loc, s.url('app.localhost')).hostname), p).toBe(true)
      await res.body?.cancel()
    }
  })

  it('third-party-initiated login (Okta dashboard tiles): target_link_uri never leaves the route hosts, and a foreign iss is refused', async () => {
    const key = loginStateKey(Buffer.from(s.cookieSecret, 'base64'))
    const c = s.client()
    const iss = encodeURIComponent(new URL(s.idp.issuer).origin)
    for (const p of payloads.slice(0, 200)) {
      const res = await c.get(s.url('app.localhost', `/.gatehouse/login?iss=${iss}&target_link_uri=${encodeURIComponent(p)}`), {
        headers: { accept: 'text/html' },
        noCookies: true,
      })
      if (res.status === 431 || res.status === 414 || res.status === 400) continue
      expect(res.status, p).toBe(302)
      const sealed = res.headers
        .getSetCookie()
        .map((h) => h.split(';')[0] as string)
        .find((h) => h.includes('_login_'))
        ?.split('=')[1]
      expect(allowedHosts.has(new URL(openLoginState(sealed, key, Date.now())?.returnTo ?? 'http://x').hostname), p).toBe(true)
    }
    const good = await c.get(s.url('app.localhost', `/.gatehouse/login?iss=${iss}&target_link_uri=${encodeURIComponent(s.url('admin.localhost', '/x'))}`), {
      headers: { accept: 'text/html' },
      noCookies: true,
    })
    const sealed = good.headers
      .getSetCookie()
      .map((h) => h.split(';')[0] as string)
      .find((h) => h.includes('_login_'))
      ?.split('=')[1]
    expect(openLoginState(sealed, key, Date.now())?.returnTo).toBe(s.url('admin.localhost', '/x'))
    const foreign = await c.get(s.url('app.localhost', `/.gatehouse/login?iss=${encodeURIComponent('https://evil.okta.com')}&target_link_uri=/`), {
      headers: { accept: 'application/json' },
      noCookies: true,
    })
    expect(foreign.status).toBe(400)
  })
})
