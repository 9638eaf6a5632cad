/**
 * Two gatehouse replicas behind one address, sharing Redis, with a sign-in
 * host: a one-time code minted by one replica is redeemed by the other, and a
 * sign-out or a revocation on one ends the session on every host of both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { createSessionManager, createStore, type KeyValueStore } from '../../src/session/index.js'
import { ADMIN, APP, DOCS, startAuthnStack, walkUntil } from '../helpers/authenticate-stack.js'
import { createHttpClient, type HttpClient } from '../helpers/http-client.js'
import { REDIS_URL, requireRedis } from '../helpers/requirements.js'
import { freePort, type Stack } from '../helpers/stack.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

const hasRedis = await requireRedis()

describe.skipIf(!hasRedis)('sign-in host with two replicas on Redis', () => {
  let a: Stack
  let b: Stack
  let relay: TcpProxy
  let store: KeyValueStore
  let portA = 0
  let portB = 0
  const storePrefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`
  const cookieSecret = randomBytes(32).toString('base64')
  const extra = `databroker_storage_type: redis\ndatabroker_storage_connection_string: ${REDIS_URL}\n`

  beforeAll(async () => {
    portA = await freePort()
    portB = await freePort()
    relay = await startTcpProxy({ host: '127.0.0.1', port: portA })
    a = await startAuthnStack({ port: relay.port, listenPort: portA, extra, cookieSecret, storePrefix })
    b = await startAuthnStack({ port: relay.port, listenPort: portB, extra, cookieSecret, storePrefix, sharedIdp: a.idp })
    store = createStore(a.config.storage, { onError: () => undefined, prefix: storePrefix })
  })
  afterAll(async () => {
    await relay?.close()
    await b?.close()
    await a?.close()
    await store?.close()
  })

  const to = (s: Stack): void => relay.retarget(s === a ? portA : portB)
  const handed = (s: Stack, host: string): number => s.logs.filter((l) => l.includes('session handed to route host') && l.includes(host)).length

  async function signedIn(): Promise<HttpClient> {
    // One connection per request, so each request goes where the relay points now.
    const c = createHttpClient({ keepAlive: false })
    to(a)
    const done = await a.signIn(c, a.url(APP, '/'), 'alice')
    expect(done.res.status).toBe(200)
    await done.res.body?.cancel()
    return c
  }

  async function redeemElsewhere(c: HttpClient, host: string, mint: Stack, redeem: Stack): Promise<void> {
    to(mint)
    const code = await walkUntil(c, mint.url(host, '/page'), (u) => u.pathname === '/.gatehouse/callback')
    expect(code).toBeDefined()
    to(redeem)
    const before = handed(redeem, host)
    const res = await c.get(code as URL, { headers: { accept: 'text/html' } })
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe(redeem.url(host, '/page'))
    expect(handed(redeem, host)).toBe(before + 1)
    const page = await c.get(redeem.url(host, '/page'), { headers: { accept: 'application/json' } })
    expect(page.status).toBe(200)
    await page.body?.cancel()
  }

  it('each replica redeems the codes the other minted', async () => {
    const c = await signedIn()
    await redeemElsewhere(c, DOCS, a, b)
    await redeemElsewhere(c, ADMIN, b, a)
  })

  it('a code is single-use across replicas', async () => {
    const c = await signedIn()
    to(a)
    const code = await walkUntil(c, a.url(DOCS, '/'), (u) => u.pathname === '/.gatehouse/callback')
    const first = await c.get(code as URL, { headers: { accept: 'text/html' } })
    expect(first.status).toBe(302)
    to(b)
    const again = await c.get(code as URL, { headers: { accept: 'text/html' } })
    expect(again.status).toBe(400)
    await again.body?.cancel()
  })

  it('sign-out through one replica ends every host on both', async () => {
    const c = await signedIn()
    await redeemElsewhere(c, DOCS, a, b)
    to(a)
    const form = await (await c.get(a.url(APP, '/.gatehouse/sign_out'), { headers: { accept: 'text/html' } })).text()
    const csrf = /name="csrf" value="([^"]+)"/.exec(form)?.[1] ?? ''
    const out = await c.post(a.url(APP, '/.gatehouse/sign_out'), { csrf }, { headers: { accept: 'text/html' } })
    expect(out.status).toBe(302)
    await out.body?.cancel()
    for (const s of [a, b]) {
      to(s)
      for (const host of [APP, DOCS]) {
        const res = await c.get(s.url(host, '/'), { headers: { accept: 'application/json' } })
        expect(res.status, `${host} on ${s === a ? 'a' : 'b'}`).toBe(401)
        await res.body?.cancel()
      }
    }
  })

  it('revoking the user in the store (as `gatehouse sessions revoke --user`) ends every host on both', async () => {
    const c = await signedIn()
    await redeemElsewhere(c, DOCS, a, b)
    const manager = createSessionManager({ store, cookieSecret: Buffer.from(cookieSecret, 'base64'), now: Date.now, ttlMs: a.config.cookie.expireMs })
    expect((await manager.revokeWhere({ user: 'alice@example.com' })).ids.length).toBeGreaterThanOrEqual(1)
    for (const s of [a, b]) {
      to(s)
      for (const host of [APP, DOCS]) {
        const res = await c.get(s.url(host, '/'), { headers: { accept: 'application/json' } })
        expect(res.status, host).toBe(401)
        await res.body?.cancel()
      }
    }
  })
})
