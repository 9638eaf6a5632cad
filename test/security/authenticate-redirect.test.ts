/**
 * The open-redirect corpus through the hop to the sign-in host
 * (`authenticate_service_url`): whatever return URL a route host is handed,
 * and whatever return URL a correctly signed request names, the browser is
 * only ever sent to a configured route host (or refused with a 400).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authenticateRuntime, openSignInRequest, signSignInRequest, type AuthenticateRuntime } from '../../src/authorize/authenticate.js'
import { ADMIN, APP, AUTHN, DOCS, startAuthnStack } from '../helpers/authenticate-stack.js'
import { freePort, type Stack } from '../helpers/stack.js'
import type { HttpClient } from '../helpers/http-client.js'
import { generatePayloads } from './payloads.js'

let s: Stack
let rt: AuthenticateRuntime
let signedIn: HttpClient
const payloads = generatePayloads(APP)
const allowed = new Set([APP, ADMIN, DOCS])

beforeAll(async () => {
  s = await startAuthnStack({ port: await freePort() })
  rt = authenticateRuntime(s.config.authenticate, Buffer.from(s.cookieSecret, 'base64')) as AuthenticateRuntime
  signedIn = s.client()
  const done = await s.signIn(signedIn, s.url(APP, '/'), 'alice')
  expect(done.res.status).toBe(200)
  await done.res.body?.cancel()
})
afterAll(() => s.close())

describe('open redirects through the sign-in host', () => {
  it('a route host signs only return URLs on itself into the request it sends', async () => {
    const c = s.client()
    for (const p of payloads) {
      const res = await c.get(s.url(APP, `/.gatehouse/sign_in?rd=${encodeURIComponent(p)}`), { headers: { accept: 'text/html' }, noCookies: true })
      if (res.status === 431 || res.status === 414 || res.status === 400) continue
      expect(res.status, p).toBe(302)
      const hop = new URL(res.headers.get('location') ?? '')
      expect(hop.hostname, p).toBe(AUTHN)
      const req = openSignInRequest(rt.requestKey, hop.searchParams.get('request'), Date.now())
      expect(req, p).toBeDefined()
      expect(allowed.has(new URL(req?.returnTo ?? 'http://x').hostname), `${p} → ${req?.returnTo}`).toBe(true)
    }
  })

  it('the sign-in host sends a signed-in browser only to route hosts, whatever a signed request names', async () => {
    for (const p of payloads) {
      for (const host of [`${APP}:${s.port}`, `evil.com`]) {
        const request = signSignInRequest(rt.requestKey, { host, scheme: 'http', returnTo: p, binding: 'b', expiresAtMs: Date.now() + 60_000 })
        const res = await signedIn.get(`http://${AUTHN}:${s.port}/.gatehouse/sign_in?request=${request}`, { headers: { accept: 'text/html' } })
        await res.body?.cancel()
        if (res.status === 400 || res.status === 414 || res.status === 431) continue
        expect(res.status, p.slice(0, 80)).toBe(302)
        const to = new URL(res.headers.get('location') ?? '')
        expect(allowed.has(to.hostname), `${p.slice(0, 80)} (host ${host}) → ${to.href.slice(0, 120)}`).toBe(true)
        expect(to.pathname).toBe('/.gatehouse/callback')
      }
    }
  })

  it('a request for a loopback redirect that is not loopback is refused', async () => {
    for (const loopback of ['https://evil.com/cb', 'http://localhost.evil.com/', 'http://user@localhost/', 'javascript:alert(1)']) {
      const request = signSignInRequest(rt.requestKey, {
        host: `${APP}:${s.port}`,
        scheme: 'http',
        returnTo: s.url(APP, '/'),
        binding: 'b',
        expiresAtMs: Date.now() + 60_000,
        loopback,
      })
      const res = await signedIn.get(`http://${AUTHN}:${s.port}/.gatehouse/sign_in?request=${request}`, { headers: { accept: 'text/html' } })
      expect(res.status, loopback).toBe(400)
      await res.body?.cancel()
    }
  })
})
