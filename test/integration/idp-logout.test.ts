/**
 * Logouts the IdP starts, over two gatehouse replicas sharing Redis and the
 * local Okta-shaped IdP, through each of the three channels: the person's
 * cookie gets a sign-in redirect on both replicas, their open WebSocket on
 * each closes with 1008, bob is untouched. Then every bad input the issue
 * lists: none ends a session, none crashes, none leaks a stack trace.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { createSessionManager, createStore, type SessionManager, type KeyValueStore } from '../../src/session/index.js'
import type { HttpClient } from '../helpers/http-client.js'
import { REDIS_URL, requireRedis } from '../helpers/requirements.js'
import { CLIENT_ID, route, startReplicas, storeYaml, type Stack } from '../helpers/stack.js'
import { connectWebSocket, mustOpen, startEchoUpstream, type OpenSocket } from '../helpers/websocket.js'

const hasRedis = await requireRedis()

let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
let a: Stack
let b: Stack
let store: KeyValueStore
let manager: SessionManager
const GTR = '/.gatehouse/global-token-revocation'
const BCL = '/.gatehouse/backchannel_logout'
const FCL = '/.gatehouse/frontchannel_logout'

beforeAll(async () => {
  if (!hasRedis) return
  upstream = await startEchoUpstream()
  const storePrefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
  const routes = ({ port }: { port: number }): string => route(`http://app.localhost:${port}`, upstream.url, 'any-user', ['allow_websockets: true'])
  ;[a, b] = await startReplicas({ routes, extra: storeYaml('redis', REDIS_URL), storePrefix, idpLogout: true })
  store = createStore(a.config.storage, { onError: () => undefined, prefix: storePrefix })
  manager = createSessionManager({ store, cookieSecret: a.config.cookie.secret, now: Date.now, ttlMs: a.config.cookie.expireMs })
}, 60_000)
afterAll(async () => {
  if (!hasRedis) return
  await store.close()
  await b.close()
  await a.close()
  await upstream.close()
})
beforeEach(() => {
  if (hasRedis) a.idp.setUserActive('alice', true)
})

interface Person {
  readonly client: HttpClient
  /** One open WebSocket on each replica. */
  readonly sockets: readonly OpenSocket[]
  readonly sid: string
}

const cookieOf = (s: Stack, c: HttpClient): string => c.cookieHeader(new URL(s.url('app.localhost')))

/** Sign in (a browser of their own, so a session of their own at the IdP) and open a WebSocket on each replica. */
async function signedIn(username: string): Promise<Person> {
  const client = a.client()
  await a.signIn(client, a.url('app.localhost', '/'), username)
  const sockets = [
    mustOpen(await connectWebSocket(a.url('app.localhost', '/live'), cookieOf(a, client))),
    mustOpen(await connectWebSocket(b.url('app.localhost', '/live'), cookieOf(b, client))),
  ]
  const user = a.idp.users.find((u) => u.username === username)
  const mine = (await manager.list({ sub: user?.id as string })).sort((x, y) => y.createdAtMs - x.createdAtMs)[0]
  if (mine?.idpSid === undefined) throw new Error('the session has no IdP session id')
  return { client, sockets, sid: mine.idpSid }
}

async function statusOn(s: Stack, p: Person): Promise<number> {
  const res = await p.client.get(s.url('app.localhost', '/'), { headers: { accept: 'text/html' } })
  await res.body?.cancel()
  return res.status
}

async function expectEnded(p: Person): Promise<void> {
  for (const ws of p.sockets) expect(await ws.closed).toEqual({ code: 1008, reason: 'the session ended' })
  // A sign-in redirect on both replicas: the cookie is worthless everywhere.
  for (const s of [a, b]) expect(await statusOn(s, p)).toBe(302)
}

async function expectAlive(p: Person): Promise<void> {
  for (const s of [a, b]) expect(await statusOn(s, p)).toBe(200)
  for (const [i, ws] of p.sockets.entries()) expect(await ws.echo(`ping${i}`)).toBe(`echo:ping${i}`)
}

function close(...people: Person[]): void {
  for (const p of people) for (const ws of p.sockets) ws.ws.close()
}

const noStackTraces = (): void => {
  for (const line of [...a.logs, ...b.logs]) expect(line).not.toMatch(/\n\s+at .+:\d+:\d+/)
}

