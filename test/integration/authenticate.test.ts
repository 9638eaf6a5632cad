import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { freePort, type Stack } from '../helpers/stack.js'
import { ADMIN, APP, AUTHN, DOCS, startAuthnStack, walkUntil } from '../helpers/authenticate-stack.js'
import { authorize } from '../helpers/okta-flow.js'
import { CLIENT_ID } from '../helpers/stack.js'
import { signInAtIdp } from '../helpers/idp-login.js'
import type { HttpClient } from '../helpers/http-client.js'

let s: Stack
let clock = 0
beforeAll(async () => {
  const port = await freePort()
  // The ingress asking forward-auth questions is on loopback.
  s = await startAuthnStack({ port, now: () => Date.now() + clock, extra: 'trusted_proxies: [127.0.0.1/32]\n' })
})
afterAll(() => s.close())

const html = { accept: 'text/html' }
const isIdp = (u: URL): boolean => u.href.startsWith(s.idp.url)
const isCode = (u: URL): boolean => u.pathname === '/.gatehouse/callback'

async function signedIn(user = 'alice'): Promise<HttpClient> {
  const c = s.client()
  const done = await s.signIn(c, s.url(APP, '/first'), user)
  expect(done.res.status).toBe(200)
  expect(done.url.href).toBe(s.url(APP, '/first'))
  return c
}

/** Starts a sign-in for `host` in a browser that already has a session at the sign-in host; returns the code URL, unopened. */
async function codeUrl(c: HttpClient, host: string, path = '/'): Promise<URL> {
  const u = await walkUntil(c, s.url(host, path), isCode)
  if (u === undefined) throw new Error('no code URL')
  return u
}

async function startAgainPage(c: HttpClient, url: URL | string): Promise<void> {
  const res = await c.get(url, { headers: html })
  const body = await res.text()
  expect(res.status).toBe(400)
  expect(body).toContain('Start again')
  expect(res.headers.getSetCookie().some((h) => /^(__Host-)?_gatehouse=[^;]/.test(h))).toBe(false)
}

