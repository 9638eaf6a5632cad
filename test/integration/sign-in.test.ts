import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES_APP_ADMIN, signOut, startStack, type Stack } from '../helpers/stack.js'
import type { Seen } from '../../src/demo/whoami.js'

let s: Stack
beforeAll(async () => {
  s = await startStack({ routes: ROUTES_APP_ADMIN })
})
afterAll(async () => {
  await s.close()
})

describe('sign-in through the local Okta-shaped IdP', () => {
  it('alice signs in, lands on the original path and query, and the upstream gets a verifiable assertion', async () => {
    const c = s.client()
    const start = s.url('app.localhost', '/reports/q3?year=2026&x=%2F')
    const first = await c.get(start, { headers: { accept: 'text/html' } })
    expect(first.status).toBe(302)
    const loc = new URL(first.headers.get('location') ?? '')
    expect(loc.href.startsWith(`${s.idp.issuer}/v1/authorize`)).toBe(true)
    expect(loc.searchParams.get('code_challenge_method')).toBe('S256')
    expect(loc.searchParams.get('redirect_uri')).toBe(s.url('app.localhost', '/.gatehouse/callback'))
    const done = await s.signIn(c, start, 'alice')
    expect(done.url.href).toBe(start)
    expect(done.res.status).toBe(200)
    expect(await done.res.text()).toContain('gatehouse let you through')
    const seen = (await (await c.get(start, { headers: { accept: 'application/json' } })).json()) as Seen
    expect(seen.url).toBe('/reports/q3?year=2026&x=%2F')
    expect(seen.assertion?.valid).toBe(true)
    expect(seen.assertion?.claims).toMatchObject({
      email: 'alice@example.com',
      groups: ['admin', 'eng'],
      iss: 'app.localhost',
      aud: 'app.localhost',
      sub: '00u1alice',
    })
    expect(seen.headers['x-gatehouse-claim-email']).toBe('alice@example.com')
    expect(seen.headers.cookie ?? '').not.toContain('_gatehouse')

    // alice's session also opens the admin route (a second host: its own cookie, one more sign-in round trip at the IdP without a password).
    const admin = await c.follow(await c.get(s.url('admin.localhost', '/'), { headers: { accept: 'text/html' } }), s.url('admin.localhost', '/'))
    expect(admin.res.status).toBe(200)
  })

  it('bob is refused the admin route with a 403 that says which rule failed', async () => {
    const c = s.client()
    const done = await s.signIn(c, s.url('admin.localhost', '/'), 'bob')
    expect(done.res.status).toBe(403)
    const page = await done.res.text()
    expect(page).toContain('no allow rule lets you in (groups; your value: [eng])')
    expect(page).not.toContain('admin&quot;')
    const json = await c.get(s.url('admin.localhost', '/'), { headers: { accept: 'application/json' } })
    expect(json.status).toBe(403)
    expect(await json.json()).toMatchObject({ error: 'forbidden', reason: 'no allow rule lets you in (groups; your value: [eng])' })
  })

  it('an API client without a session gets 401 JSON, not a redirect', async () => {
    const res = await s.client().get(s.url('app.localhost', '/api/x'), { headers: { accept: 'application/json' } })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: 'login_required' })
  })

  it('an unknown host is 404 and reaches no upstream', async () => {
    const before = s.upstream.requests.length
    const res = await s.client().get(s.url('nope.localhost', '/'))
    expect(res.status).toBe(404)
    expect(s.upstream.requests.length).toBe(before)
  })

  it('the user page and JSON show who you are', async () => {
    const c = s.client()
    await s.signIn(c, s.url('app.localhost', '/'), 'alice')
    const me = await c.get(s.url('app.localhost', '/.gatehouse/user'))
    expect(await me.json()).toMatchObject({ email: 'alice@example.com', groups: ['admin', 'eng'] })
    const page = await c.get(s.url('app.localhost', '/.gatehouse/'), { headers: { accept: 'text/html' } })
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('alice@example.com')
  })

  it('sign-out ends the session here and at the IdP (single logout), and the old cookie stops working', async () => {
    const c = s.client()
    await s.signIn(c, s.url('app.localhost', '/'), 'alice')
    const oldCookie = c.cookieHeader(new URL(s.url('app.localhost')))
    const out = await signOut(s, c)
    expect(out.status).toBe(302)
    const endSession = new URL(out.headers.get('location') ?? '')
    expect(endSession.href.startsWith(`${s.idp.issuer}/v1/logout`)).toBe(true)
    expect(endSession.searchParams.get('id_token_hint')).toBeTruthy()
    const back = await c.follow(out, s.url('app.localhost', '/.gatehouse/sign_out'))
    expect(back.url.pathname).toBe('/.gatehouse/signed_out')
    expect(s.idp.endSessions.at(-1)?.accepted).toBe(true)
    const replay = await s.client().get(s.url('app.localhost', '/'), { headers: { cookie: oldCookie, accept: 'application/json' } })
    expect(replay.status).toBe(401)
  })

  it('a sign-out POST without the CSRF token is refused', async () => {
    const c = s.client()
    await s.signIn(c, s.url('app.localhost', '/'), 'alice')
    const out = await c.post(s.url('app.localhost', '/.gatehouse/sign_out'), { csrf: 'forged' })
    expect(out.status).toBe(403)
    expect((await c.get(s.url('app.localhost', '/'), { headers: { accept: 'application/json' } })).status).toBe(200)
  })

  it('a user not assigned to the app gets a page that says what to change in Okta', async () => {
    const c = s.client()
    const done = await s.signIn(c, s.url('app.localhost', '/'), 'carol')
    expect(done.res.status).toBe(403)
    expect(await done.res.text()).toContain('Assignments')
  })

  it('a callback with a missing, repeated or foreign state is 400 with a page that says to start again', async () => {
    const c = s.client()
    for (const q of ['?code=x', '?code=x&state=a&state=b', '?code=x&state=forged']) {
      const res = await c.get(s.url('app.localhost', `/.gatehouse/callback${q}`), { headers: { accept: 'text/html' } })
      expect(res.status).toBe(400)
      expect(await res.text()).toContain('Start again')
    }
  })

  it('several tabs can sign in at once, and login cookies stay bounded', async () => {
    const c = s.client()
    const { signInAtIdp } = await import('../helpers/idp-login.js')
    // Three tabs open protected pages before any finishes signing in.
    const tabs = await Promise.all(
      ['/one', '/two', '/three'].map(async (p) => {
        const first = await c.get(s.url('app.localhost', p), { headers: { accept: 'text/html' } })
        return { p, authorize: new URL(first.headers.get('location') ?? '') }
      }),
    )
    for (const tab of tabs) {
      const page = await c.follow(await c.get(tab.authorize, { headers: { accept: 'text/html' } }), tab.authorize)
      const done =
        page.res.status === 200 && (await page.res.clone().text()).includes('<form') ? await signInAtIdp(c, page, { username: 'bob', password: 'bob' }) : page
      expect(done.url.pathname).toBe(tab.p)
      expect(done.res.status).toBe(200)
    }
    // A storm of navigations: the number of login cookies never passes the bound.
    const storm = s.client()
    for (let i = 0; i < 20; i++) await storm.get(s.url('app.localhost', `/x${i}`), { headers: { accept: 'text/html' } })
    const logins = [...storm.cookies('app.localhost').keys()].filter((k) => k.includes('_login_'))
    expect(logins.length).toBeLessThanOrEqual(5)
  })

  it('sign_in when already signed in starts a fresh sign-in and issues a new session id', async () => {
    const c = s.client()
    await s.signIn(c, s.url('app.localhost', '/'), 'alice')
    const before = c.cookies('app.localhost').get('_gatehouse')?.value
    const again = await c.get(s.url('app.localhost', '/.gatehouse/sign_in?rd=/after'), { headers: { accept: 'text/html' } })
    expect(again.status).toBe(302)
    expect(again.headers.get('location')).toContain('/v1/authorize')
    const done = await c.follow(again, s.url('app.localhost', '/.gatehouse/sign_in'))
    expect(done.url.pathname).toBe('/after')
    const after = c.cookies('app.localhost').get('_gatehouse')?.value
    expect(after).toBeDefined()
    expect(after).not.toBe(before)
    // The new session works; the one it replaced does not.
    expect((await s.client().get(s.url('app.localhost', '/'), { headers: { accept: 'application/json', cookie: `_gatehouse=${after}` } })).status).toBe(200)
    expect((await s.client().get(s.url('app.localhost', '/'), { headers: { accept: 'application/json', cookie: `_gatehouse=${before}` } })).status).toBe(401)
  })
})