describe.skipIf(!hasRedis)('logout started by the IdP, two replicas on Redis', () => {
  it('signing out at the IdP (front- and back-channel) ends her sessions and sockets on both replicas; bob is untouched', async () => {
    const alice = await signedIn('alice')
    const bob = await signedIn('bob')
    const home = await alice.client.get(`${a.idp.url}/`)
    expect(await home.text()).toContain('alice@example.com')
    const out = await alice.client.post(`${a.idp.url}/login/sign-out`, {})
    expect(out.status).toBe(200)
    const frames = [...(await out.text()).matchAll(/<iframe class="frontchannel" src="([^"]+)"/g)].map((m) => (m[1] as string).replace(/&amp;/g, '&'))
    expect(frames).toEqual([`${a.url('app.localhost', FCL)}?iss=${encodeURIComponent(a.idp.issuer)}&sid=${encodeURIComponent(alice.sid)}`])
    // The browser loads the frames (the back channel is on its way at the same time).
    const framed = await alice.client.get(frames[0] as string)
    expect(framed.status).toBe(200)
    expect(framed.headers.get('cache-control')).toBe('no-store')
    expect(framed.headers.get('content-security-policy')).toContain(`frame-ancestors ${new URL(a.idp.issuer).origin}`)
    await expectEnded(alice)
    await expect.poll(() => a.idp.logoutDeliveries.filter((d) => d.channel === 'backchannel').map((d) => d.status)).toContain(200)
    await expectAlive(bob)
    close(bob)
  })

  it('front channel alone: the framed URL ends the sessions of that IdP session', async () => {
    const alice = await signedIn('alice')
    const bob = await signedIn('bob')
    const res = await a.client().get(`${b.url('app.localhost', FCL)}?iss=${encodeURIComponent(a.idp.issuer)}&sid=${encodeURIComponent(alice.sid)}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('location')).toBeNull()
    await expectEnded(alice)
    await expectAlive(bob)
    close(bob)
  })

  it('back channel: a token with her sid ends that IdP session only; one with only her sub ends all of hers', async () => {
    const alice = await signedIn('alice')
    const alice2 = await signedIn('alice')
    const bob = await signedIn('bob')
    expect((await a.idp.admin.sendLogoutToken({ sid: alice.sid })).map((d) => d.status)).toEqual([200])
    await expectEnded(alice)
    await expectAlive(alice2)
    expect((await a.idp.admin.sendLogoutToken({ user: 'alice' })).map((d) => d.status)).toEqual([200])
    await expectEnded(alice2)
    await expectAlive(bob)
    close(bob)
  })

  it('Okta Universal Logout (email, then iss_sub) ends all her sessions and revokes her refresh tokens at the IdP', async () => {
    const alice = await signedIn('alice')
    const bob = await signedIn('bob')
    expect((await a.idp.admin.sendUniversalLogout({ user: 'alice', format: 'email' })).map((d) => d.status)).toEqual([204])
    await expectEnded(alice)
    expect(a.logs.join('')).toMatch(/"channel":"global_token_revocation".*"refreshTokensRevoked":1/)
    const again = await signedIn('alice')
    expect((await a.idp.admin.sendUniversalLogout({ user: 'alice', format: 'iss_sub' })).map((d) => d.status)).toEqual([204])
    await expectEnded(again)
    // No sessions left for her: the user is unknown to gatehouse now (404, as Okta's guide says).
    expect((await a.idp.admin.sendUniversalLogout({ user: 'alice' })).map((d) => d.status)).toEqual([404])
    await expectAlive(bob)
    close(bob)
  })

  it('deactivating her at the IdP (back channel by sub, and Universal Logout) ends everything of hers', async () => {
    const alice = await signedIn('alice')
    const bob = await signedIn('bob')
    a.idp.setUserActive('alice', false)
    await expectEnded(alice)
    await expect
      .poll(() =>
        a.idp.logoutDeliveries
          .slice(-2)
          .map((d) => d.channel)
          .sort(),
      )
      .toEqual(['backchannel', 'universal_logout'])
    await expectAlive(bob)
    close(bob)
  })

  describe('bad input ends nothing and crashes nothing', () => {
    let alice: Person

    beforeAll(async () => {
      a.idp.setUserActive('alice', true)
      alice = await signedIn('alice')
    })
    afterAll(() => close(alice))

    const postForm = (s: Stack, path: string, body: string, type = 'application/x-www-form-urlencoded') =>
      s.client().request(s.url('app.localhost', path), { method: 'POST', body, headers: { 'content-type': type, accept: 'application/json' } })
    const logoutToken = (t: string) => postForm(a, BCL, new URLSearchParams({ logout_token: t }).toString())

    const forged: Array<[string, () => Promise<string>]> = [
      ['a nonce', () => a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: alice.sid, claims: { nonce: 'n' } })],
      ['no events', () => a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: alice.sid, claims: { events: undefined } })],
      ['the wrong event', () => a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: alice.sid, claims: { events: { 'urn:other': {} } } })],
      ['the wrong audience', () => a.idp.admin.forgeLogoutToken({ clientId: 'another-app', sid: alice.sid })],
      ['the wrong issuer (the org server)', () => a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: alice.sid, server: 'org' })],
      [
        'expired',
        () =>
          a.idp.admin.forgeLogoutToken({
            clientId: CLIENT_ID,
            sid: alice.sid,
            claims: { iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) - 3000 },
          }),
      ],
      ['an unknown kid', () => a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: alice.sid, key: 'stranger-new-kid' })],
      ['a stranger key under a known kid', () => a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: alice.sid, key: 'stranger' })],
      ['alg none', () => a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: alice.sid, key: 'none' })],
      ['HS256 keyed with the public key', () => a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: alice.sid, key: 'hs256-public' })],
      ['neither sid nor sub', () => a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: alice.sid, claims: { sid: undefined, sub: undefined } })],
    ]
    for (const [name, make] of forged) {
      it(`back channel: a logout token with ${name} is 400 invalid_request`, async () => {
        const res = await logoutToken(await make())
        expect(res.status).toBe(400)
        expect(res.headers.get('cache-control')).toBe('no-store')
        expect(await res.json()).toMatchObject({ error: 'invalid_request' })
        await expectAlive(alice)
      })
    }

    it('back channel: a replayed jti is refused on the other replica too', async () => {
      const token = await a.idp.admin.forgeLogoutToken({ clientId: CLIENT_ID, sid: 'an-idp-session-nobody-has' })
      expect((await logoutToken(token)).status).toBe(200)
      const replay = await postForm(b, BCL, new URLSearchParams({ logout_token: token }).toString())
      expect(replay.status).toBe(400)
      expect(await replay.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/already used/) })
      await expectAlive(alice)
    })

    it('back channel: no token, two tokens, JSON instead of a form, or GET', async () => {
      expect((await postForm(a, BCL, '')).status).toBe(400)
      expect((await postForm(a, BCL, 'logout_token=a&logout_token=b')).status).toBe(400)
      expect((await postForm(a, BCL, '{"logout_token":"x"}', 'application/json')).status).toBe(400)
      expect((await postForm(a, BCL, 'logout_token=' + 'a'.repeat(40_000))).status).toBe(400)
      expect((await a.client().get(a.url('app.localhost', BCL), { headers: { accept: 'application/json' } })).status).toBe(405)
      await expectAlive(alice)
    })

    it('front channel: another issuer, a missing sid, or two of them: 400, never a redirect', async () => {
      const c = a.client()
      for (const q of [
        `iss=${encodeURIComponent('https://evil.example/oauth2/default')}&sid=${encodeURIComponent(alice.sid)}`,
        `iss=${encodeURIComponent(a.idp.issuer + '/')}&sid=${encodeURIComponent(alice.sid)}`,
        `iss=${encodeURIComponent(a.idp.issuer)}`,
        `iss=${encodeURIComponent(a.idp.issuer)}&sid=x&sid=${encodeURIComponent(alice.sid)}`,
        `sid=${encodeURIComponent(alice.sid)}`,
      ]) {
        const res = await c.get(`${a.url('app.localhost', FCL)}?${q}`)
        expect(res.status).toBe(400)
        expect(res.headers.get('location')).toBeNull()
      }
      await expectAlive(alice)
    })

    it('Universal Logout: no JWT, a forged or misdirected JWT (401), an unknown format (400), an unknown user (404), a replayed JWT (401)', async () => {
      const endpoint = a.url('app.localhost', GTR)
      const call = (auth: string | undefined, body: unknown) =>
        a.client().request(endpoint, {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json', ...(auth === undefined ? {} : { authorization: auth }) },
        })
      const her = { subject: { format: 'email', email: 'alice@example.com' } }
      const jwt = (f: Parameters<typeof a.idp.admin.forgeUniversalLogoutJwt>[0]) => a.idp.admin.forgeUniversalLogoutJwt(f).then((t) => `Bearer ${t}`)

      const none = await call(undefined, her)
      expect(none.status).toBe(401)
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect((await call('Bearer not.a.jwt', her)).status).toBe(401)
      expect((await call(await jwt({ clientId: CLIENT_ID, key: 'stranger' }), her)).status).toBe(401)
      expect((await call(await jwt({ clientId: CLIENT_ID, key: 'none' }), her)).status).toBe(401)
      expect((await call(await jwt({ clientId: CLIENT_ID, endpoint: b.url('app.localhost', GTR) }), her)).status).toBe(401)
      expect((await call(await jwt({ clientId: 'another-app', endpoint }), her)).status).toBe(401)
      expect((await call(await jwt({ clientId: CLIENT_ID, header: { typ: 'JWT' } }), her)).status).toBe(401)
      expect((await call(await jwt({ clientId: CLIENT_ID }), { sub_id: { format: 'phone_number', phone_number: '+15551234' } })).status).toBe(400)
      expect((await call(await jwt({ clientId: CLIENT_ID }), { sub_id: { format: 'email', email: 'nobody@example.com' } })).status).toBe(404)
      expect((await call(await jwt({ clientId: CLIENT_ID }), { sub_id: { format: 'iss_sub', iss: 'https://evil.example', sub: alice.sid } })).status).toBe(404)
      const once = await jwt({ clientId: CLIENT_ID })
      expect((await call(once, { sub_id: { format: 'email', email: 'nobody@example.com' } })).status).toBe(404)
      expect((await call(once, her)).status).toBe(401)
      await expectAlive(alice)
    })

    it('nothing above crashed or logged a stack trace', async () => {
      for (const s of [a, b]) expect((await s.client().get(s.url('app.localhost', '/healthz'))).status).toBe(200)
      noStackTraces()
    })
  })
})
