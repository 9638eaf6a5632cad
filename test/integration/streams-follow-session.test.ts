/**
 * Long-lived HTTP responses (server-sent events, and plain chunked streams
 * such as NDJSON, from a real streaming upstream) follow their session as WebSockets do: when the session ends the
 * response is cut (the client sees it incomplete, the upstream's request is
 * aborted), other users' streams go on; with two replicas on Redis, a
 * revocation anywhere cuts them on both. Responses of known length are not
 * tracked at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { createSessionManager, createStore } from '../../src/session/index.js'
import type { HttpClient } from '../helpers/http-client.js'
import { REDIS_URL, requireRedis } from '../helpers/requirements.js'
import { freePort, route, signedIn, startStack, type Stack } from '../helpers/stack.js'
import { readStream, startStreamingUpstream, type ReadStream, type StreamingUpstream } from '../helpers/streaming-upstream.js'

const hasRedis = await requireRedis()
let events: StreamingUpstream
let lines: StreamingUpstream
const closers: Array<() => Promise<unknown>> = []

beforeAll(async () => {
  events = await startStreamingUpstream()
  lines = await startStreamingUpstream({ format: 'ndjson' })
})
afterAll(async () => {
  for (const c of closers.reverse()) await c()
  await events.close()
  await lines.close()
})

const routes = ({ port, upstream }: { port: number; upstream: string }): string =>
  route(`http://app.localhost:${port}`, events.url, 'any-user', ['prefix: /events/']) +
  route(`http://app.localhost:${port}`, lines.url, 'any-user', ['prefix: /watch/']) +
  route(`http://app.localhost:${port}`, upstream, 'any-user')

async function subscribe(s: Stack, c: HttpClient): Promise<ReadStream> {
  const res = await c.get(s.url('app.localhost', '/events/feed'), { headers: { accept: 'text/event-stream' } })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('text/event-stream')
  return readStream(res.body as ReadableStream<Uint8Array>)
}

async function signOut(s: Stack, c: HttpClient): Promise<void> {
  const page = await c.get(s.url('app.localhost', '/.gatehouse/sign_out'), { headers: { accept: 'text/html' } })
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1]
  if (csrf === undefined) throw new Error('no sign-out form')
  const res = await c.post(s.url('app.localhost', '/.gatehouse/sign_out'), { csrf }, { headers: { accept: 'text/html' } })
  expect(res.status).toBe(302)
}

/**
 * Both users' streams from `upstream` carry a line; alice signs out: hers is cut and aborted
 * upstream, his goes on, and the cut is logged.
 */
async function expectCutAtSignOut(s: Stack, upstream: StreamingUpstream, alice: HttpClient, hers: ReadStream, his: ReadStream): Promise<void> {
  upstream.push('one')
  await hers.next('one')
  await his.next('one')
  expect(s.gh.openConnections).toBe(2)

  const cutBefore = upstream.cut
  await signOut(s, alice)
  expect(await hers.ended).toBe('cut')
  await expect.poll(() => upstream.cut - cutBefore).toBe(1)
  upstream.push('two')
  await his.next('two')
  expect(s.gh.openConnections).toBe(1)
  expect(s.logs.join('')).toMatch(/"reason":"the session ended".*"msg":"streamed response closed by gatehouse"/)
}

describe('a streamed response follows its session (one replica, memory store)', () => {
  it("sign-out cuts the user's open streams and aborts them upstream; other users' streams go on", async () => {
    const s = await startStack({ routes })
    closers.push(() => s.close())
    const alice = await signedIn(s, 'alice')
    const bob = await signedIn(s, 'bob')
    const hers = await subscribe(s, alice)
    const his = await subscribe(s, bob)
    await expectCutAtSignOut(s, events, alice, hers, his)
  })

  it('a plain chunked stream (NDJSON, not server-sent events) is cut at sign-out too, and aborted upstream', async () => {
    const s = await startStack({ routes })
    closers.push(() => s.close())
    const alice = await signedIn(s, 'alice')
    const bob = await signedIn(s, 'bob')
    const watch = async (c: HttpClient): Promise<ReadStream> => {
      const res = await c.get(s.url('app.localhost', '/watch/changes'), { headers: { accept: 'application/x-ndjson' } })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/x-ndjson')
      expect(res.headers.get('content-length')).toBeNull()
      expect(res.headers.get('transfer-encoding')).toBe('chunked')
      return readStream(res.body as ReadableStream<Uint8Array>, 'ndjson')
    }
    const hers = await watch(alice)
    const his = await watch(bob)
    await expectCutAtSignOut(s, lines, alice, hers, his)
  })

  it('a response of known length is not tracked', async () => {
    const s = await startStack({ routes })
    closers.push(() => s.close())
    const bob = await signedIn(s, 'bob')
    const res = await bob.get(s.url('app.localhost', '/x'), { headers: { accept: 'application/json' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).not.toBeNull()
    await res.text()
    expect(s.gh.openConnections).toBe(0)
  })
})

describe.skipIf(!hasRedis)('a streamed response follows its session (two replicas on Redis)', () => {
  it('a revocation on one side cuts her streams on both replicas; bob is untouched', async () => {
    const cookieSecret = randomBytes(32).toString('base64')
    const extra = `databroker_storage_type: redis\ndatabroker_storage_connection_string: ${REDIS_URL}\n`
    const storePrefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
    const [portA, portB] = [await freePort(), await freePort()]
    const a = await startStack({ routes, extra, cookieSecret, port: portA, alsoPorts: [portB], storePrefix })
    closers.push(() => a.close())
    const b = await startStack({ routes, extra, cookieSecret, port: portB, sharedIdp: a.idp, storePrefix })
    closers.push(() => b.close())
    const alice = await signedIn(a, 'alice')
    const bob = await signedIn(a, 'bob')
    const onA = await subscribe(a, alice)
    const onB = await subscribe(b, alice)
    const bobOnB = await subscribe(b, bob)
    events.push('hello')
    await Promise.all([onA.next('hello'), onB.next('hello'), bobOnB.next('hello')])

    const store = createStore(a.config.storage, { onError: () => undefined, prefix: storePrefix })
    const manager = createSessionManager({ store, cookieSecret: a.config.cookie.secret, now: Date.now, ttlMs: a.config.cookie.expireMs })
    expect((await manager.revokeWhere({ sub: '00u1alice' })).ids.length).toBeGreaterThan(0)
    await store.close()

    expect(await onA.ended).toBe('cut')
    expect(await onB.ended).toBe('cut')
    events.push('still')
    await bobOnB.next('still')
  })
})
