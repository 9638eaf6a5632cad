import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import net from 'node:net'
import { listenLocal, type LocalServer } from '../helpers/local-server.js'
import { startStack, type Stack } from '../helpers/stack.js'

// Other faults live next to the behaviour they exercise: IdP down and key
// rotation in test/integration/identity.test.ts, Redis down and back and an
// invalid config on reload in test/integration/operations.test.ts, upstream
// down and slow in test/integration/forwarding.test.ts.

let s: Stack
let resetter: LocalServer
let resetServer: net.Server
let resets = 0

beforeAll(async () => {
  // An upstream that accepts connections and resets them.
  resetServer = net.createServer((sock) => {
    resets++
    sock.resetAndDestroy()
  })
  resetter = await listenLocal(resetServer)
  const resetUrl = resetter.url
  s = await startStack({
    hosts: ['app.localhost', 'reset.localhost'],
    idpTimeoutMs: 300,
    routes: ({ upstream, port }) => `
  - from: http://app.localhost:${port}
    to: ${upstream}
    allow_any_authenticated_user: true
  - from: http://reset.localhost:${port}
    to: ${resetUrl}
    allow_public_unauthenticated_access: true
`,
  })
})
afterAll(async () => {
  await s.close()
  await resetter.close()
})

describe('faults', () => {
  it('a slow IdP: code exchanges time out with a 502 page, in parallel, without piling up', async () => {
    const clients = Array.from({ length: 10 }, () => s.client())
    const states: string[] = []
    for (const c of clients) {
      const first = await c.get(s.url('app.localhost', '/'), { headers: { accept: 'text/html' } })
      states.push(new URL(first.headers.get('location') ?? '').searchParams.get('state') ?? '')
    }
    s.idp.setLatency(3000)
    try {
      const results = await Promise.all(
        clients.map((c, i) =>
          c.get(s.url('app.localhost', `/.gatehouse/callback?code=x&state=${states[i]}&iss=${encodeURIComponent(s.idp.issuer)}`), {
            headers: { accept: 'text/html' },
          }),
        ),
      )
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(502))
    } finally {
      s.idp.setLatency(0)
    }
    // And the IdP being fast again means sign-in works again.
    expect((await s.signIn(s.client(), s.url('app.localhost', '/'), 'bob')).res.status).toBe(200)
  })

  it('an upstream that resets connections gets a 502, is not retried, and leaks no socket', async () => {
    const before = resets
    for (let i = 0; i < 5; i++) {
      const res = await s.client().get(s.url('reset.localhost', '/'), { headers: { accept: 'application/json' } })
      expect(res.status).toBe(502)
      await res.body?.cancel()
    }
    expect(resets - before).toBe(5)
    const conns = await new Promise<number>((r) => resetServer.getConnections((_e, n) => r(n)))
    expect(conns).toBe(0)
  })
})
