/**
 * The checks every shared session store must pass with two replicas (Redis,
 * Postgres): the same assertions, so a store cannot pass a weaker copy.
 */
import { expect } from 'vitest'
import { runCli } from './cli.js'
import type { TestClock } from './clock.js'
import type { HttpClient } from './http-client.js'
import { signOut, type Stack } from './stack.js'

const api = { accept: 'application/json' }

/** `client` signs out on `b`; its old cookie is refused on `a` at once (a's cache must not answer for it). */
export async function expectSignOutSeenAtOnce(a: Stack, b: Stack, client: HttpClient): Promise<void> {
  const cookie = client.cookieHeader(new URL(a.url('app.localhost')))
  expect((await signOut(b, client)).status).toBe(302)
  const replay = await a.client().get(a.url('app.localhost', '/'), { headers: { ...api, cookie } })
  expect(replay.status).toBe(401)
}

/**
 * bob signs in on `a`; with his session due for refresh, twenty concurrent
 * requests spread over both replicas all succeed and cause exactly one
 * refresh grant at the IdP. Returns bob's client and the grant count before.
 */
export async function expectOneRefreshAcrossReplicas(a: Stack, b: Stack, clock: TestClock): Promise<{ bob: HttpClient; grantsBefore: number }> {
  const bob = a.client()
  await a.signIn(bob, a.url('app.localhost', '/'), 'bob')
  const grantsBefore = a.idp.counters.refreshGrants
  clock.advance(61_000)
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => bob.get((i % 2 === 0 ? a : b).url('app.localhost', '/'), { headers: api })))
  expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))
  expect(a.idp.counters.refreshGrants - grantsBefore).toBe(1)
  expect(a.idp.counters.refreshFailures).toBe(0)
  return { bob, grantsBefore }
}

/** `gatehouse sessions list --user` shows bob's session through `configFile`; `revoke --user` ends it: his next request is refused. */
export async function expectCliListsAndRevokesBob(s: Stack, configFile: string, bob: HttpClient): Promise<void> {
  expect(await runCli(['sessions', 'list', '-c', configFile, '--user', 'bob@example.com'])).toMatchObject({
    code: 0,
    out: expect.stringMatching(/bob@example.com/),
  })
  expect(await runCli(['sessions', 'revoke', '-c', configFile, '--user', 'bob@example.com'])).toMatchObject({
    code: 0,
    out: expect.stringMatching(/revoked [1-9]/),
  })
  expect((await bob.get(s.url('app.localhost', '/'), { headers: api })).status).toBe(401)
}
