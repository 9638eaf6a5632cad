/**
 * gatehouse against Okta as it really is (the strict local IdP): the
 * set-ups an Okta admin makes on day one sign in with the right groups, and
 * every situation that cannot has a safe outcome and a message that says
 * what to change in Okta.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { decodeJwt } from 'jose'
import type { Seen } from '../../src/demo/whoami.js'
import { route, startStack, type Stack, type StackOptions } from '../helpers/stack.js'
import { testClock } from '../helpers/clock.js'

const closers: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

const api = { accept: 'application/json' }
const html = { accept: 'text/html' }

async function stack(o: Partial<StackOptions>): Promise<Stack> {
  const s = await startStack({
    routes: ({ upstream, port }) =>
      route(`http://app.localhost:${port}`, upstream, 'any-user', ['pass_identity_headers: true']) +
      route(`http://admin.localhost:${port}`, upstream, { group: 'admin' }),
    ...o,
  })
  closers.push(() => s.close())
  return s
}

const ORG_APP = { groups_claim: { filter: { regex: '.*' } } } as const

describe('scopes and the groups claim', () => {
  it('org server with the app’s groups claim filter and default scopes: gatehouse asks for groups and admins get in', async () => {
    const s = await stack({ server: 'org', app: ORG_APP })
    const alice = s.client()
    const first = await alice.get(s.url('admin.localhost', '/'), { headers: html })
    expect(new URL(first.headers.get('location') ?? '').searchParams.get('scope')).toBe('openid profile email offline_access groups')
    const done = await s.signIn(alice, s.url('admin.localhost', '/'), 'alice')
    expect(done.res.status).toBe(200)
  })

  it('idp_scopes overrides completely: without groups the org server sends none; the log and the user page say what to change', async () => {
    const s = await stack({ server: 'org', app: ORG_APP, extra: 'idp_scopes: [openid, profile, email, offline_access]' })
    const alice = s.client()
    const done = await s.signIn(alice, s.url('admin.localhost', '/'), 'alice')
    expect(done.res.status).toBe(403)
    const page = await (await alice.get(s.url('admin.localhost', '/.gatehouse/'), { headers: html })).text()
    expect(page).toContain('add groups to idp_scopes')
    // Once per user per hour in the log, however often they sign in.
    await s.signIn(s.client(), s.url('admin.localhost', '/'), 'alice')
    expect(s.logs.join('').match(/no groups claim from Okta/g)?.length).toBe(1)
  })

  it('a custom server whose groups claim is bound to a groups scope: listed in discovery, so requested by default', async () => {
    const s = await stack({
      idp: {
        model: {
          servers: [
            {
              id: 'default',
              scopes: ['groups'],
              claims: [{ name: 'groups', value: { filter: { regex: 'admin|eng' } }, scopes: ['groups'] }],
              policies: [{ clients: 'all' }],
            },
          ],
        },
      },
    })
    const alice = s.client()
    expect((await s.signIn(alice, s.url('admin.localhost', '/'), 'alice')).res.status).toBe(200)
  })

  it('a custom server without the groups scope: not requested, and the claim in any scope still arrives', async () => {
    const s = await stack({})
    const alice = s.client()
    const first = await alice.get(s.url('admin.localhost', '/'), { headers: html })
    expect(new URL(first.headers.get('location') ?? '').searchParams.get('scope')).toBe('openid profile email offline_access')
    const done = await s.signIn(alice, s.url('admin.localhost', '/'), 'alice')
    expect(done.res.status).toBe(200)
  })
})

describe('groups at the claim’s cap', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => `team-${i}`)
  it('exactly 100 groups: a deny on groups denies, an allow on groups does not allow, and the reason says why', async () => {
    const s = await stack({
      idp: {
        users: [
          { username: 'mallory', password: 'mallory', email: 'mallory@example.com', groups: hundred },
          { username: 'bob', password: 'bob', email: 'bob@example.com', groups: hundred.slice(0, 99) },
        ],
      },
      routes: ({ upstream, port }) => `
  - from: http://app.localhost:${port}
    prefix: /team1
    to: ${upstream}
    policy:
      - allow:
          and:
            - groups: {has: team-1}
  - from: http://app.localhost:${port}
    to: ${upstream}
    policy:
      - allow:
          and:
            - authenticated_user: true
      - deny:
          or:
            - groups: {has: contractors}
`,
    })
    const m = s.client()
    const signed = await s.signIn(m, s.url('app.localhost', '/'), 'mallory')
    expect(signed.res.status, `${signed.url.href} ${await signed.res.text()} ${s.logs.join('')}`).toBe(403)
    const denied = await m.get(s.url('app.localhost', '/'), { headers: api })
    expect(denied.status).toBe(403)
    expect(((await denied.json()) as { reason: string }).reason).toContain("the groups from Okta may be incomplete (100 groups, the claim's cap)")
    expect((await m.get(s.url('app.localhost', '/team1'), { headers: api })).status).toBe(403)
    const b = s.client()
    await s.signIn(b, s.url('app.localhost', '/'), 'bob')
    expect((await b.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(200)
    expect((await b.get(s.url('app.localhost', '/team1'), { headers: api })).status).toBe(200)
    // The user page says which fact is unknown and why.
    expect(await (await m.get(s.url('app.localhost', '/.gatehouse/'), { headers: html })).text()).toContain('may be incomplete')
  })
})

describe('refresh', () => {
  it('no offline_access: no refresh token; at ID-token expiry the API gets 401 and the browser goes back to Okta', async () => {
    const c = testClock()
    const s = await stack({ now: c.now, extra: 'idp_scopes: [openid, profile, email]' })
    const bob = s.client()
    await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
    expect(s.logs.join('')).toContain('Okta returned no refresh token')
    expect((await bob.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(200)
    c.advance(3600_000 + 1000)
    expect((await bob.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(401)
    const again = await bob.get(s.url('app.localhost', '/'), { headers: html })
    expect(again.status).toBe(302)
    expect(again.headers.get('location')).toContain('/v1/authorize')
    expect(s.logs.join('')).toContain('session needs a new sign-in')
  })

  it('persistent refresh tokens (the web-app default) keep working refresh after refresh', async () => {
    const c = testClock()
    const s = await stack({ now: c.now, extra: 'session_refresh_interval: 1m' })
    const bob = s.client()
    await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
    const before = s.idp.counters.refreshGrants
    for (let i = 0; i < 3; i++) {
      c.advance(61_000)
      expect((await bob.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(200)
    }
    expect(s.idp.counters.refreshGrants - before).toBe(3)
  })

  const endings = [
    {
      name: 'a rotated client secret (invalid_client)',
      act: (s: Stack) => void s.idp.admin.rotateClientSecret('gatehouse-test'),
      code: 'IDP_CLIENT_AUTH_FAILED',
    },
    {
      name: 'the Refresh Token grant removed (unauthorized_client)',
      act: (s: Stack) => s.idp.admin.setGrantEnabled('gatehouse-test', 'refresh_token', false),
      code: 'IDP_CLIENT_AUTH_FAILED',
    },
    { name: 'the user unassigned (invalid_grant)', act: (s: Stack) => s.idp.admin.unassignUser('gatehouse-test', 'bob'), code: 'IDP_INVALID_GRANT' },
  ]
  for (const e of endings) {
    it(`${e.name} ends the session with a log line that says why`, async () => {
      const c = testClock()
      const s = await stack({ now: c.now, extra: 'session_refresh_interval: 1m' })
      const bob = s.client()
      await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
      e.act(s)
      c.advance(61_000)
      expect((await bob.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(401)
      const line = s.logs.find((l) => l.includes('session ended by the IdP: Okta refused the refresh'))
      expect(line).toContain(e.code)
    })
  }

  it('429: sessions keep their claims and wait out one shared back-off until X-Rate-Limit-Reset', async () => {
    const c = testClock()
    const s = await stack({ now: c.now, extra: 'session_refresh_interval: 1m' })
    const a = s.client()
    const b = s.client()
    await s.signIn(a, s.url('app.localhost', '/'), 'alice')
    await s.signIn(b, s.url('app.localhost', '/'), 'bob')
    s.idp.admin.setRateLimit('token', { limit: 0, windowSeconds: 120 })
    c.advance(61_000)
    const before = s.idp.counters.tokenRequests
    expect((await a.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(200)
    expect((await b.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(200)
    // One attempt reached Okta; the other session waited on the same back-off.
    expect(s.idp.counters.tokenRequests - before).toBe(0)
    expect(s.logs.join('')).toContain('IDP_RATE_LIMITED')
    s.idp.admin.setRateLimit('token', undefined)
    c.advance(121_000)
    expect((await b.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(200)
    expect(s.logs.join('')).toContain('session refreshed')
  })

  it('a forwarded access token is refreshed before it expires, never sent stale', async () => {
    const c = testClock()
    const s = await stack({
      now: c.now,
      idp: {
        model: {
          servers: [
            {
              id: 'default',
              claims: [{ name: 'groups', value: { filter: { regex: '.*' } } }],
              policies: [{ rules: [{ access_token_lifetime_seconds: 300 }] }],
            },
          ],
        },
      },
      routes: ({ upstream, port }) =>
        route(`http://app.localhost:${port}`, upstream, 'any-user', ['set_request_headers:', '  Authorization: Bearer ${gatehouse.access_token}']) +
        route(`http://admin.localhost:${port}`, upstream, 'any-user'),
    })
    const bob = s.client()
    await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
    const token = async () => String(((await (await bob.get(s.url('app.localhost', '/'), { headers: api })).json()) as Seen).headers.authorization).slice(7)
    const first = await token()
    expect(decodeJwt(first).aud).toBe('api://default')
    c.advance(290_000)
    const second = await token()
    expect(second).not.toBe(first)
    expect((decodeJwt(second).exp as number) * 1000).toBeGreaterThan(c.now())
  })
})

describe('errors name the real cause', () => {
  it('an error= on the callback is shown only for a sign-in this browser started', async () => {
    const s = await stack({})
    const crafted = await s
      .client()
      .get(s.url('app.localhost', '/.gatehouse/callback?error=access_denied&error_description=Call+0800+now&state=xyz'), { headers: html })
    expect(crafted.status).toBe(400)
    const text = await crafted.text()
    expect(text).not.toContain('0800')
    expect(text).toContain('Start again')
  })

  it('an access policy with no rule for the app: the page names the access policy, not the assignment', async () => {
    const s = await stack({ idp: { model: { servers: [{ id: 'default', policies: [{ clients: ['someone-else'] }] }] } } })
    const done = await s.signIn(s.client(), s.url('app.localhost', '/'), 'bob')
    expect(done.res.status).toBe(403)
    const text = await done.res.text()
    expect(text).toContain('Access Policies')
    expect(text).toContain('Policy evaluation failed')
  })

  it('an unassigned user: the page says to assign the user', async () => {
    const s = await stack({})
    const done = await s.signIn(s.client(), s.url('app.localhost', '/'), 'carol')
    expect(done.res.status).toBe(403)
    expect(await done.res.text()).toContain('Assignments')
  })

  it('a 429 at the code exchange: a 503 page with the reset time', async () => {
    const s = await stack({})
    const c = s.client()
    const first = await c.get(s.url('app.localhost', '/'), { headers: html })
    const login = await c.follow(first, s.url('app.localhost', '/'))
    const html2 = await login.res.text()
    const action = /<form method="post" action="([^"]+)"/.exec(html2)?.[1] ?? ''
    const posted = await c.post(new URL(action, login.url), { username: 'bob', password: 'bob' })
    s.idp.admin.setRateLimit('token', { limit: 0, windowSeconds: 300 })
    try {
      const back = await c.follow(posted, new URL(action, login.url))
      expect(back.res.status).toBe(503)
      expect(await back.res.text()).toMatch(/rate limiting sign-ins to this application until \d{4}-/)
    } finally {
      s.idp.admin.setRateLimit('token', undefined)
    }
  })
})

describe('signing keys', () => {
  for (const mode of ['publish-ahead then activate', 'emergency'] as const) {
    it(`${mode}: a sign-in right after verifies at once (unknown kid from the token endpoint refetches despite the cooldown)`, async () => {
      const s = await stack({ jwksCooldownMs: 3600_000 })
      await s.signIn(s.client(), s.url('app.localhost', '/'), 'alice')
      const before = s.idp.counters.jwksFetches
      if (mode === 'emergency') await s.idp.admin.rotateKeys('default', 'emergency')
      else {
        await s.idp.admin.rotateKeys('default', 'publish-ahead')
        await s.idp.admin.rotateKeys('default', 'activate')
      }
      expect((await s.signIn(s.client(), s.url('app.localhost', '/'), 'bob')).res.status).toBe(200)
      expect(s.idp.counters.jwksFetches - before).toBe(1)
      // The same kid never causes a second fetch.
      expect((await s.signIn(s.client(), s.url('app.localhost', '/'), 'alice')).res.status).toBe(200)
      expect(s.idp.counters.jwksFetches - before).toBe(1)
    })
  }

  it('ID tokens signed with ES256 verify when the discovery document says so', async () => {
    const s = await stack({
      idp: {
        model: { servers: [{ id: 'default', signing_alg: 'ES256', claims: [{ name: 'groups', value: { filter: { regex: 'admin|eng' } } }], policies: [{}] }] },
      },
    })
    expect((await s.signIn(s.client(), s.url('admin.localhost', '/'), 'alice')).res.status).toBe(200)
  })
})
