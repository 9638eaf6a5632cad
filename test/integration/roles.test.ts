/**
 * idp_roles end to end: the local Okta-shaped IdP signs alice (admin, eng) and
 * bob (eng) in; the roles their groups grant reach the upstream in the signed
 * assertion and the identity header, and a policy on claim/roles decides.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compileConfigText } from '../../src/config/index.js'
import type { Seen } from '../../src/demo/whoami.js'
import { route, startStack, type Stack } from '../helpers/stack.js'

const ROLES = `idp_roles:
  service_admin: admin
  viewer: [eng, support]
`
const ADMIN_BY_ROLE = (port: number, upstream: string): string =>
  route(`http://admin.localhost:${port}`, upstream, { policy: ['- allow:', '    and:', '      - claim/roles: service_admin'] })

let s: Stack
beforeAll(async () => {
  s = await startStack({
    extra: ROLES,
    routes: ({ upstream, port }) =>
      route(`http://app.localhost:${port}`, upstream, 'any-user', ['pass_identity_headers: true']) + ADMIN_BY_ROLE(port, upstream),
  })
})
afterAll(async () => {
  await s.close()
})

async function seen(c: ReturnType<Stack['client']>, url: string, headers: Record<string, string> = {}): Promise<Seen> {
  const res = await c.get(url, { headers: { accept: 'application/json', ...headers } })
  expect(res.status).toBe(200)
  return (await res.json()) as Seen
}

describe('roles mapped from IdP groups (idp_roles)', () => {
  it('reach the upstream in the assertion and in X-Gatehouse-Claim-Roles, and a forged header is dropped', async () => {
    const c = s.client()
    const url = s.url('app.localhost', '/')
    await s.signIn(c, url, 'alice')
    const got = await seen(c, url, { 'x-gatehouse-claim-roles': 'root' })
    expect(got.assertion?.valid).toBe(true)
    expect(got.assertion?.claims).toMatchObject({ sub: '00u1alice', groups: ['admin', 'eng'], roles: ['service_admin', 'viewer'] })
    expect(got.headers['x-gatehouse-claim-roles']).toBe('service_admin,viewer')
  })

  it('a policy on claim/roles lets a holder in and keeps others out, with the reason', async () => {
    const alice = s.client()
    await s.signIn(alice, s.url('admin.localhost', '/'), 'alice')
    expect((await seen(alice, s.url('admin.localhost', '/'))).assertion?.claims).toMatchObject({ roles: ['service_admin', 'viewer'] })

    const bob = s.client()
    const done = await s.signIn(bob, s.url('admin.localhost', '/'), 'bob')
    expect(done.res.status).toBe(403)
    const denied = await bob.get(s.url('admin.localhost', '/'), { headers: { accept: 'application/json' } })
    expect(denied.status).toBe(403)
    expect(await denied.json()).toMatchObject({ error: 'forbidden', reason: 'no allow rule lets you in (claim/roles; your value: [viewer])' })
  })

  it('a reload that changes the mapping applies to signed-in sessions at once (no stale cached assertion)', async () => {
    const bob = s.client()
    await s.signIn(bob, s.url('app.localhost', '/'), 'bob')
    expect((await seen(bob, s.url('app.localhost', '/'))).assertion?.claims).toMatchObject({ roles: ['viewer'] })
    const c = s.config
    const yaml = (roles: string): string =>
      [
        `address: 127.0.0.1:${s.port}`,
        'insecure_server: true',
        `idp_provider_url: ${c.idp.providerUrl}`,
        `idp_client_id: ${c.idp.clientId}`,
        `idp_client_secret: ${c.idp.clientSecret ?? ''}`,
        `cookie_secret: ${s.cookieSecret}`,
        roles + 'routes:',
        route(`http://app.localhost:${s.port}`, s.upstream.url, 'any-user', ['pass_identity_headers: true']),
        ADMIN_BY_ROLE(s.port, s.upstream.url),
      ].join('\n')
    const next = compileConfigText(yaml('idp_roles:\n  service_admin: [admin, eng]\n  viewer: eng\n'), 'test.yaml', {})
    if (!('config' in next)) throw new Error(JSON.stringify(next.problems))
    try {
      s.gh.reload(next.config)
      const got = await seen(bob, s.url('app.localhost', '/'))
      expect(got.assertion?.claims).toMatchObject({ roles: ['service_admin', 'viewer'] })
      expect(got.headers['x-gatehouse-claim-roles']).toBe('service_admin,viewer')
      // The admin host has its own cookie: one more round trip at the IdP, where bob is still signed in.
      const admin = s.url('admin.localhost', '/')
      expect((await bob.follow(await bob.get(admin, { headers: { accept: 'text/html' } }), admin)).res.status).toBe(200)
      expect((await seen(bob, s.url('admin.localhost', '/'))).assertion?.claims).toMatchObject({ roles: ['service_admin', 'viewer'] })
    } finally {
      s.gh.reload(s.config)
    }
  })
})
