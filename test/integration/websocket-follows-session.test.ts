/**
 * Open WebSockets follow their session: signing out closes them with 1008
 * and a reason (the upstream gets a close frame of its own), other users'
 * connections stay; with two replicas on Redis, a revocation anywhere (the
 * `sessions` command here) closes them on both replicas at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { createSessionManager, createStore } from '../../src/session/index.js'
import { REDIS_URL, requireRedis } from '../helpers/requirements.js'
import { route, signedIn, signOut, startReplicas, startStack, storeYaml, type Stack } from '../helpers/stack.js'
import { connectWebSocket, mustOpen, startEchoUpstream, type OpenSocket } from '../helpers/websocket.js'
import type { HttpClient } from '../helpers/http-client.js'

const hasRedis = await requireRedis()
let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
const closers: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  upstream = await startEchoUpstream()
})
afterAll(async () => {
  for (const c of closers.reverse()) await c()
  await upstream.close()
})

const wsRoutes = ({ port }: { port: number }): string => route(`http://app.localhost:${port}`, upstream.url, 'any-user', ['allow_websockets: true'])
const cookieOf = (s: Stack, c: HttpClient): string => c.cookieHeader(new URL(s.url('app.localhost')))

/** An open socket to /live on `s`, as `c`. */
async function live(s: Stack, c: HttpClient): Promise<OpenSocket> {
  return mustOpen(await connectWebSocket(s.url('app.localhost', '/live'), cookieOf(s, c)))
}

describe('an open WebSocket follows its session (one replica, memory store)', () => {
  it("sign-out closes the user's sockets with 1008 and a reason, and leaves other users' sockets open", async () => {
    const s = await startStack({ routes: wsRoutes })
    closers.push(() => s.close())
    const alice = await signedIn(s, 'alice')
    const bob = await signedIn(s, 'bob')
    const a1 = await live(s, alice)
    const a2 = await live(s, alice)
    const b = await live(s, bob)
    expect(await a1.echo('hi')).toBe('echo:hi')

    const upstreamClosesBefore = upstream.closeCodes.length
    expect((await signOut(s, alice)).status).toBe(302)
    expect(await a1.closed).toEqual({ code: 1008, reason: 'the session ended' })
    expect(await a2.closed).toEqual({ code: 1008, reason: 'the session ended' })
    // The upstream was told too: a close frame (1001), not a dropped connection (1006).
    await expect.poll(() => upstream.closeCodes.slice(upstreamClosesBefore)).toEqual([1001, 1001])
    expect(await b.echo('still here')).toBe('echo:still here')
    expect(s.gh.metrics.registry.getSingleMetric('gatehouse_connections_closed_total')).toBeDefined()
    b.ws.close()
    await b.closed
  })

  it('a message larger than one chunk in flight is not cut: the close frame comes after it', async () => {
    const s = await startStack({ routes: wsRoutes })
    closers.push(() => s.close())
    const alice = await signedIn(s, 'alice')
    const a = await live(s, alice)
    const big = 'x'.repeat(512 * 1024)
    const echoed = a.echo(big)
    expect((await signOut(s, alice)).status).toBe(302)
    const closed = await a.closed
    expect(closed.code).toBe(1008)
    // Either the echo arrived whole before the close, or it never started: never a torn frame (which ws reports as 1002).
    const got = await Promise.race([echoed, new Promise<string>((r) => setImmediate(() => r('none')))])
    expect(got === 'none' || got === 'echo:' + big).toBe(true)
  })
})

describe.skipIf(!hasRedis)('an open WebSocket follows its session (two replicas on Redis)', () => {
  it('a revocation on one side (the sessions command) closes her sockets on both replicas; bob is untouched', async () => {
    const storePrefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
    const [a, b] = await startReplicas({ routes: wsRoutes, extra: storeYaml('redis', REDIS_URL), storePrefix })
    closers.push(
      () => a.close(),
      () => b.close(),
    )
    const alice = await signedIn(a, 'alice')
    const bob = await signedIn(a, 'bob')
    const onA = await live(a, alice)
    const onB = await live(b, alice)
    const bobOnB = await live(b, bob)
    expect(await onB.echo('b')).toBe('echo:b')

    // What `gatehouse sessions revoke --user` does: a manager of its own on the shared store.
    const store = createStore(a.config.storage, { onError: () => undefined, prefix: storePrefix })
    const manager = createSessionManager({ store, cookieSecret: a.config.cookie.secret, now: Date.now, ttlMs: a.config.cookie.expireMs })
    expect(await manager.revokeUser('alice@example.com')).toBe(1)
    await store.close()

    expect(await onA.closed).toEqual({ code: 1008, reason: 'the session ended' })
    expect(await onB.closed).toEqual({ code: 1008, reason: 'the session ended' })
    for (const s of [a, b]) expect((await alice.get(s.url('app.localhost', '/'), { headers: { accept: 'text/html' } })).status).toBe(302)
    expect(await bobOnB.echo('bob')).toBe('echo:bob')
    expect((await bob.get(b.url('app.localhost', '/'), { headers: { accept: 'application/json' } })).status).toBe(200)
    bobOnB.ws.close()
  })
})
