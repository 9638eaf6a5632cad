/**
 * Programmatic sign-in through the sign-in host, in Pomerium's shape: a CLI
 * asks a route host for the URL to open, the browser signs in, and the CLI's
 * loopback listener receives a token it then sends as a bearer credential.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import http from 'node:http'
import { ADMIN, APP, AUTHN, DOCS, startAuthnStack } from '../helpers/authenticate-stack.js'
import { listenLocal, type LocalServer } from '../helpers/local-server.js'
import { freePort, type Stack } from '../helpers/stack.js'
import type { HttpClient } from '../helpers/http-client.js'

let s: Stack
let cli: LocalServer
const received: URL[] = []

beforeAll(async () => {
  s = await startAuthnStack({ port: await freePort() })
  // The command-line tool's loopback listener: it keeps what arrives and says "you may close this tab".
  cli = await listenLocal(
    http.createServer((req, res) => {
      received.push(new URL(req.url ?? '/', 'http://localhost'))
      res.writeHead(200, { 'content-type': 'text/plain' }).end('signed in; you may close this tab')
    }),
  )
})
afterAll(async () => {
  await cli.close()
  await s.close()
})

const json = { accept: 'application/json' }

/** What the CLI does: ask for the URL, have "the browser" open it, read the token its listener got. */
async function programmaticSignIn(browser: HttpClient, param = 'redirect_uri'): Promise<{ token: string; landed: URL }> {
  const loopback = `http://localhost:${cli.port}/callback`
  const asked = await s.client().get(s.url(APP, `/.gatehouse/api/v1/login?${param}=${encodeURIComponent(loopback)}`))
  expect(asked.status).toBe(200)
  expect(asked.headers.get('content-type')).toMatch(/^text\/plain/)
  const open = new URL((await asked.text()).trim())
  expect(open.origin).toBe(`http://${AUTHN}:${s.port}`)
  const before = received.length
  const first = await browser.get(open, { headers: { accept: 'text/html' } })
  let walked = await browser.follow(first, open)
  if (walked.url.href.startsWith(s.idp.url)) {
    const { signInAtIdp } = await import('../helpers/idp-login.js')
    walked = await signInAtIdp(browser, walked, { username: 'alice', password: 'alice' })
  }
  expect(walked.res.status).toBe(200)
  await walked.res.body?.cancel()
  expect(received.length).toBe(before + 1)
  const landed = received[received.length - 1] as URL
  expect(landed.pathname).toBe('/callback')
  return { token: landed.searchParams.get(param === 'redirect_uri' ? 'gatehouse_jwt' : 'pomerium_jwt') ?? '', landed }
}

describe('programmatic sign-in (/.gatehouse/api/v1/login)', () => {
  it('a CLI gets a token on its loopback redirect and uses it as a bearer credential to that route', async () => {
    const browser = s.client()
    const { token } = await programmaticSignIn(browser)
    expect(token.length).toBeGreaterThan(40)
    const res = await s.client().get(s.url(APP, '/api'), { headers: { ...json, authorization: `Bearer Gatehouse-${token}` } })
    expect(res.status).toBe(200)
    const seen = (await res.json()) as { headers: Record<string, string> }
    expect(seen.headers['x-gatehouse-claim-email']).toBe('alice@example.com')
    // The token is gatehouse's, never the upstream's.
    expect(seen.headers.authorization).toBeUndefined()
    // Pomerium's spelling works too.
    const pomerium = await s.client().get(s.url(APP, '/api'), { headers: { ...json, authorization: `Pomerium ${token}` } })
    expect(pomerium.status).toBe(200)
    await pomerium.body?.cancel()
  })

  it("accepts Pomerium's parameter name and answers with pomerium_jwt", async () => {
    const { token, landed } = await programmaticSignIn(s.client(), 'pomerium_redirect_uri')
    expect(landed.searchParams.has('gatehouse_jwt')).toBe(false)
    const res = await s.client().get(s.url(APP, '/'), { headers: { ...json, authorization: `Bearer Pomerium-${token}` } })
    expect(res.status).toBe(200)
    await res.body?.cancel()
  })

  it('the token is for that one route host; a tampered one is refused; it ends with the session', async () => {
    const browser = s.client()
    const { token } = await programmaticSignIn(browser)
    for (const host of [DOCS, ADMIN]) {
      const res = await s.client().get(s.url(host, '/'), { headers: { ...json, authorization: `Bearer Gatehouse-${token}` } })
      expect(res.status, host).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/invalid_token/)
      await res.body?.cancel()
    }
    const tampered = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA')
    const bad = await s.client().get(s.url(APP, '/'), { headers: { ...json, authorization: `Bearer Gatehouse-${tampered}` } })
    expect(bad.status).toBe(401)
    await bad.body?.cancel()
    // Sign out in the browser at the sign-in host: the token's session ends with it.
    const form = await (await browser.get(`http://${AUTHN}:${s.port}/.gatehouse/sign_out`, { headers: { accept: 'text/html' } })).text()
    const csrf = /name="csrf" value="([^"]+)"/.exec(form)?.[1] ?? ''
    const out = await browser.post(`http://${AUTHN}:${s.port}/.gatehouse/sign_out`, { csrf }, { headers: { accept: 'text/html' } })
    expect(out.status).toBe(302)
    await out.body?.cancel()
    const after = await s.client().get(s.url(APP, '/'), { headers: { ...json, authorization: `Bearer Gatehouse-${token}` } })
    expect(after.status).toBe(401)
    await after.body?.cancel()
  })

  it('only loopback redirect targets', async () => {
    const c = s.client()
    for (const target of [
      'https://evil.example/cb',
      'http://localhost.evil.example/',
      'http://user@localhost:1/',
      'http://127.0.0.1:1/#x',
      'javascript:alert(1)',
      '',
    ]) {
      const res = await c.get(s.url(APP, `/.gatehouse/api/v1/login?redirect_uri=${encodeURIComponent(target)}`), { headers: json })
      expect(res.status, target).toBe(400)
      await res.body?.cancel()
    }
    const two = await c.get(s.url(APP, `/.gatehouse/api/v1/login?redirect_uri=http://localhost:1/&redirect_uri=http://localhost:2/`), { headers: json })
    expect(two.status).toBe(400)
    await two.body?.cancel()
  })
})
