/**
 * Slow request bodies cannot starve an upstream. One client address may hold
 * only a share of an upstream origin's connections (the pool has 128), and a
 * request body must keep arriving (`idle_timeout`) and arrive in full in time
 * (`timeout`, `timeout_read`), or the request gets 408 from the refusal table
 * and its upstream connection is let go.
 *
 * The flood comes from 127.0.0.2 (any loopback address reaches the listener
 * on 127.0.0.1), the victim from 127.0.0.1; both use routes on one upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import net from 'node:net'
import { route, startStack, type Stack } from '../helpers/stack.js'
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js'
import { sendRaw, statusOf } from '../helpers/raw-http.js'

let s: Stack
let rec: RecordingUpstream

beforeAll(async () => {
  rec = await startRecordingUpstream()
  s = await startStack({
    hosts: ['flood.localhost', 'app.localhost', 'idle.localhost', 'total.localhost'],
    routes: ({ port }) =>
      // Long timeouts on the flooded route: only the share limit stands between the flood and the pool.
      route(`http://flood.localhost:${port}`, rec.url, 'public', ['timeout: 120s', 'idle_timeout: 120s']) +
      route(`http://app.localhost:${port}`, rec.url, 'public') +
      route(`http://idle.localhost:${port}`, rec.url, 'public', ['timeout: 120s', 'idle_timeout: 1s']) +
      route(`http://total.localhost:${port}`, rec.url, 'public', ['timeout: 2s', 'idle_timeout: 120s']),
    extra: 'timeout_read: 120s',
  })
})
afterAll(async () => {
  await s.close()
  await rec.close()
})

interface Trickler {
  readonly socket: net.Socket
  /** The response head, once one arrived. */
  response: string
}

/** Open a POST with a large Content-Length from `localAddress`, send one byte, and keep sending a byte every 300 ms. */
function trickle(host: string, localAddress: string, path = '/upload'): Promise<Trickler> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: s.port, host: '127.0.0.1', localAddress })
    const t: Trickler = { socket, response: '' }
    socket.on('connect', () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: ${host}:${s.port}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\nx`)
      resolve(t)
    })
    const timer = setInterval(() => socket.writable && socket.write('x'), 300)
    socket.on('data', (d) => (t.response += d.toString('latin1')))
    socket.on('close', () => clearInterval(timer))
    socket.on('error', (err) => {
      clearInterval(timer)
      reject(err)
    })
  })
}

/** Poll until `cond` holds, for at most `ms` (a bound on the test, not a timing assertion). */
async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function jsonBody(raw: string): { error: string } {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: string }
}

describe('a slow-body flood from one address', () => {
  it("leaves another client's requests on the same upstream answered", async () => {
    const uploads = (): number => rec.received.filter((r) => r.target === '/upload').length
    const before = uploads()
    const flood = await Promise.all(Array.from({ length: 140 }, () => trickle('flood.localhost', '127.0.0.2')))
    try {
      const refused = (): number => flood.filter((t) => statusOf(t.response) === 429).length
      // Every flood request is either holding an upstream connection or refused.
      await waitFor(() => uploads() - before + refused() >= 128, 30_000, 'the flood to be dispatched')
      const held = uploads() - before
      expect(held).toBeLessThan(128)
      expect(refused()).toBeGreaterThan(0)
      const one = flood.find((t) => statusOf(t.response) === 429) as Trickler
      expect(jsonBody(one.response).error).toBe('too_many_concurrent_requests')
      expect(one.response.toLowerCase()).toContain('retry-after:')

      // The victim, from another address, on another route to the same upstream: answered
      // (sendRaw gives up after 5 s, which only bounds the test).
      for (const path of ['/one', '/two', '/three']) {
        const raw = await sendRaw(s.port, `GET ${path} HTTP/1.1\r\nHost: app.localhost:${s.port}\r\nConnection: close\r\n\r\n`)
        expect(statusOf(raw)).toBe(200)
        expect(raw).toContain('\r\n\r\n')
        expect(raw).toContain('upstream')
      }
      // A POST with a body, too.
      const posted = await sendRaw(s.port, `POST /form HTTP/1.1\r\nHost: app.localhost:${s.port}\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=1`)
      expect(statusOf(posted)).toBe(200)
    } finally {
      for (const t of flood) t.socket.destroy()
    }
  }, 90_000)
})

describe('request body timeouts', () => {
  it('a body that stops arriving for idle_timeout gets 408 from the refusal table', async () => {
    const socket = net.connect({ port: s.port, host: '127.0.0.1' })
    let response = ''
    socket.on('data', (d) => (response += d.toString('latin1')))
    const closed = new Promise<void>((r) => socket.on('close', () => r()))
    socket.write(`POST /stall HTTP/1.1\r\nHost: idle.localhost:${s.port}\r\nAccept: application/json\r\nContent-Length: 1000\r\n\r\nabc`)
    await Promise.race([closed, new Promise((r) => setTimeout(r, 30_000))])
    socket.destroy()
    expect(statusOf(response)).toBe(408)
    expect(jsonBody(response).error).toBe('request_timeout')
    expect(response.toLowerCase()).toContain('x-content-type-options: nosniff')
    expect(s.logs.some((l) => l.includes('"msg":"request"') && l.includes('"path":"/stall"') && l.includes('"status":408'))).toBe(true)
  }, 40_000)

  it('a body that keeps trickling past the route timeout gets 408', async () => {
    const t = await trickle('total.localhost', '127.0.0.1', '/trickle')
    await new Promise<void>((r) => {
      t.socket.on('close', () => r())
      setTimeout(r, 30_000)
    })
    t.socket.destroy()
    expect(statusOf(t.response)).toBe(408)
    expect(jsonBody(t.response).error).toBe('request_timeout')
  }, 40_000)
})