describe('sign-in host (authenticate_service_url)', () => {
  it('the IdP app lists only the sign-in host, and refuses a route host callback as Okta does', async () => {
    const a = await authorize(s.idp, { clientId: CLIENT_ID, redirectUri: s.url(APP, '/.gatehouse/callback'), scope: 'openid', username: 'alice' })
    expect(a.page?.status).toBe(400)
    expect(a.page?.text).toContain('Login redirect URI')
  })

  it('one IdP sign-in serves three route hosts on two domains; later hosts never see the IdP', async () => {
    const loginsBefore = s.idp.counters.logins
    const c = s.client()
    const first = await c.get(s.url(APP, '/first'), { headers: html })
    expect(first.status).toBe(302)
    const hop = new URL(first.headers.get('location') ?? '')
    expect(hop.origin).toBe(`http://${AUTHN}:${s.port}`)
    expect(hop.pathname).toBe('/.gatehouse/sign_in')
    // The binding cookie is host-only, on the route host.
    expect(first.headers.getSetCookie().some((h) => h.startsWith('_gatehouse_login_h') && !/domain=/i.test(h))).toBe(true)
    const atIdp = await c.follow(first, s.url(APP, '/first'))
    expect(isIdp(atIdp.url)).toBe(true)
    const authorizeUrl = atIdp.visited.find((u) => isIdp(u) && u.pathname.endsWith('/authorize'))
    expect(authorizeUrl?.searchParams.get('redirect_uri')).toBe(`http://${AUTHN}:${s.port}/oauth2/callback`)
    const back = await signInAtIdp(c, atIdp, { username: 'alice', password: 'alice' })
    expect(back.res.status).toBe(200)
    expect(back.url.href).toBe(s.url(APP, '/first'))
    await back.res.body?.cancel()
    const seen = (await (await c.get(s.url(APP, '/who'), { headers: { accept: 'application/json' } })).json()) as { headers: Record<string, string> }
    expect(seen.headers['x-gatehouse-claim-email']).toBe('alice@example.com')
    // No session handle in any URL: only a one-time code went to the route host.
    for (const u of back.visited) expect(u.search).not.toMatch(/_gatehouse|ticket|session/i)

    for (const host of [ADMIN, DOCS]) {
      const res = await c.get(s.url(host, '/page'), { headers: html })
      const walked = await c.follow(res, s.url(host, '/page'))
      expect(walked.res.status, host).toBe(200)
      expect(walked.url.href).toBe(s.url(host, '/page'))
      expect(walked.visited.some(isIdp), host).toBe(false)
      await walked.res.body?.cancel()
    }
    expect(s.idp.counters.logins - loginsBefore).toBe(1)
    // Each route host holds its own host-only cookie.
    for (const host of [APP, ADMIN, DOCS]) expect(c.cookies(host).has('_gatehouse'), host).toBe(true)

    const me = await c.get(`http://${AUTHN}:${s.port}/.gatehouse/user`, { headers: { accept: 'application/json' } })
    const body = (await me.json()) as { email: string; hosts: string[] }
    expect(body.email).toBe('alice@example.com')
    expect(body.hosts).toEqual([ADMIN, APP, DOCS].map((h) => `${h}:${s.port}`).sort())
  })

  it("bob's 403 on the admin host names the rule", async () => {
    const c = await signedIn('bob')
    const res = await c.get(s.url(ADMIN, '/'), { headers: html })
    const walked = await c.follow(res, s.url(ADMIN, '/'))
    expect(walked.res.status).toBe(403)
    const page = await walked.res.text()
    expect(page).toContain('groups')
    expect(page).toContain('admin')
    const api = await c.get(s.url(ADMIN, '/'), { headers: { accept: 'application/json' } })
    expect(api.status).toBe(403)
    const refusal = (await api.json()) as { route: string; reason: string }
    expect(refusal.route).toContain(ADMIN)
    expect(refusal.reason).toMatch(/^no allow rule lets you in \(groups; your value: \[eng\]\)/)
  })

  it('sign-out on one host ends the session on every host and at the sign-in host, through the IdP once', async () => {
    const c = await signedIn('alice')
    for (const host of [ADMIN, DOCS]) {
      const walked = await c.follow(await c.get(s.url(host, '/'), { headers: html }), s.url(host, '/'))
      expect(walked.res.status).toBe(200)
      await walked.res.body?.cancel()
    }
    const before = s.idp.endSessions.length
    const form = await (await c.get(s.url(DOCS, '/.gatehouse/sign_out'), { headers: html })).text()
    const csrf = /name="csrf" value="([^"]+)"/.exec(form)?.[1] ?? ''
    const posted = await c.post(s.url(DOCS, '/.gatehouse/sign_out'), { csrf }, { headers: html })
    expect(posted.status).toBe(302)
    const out = await c.follow(posted, s.url(DOCS, '/.gatehouse/sign_out'))
    expect(out.url.origin + out.url.pathname).toBe(`http://${AUTHN}:${s.port}/.gatehouse/signed_out`)
    // The sign-in host's own cookie goes on its signed_out page.
    expect(out.res.headers.getSetCookie().some((h) => /^_gatehouse=;.*Max-Age=0/.test(h))).toBe(true)
    expect(out.res.status).toBe(200)
    await out.res.body?.cancel()
    const calls = s.idp.endSessions.slice(before)
    expect(calls.map((e) => e.accepted)).toEqual([true])
    expect(calls[0]?.postLogoutRedirectUri).toBe(`http://${AUTHN}:${s.port}/.gatehouse/signed_out`)
    for (const host of [APP, ADMIN, DOCS]) {
      const res = await c.get(s.url(host, '/'), { headers: { accept: 'application/json' } })
      expect(res.status, host).toBe(401)
      await res.body?.cancel()
    }
    const me = await c.get(`http://${AUTHN}:${s.port}/.gatehouse/user`, { headers: { accept: 'application/json' } })
    expect(me.status).toBe(401)
  })

  it("the Okta dashboard tile (the sign-in host's initiate-login URI) lands on the target route host", async () => {
    const c = s.client()
    const target = s.url(DOCS, '/from-tile')
    const tile = `http://${AUTHN}:${s.port}/.gatehouse/login?iss=${encodeURIComponent(new URL(s.idp.issuer).origin)}&target_link_uri=${encodeURIComponent(target)}`
    const first = await c.get(tile, { headers: html })
    const atIdp = await c.follow(first, tile)
    expect(isIdp(atIdp.url)).toBe(true)
    const back = await signInAtIdp(c, atIdp, { username: 'alice', password: 'alice' })
    expect(back.res.status).toBe(200)
    expect(back.url.href).toBe(target)
    await back.res.body?.cancel()
    // Without a target it lands on the sign-in host's own page.
    const home = await c.follow(await c.get(tile.replace(/&target_link_uri=.*/, ''), { headers: html }), tile)
    expect(home.url.href).toBe(`http://${AUTHN}:${s.port}/.gatehouse/`)
    expect(home.res.status).toBe(200)
    await home.res.body?.cancel()
  })

  it('forward-auth (an ingress in front) sends a browser through the same hop, and lets a handed-over session through', async () => {
    const c = s.client()
    const target = s.url(DOCS, '/behind-ingress?q=1')
    const check = `http://127.0.0.1:${s.port}/.gatehouse/forward_auth?uri=${encodeURIComponent(target)}`
    const asked = await c.get(check, { headers: html })
    expect(asked.status).toBe(302)
    const hop = await c.follow(asked, check, 10, html, (u) => u.hostname === AUTHN)
    const atAuthn = hop.visited.at(-1) as URL
    expect(atAuthn.pathname).toBe('/.gatehouse/sign_in')
    const rest = await c.follow(await c.get(atAuthn, { headers: html }), atAuthn)
    const back = await signInAtIdp(c, rest, { username: 'alice', password: 'alice' })
    expect(back.url.href).toBe(target)
    await back.res.body?.cancel()
    const cookie = `_gatehouse=${c.cookies(DOCS).get('_gatehouse')?.value ?? ''}`
    const allowed = await c.get(check, { headers: { accept: 'application/json', cookie } })
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('x-auth-request-email')).toBe('alice@example.com')
    await allowed.body?.cancel()
  })

  describe('bad input gets the start-again page and no session', () => {
    it('a code used twice', async () => {
      const c = await signedIn()
      const code = await codeUrl(c, DOCS)
      const ok = await c.get(code, { headers: html })
      expect(ok.status).toBe(302)
      c.cookies(DOCS).delete('_gatehouse')
      await startAgainPage(c, code)
    })

    it('a code for another host', async () => {
      const c = await signedIn()
      const code = await codeUrl(c, DOCS)
      const foreign = new URL(code.href.replace(DOCS, ADMIN))
      // The browser holds binding cookies on the other host too: only the host check can refuse it.
      await codeUrl(c, ADMIN)
      await startAgainPage(c, foreign)
    })

    it('a code older than 60 s', async () => {
      const c = await signedIn()
      const code = await codeUrl(c, DOCS)
      clock += 61_000
      try {
        await startAgainPage(c, code)
      } finally {
        clock -= 61_000
      }
    })

    it('a code opened in another browser', async () => {
      const c = await signedIn()
      const code = await codeUrl(c, DOCS)
      await startAgainPage(s.client(), code)
    })

    it('a forged code, no code, two codes', async () => {
      const c = await signedIn()
      await codeUrl(c, DOCS)
      await startAgainPage(c, s.url(DOCS, `/.gatehouse/callback?code=${randomBytes(32).toString('base64url')}`))
      await startAgainPage(c, s.url(DOCS, '/.gatehouse/callback'))
      await startAgainPage(c, s.url(DOCS, '/.gatehouse/callback?code=a&code=b'))
    })

    it('a tampered signed request', async () => {
      const c = s.client()
      const res = await c.get(s.url(APP, '/x'), { headers: html })
      const hop = new URL(res.headers.get('location') ?? '')
      const [payload, sig] = (hop.searchParams.get('request') ?? '').split('.') as [string, string]
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
      const evil = Buffer.from(JSON.stringify({ ...claims, returnTo: 'https://evil.example/' })).toString('base64url')
      hop.searchParams.set('request', `${evil}.${sig}`)
      const answer = await c.get(hop, { headers: html })
      expect(answer.status).toBe(400)
      expect(answer.headers.get('location')).toBeNull()
    })

    it('an expired signed request', async () => {
      const c = s.client()
      const res = await c.get(s.url(APP, '/x'), { headers: html })
      const hop = res.headers.get('location') ?? ''
      clock += 3 * 60_000
      try {
        const answer = await c.get(hop, { headers: html })
        expect(answer.status).toBe(400)
      } finally {
        clock -= 3 * 60_000
      }
    })

    it('a callback on the sign-in host with a foreign state', async () => {
      const c = s.client()
      const res = await c.get(`http://${AUTHN}:${s.port}/oauth2/callback?code=x&state=not-ours`, { headers: html })
      expect(res.status).toBe(400)
      expect(await res.text()).toContain('Start again')
    })

    it('the sign-in host answers nothing else, and is not a route', async () => {
      const c = s.client()
      for (const path of ['/', '/anything', '/.gatehouse/unknown']) {
        const res = await c.get(`http://${AUTHN}:${s.port}${path}`, { headers: html })
        expect(res.status, path).toBe(404)
        await res.body?.cancel()
      }
      const health = await c.get(`http://${AUTHN}:${s.port}/healthz`)
      expect(health.status).toBe(200)
    })
  })
})
