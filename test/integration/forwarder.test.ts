/**
 * The forwarder against a raw upstream that does what real ones do: large
 * bodies to a slow reader, several Set-Cookie headers, hop-by-hop headers,
 * 100-continue, and connections that die halfway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import http from 'node:http'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { listenLocal, type LocalServer } from '../helpers/local-server.js'
import { route, startStack, type Stack } from '../helpers/stack.js'

const BIG = 20 * 1024 * 1024
const bigChunk = Buffer.alloc(64 * 1024)
for (let i = 0; i < bigChunk.length; i++) bigChunk[i] = (i * 31) & 0xff
const bigSha = (() => {
  const h = createHash('sha256')
  for (let sent = 0; sent < BIG; sent += bigChunk.length) h.update(bigChunk)
  return h.digest('hex')
})()

let s: Stack
let upstream: LocalServer
const upstreamClosed: Array<() => void> = []

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = (req.url ?? '').split('?')[0]
  if (path === '/big') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG })
    let sent = 0
    const pump = (): void => {
      while (sent < BIG) {
        sent += bigChunk.length
        if (!res.write(bigChunk)) return void res.once('drain', pump)
      }
      res.end()
    }
    pump()
    return
  }
  if (path === '/cookies') {
    res.writeHead(
      200,
      [
        ['Set-Cookie', 'a=1; Path=/'],
        ['Set-Cookie', 'b=2; Path=/'],
        ['Connection', 'keep-alive, X-Internal'],
        ['X-Internal', 'upstream-only'],
        ['Keep-Alive', 'timeout=5'],
        ['Content-Type', 'text/plain'],
      ].flat(),
    )
    res.end('ok')
    return
  }
  if (path === '/echo') {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ headers: req.headers, body: Buffer.concat(chunks).toString() }))
    })
    return
  }
  if (path === '/hang') {
    // Headers and a first chunk, then nothing: the client gives up.
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('partial')
    req.socket.once('close', () => upstreamClosed.shift()?.())
    return
  }
  if (path === '/die') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 })
    res.write('x'.repeat(100), () => req.socket.destroy())
    return
  }
  if (path === '/empty') {
    res.writeHead(204)
    res.end()
    return
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 })
  res.end('hello')
}

beforeAll(async () => {
  upstream = await listenLocal(http.createServer(handle))
  s = await startStack({ hosts: ['raw.localhost'], routes: ({ port }) => route(`http://raw.localhost:${port}`, upstream.url, 'public') })
})
afterAll(async () => {
  await s.close()
  await upstream.close()
})

interface RawResponse {
  status: number
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  res: http.IncomingMessage
}

function request(path: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}): Promise<RawResponse> {
  const url = new URL(s.url('raw.localhost', path))
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: url.port, path, method: opts.method ?? 'GET', headers: { host: url.host, ...opts.headers }, agent: false },
      (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, res }),
    )
    req.on('error', reject)
    if (opts.headers?.expect === '100-continue') req.once('continue', () => req.end(opts.body))
    else req.end(opts.body)
  })
}

async function readAll(res: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

describe('forwarder', () => {
  it('relays a 20 MB response intact to a client that reads slowly (backpressure, no buffering)', async () => {
    const r = await request('/big')
    expect(r.status).toBe(200)
    expect(r.headers['content-length']).toBe(String(BIG))
    const hash = createHash('sha256')
    let bytes = 0
    // Read in bursts with pauses so that gatehouse's writes back up.
    for await (const chunk of r.res) {
      hash.update(chunk as Buffer)
      bytes += (chunk as Buffer).length
      if (bytes % (1024 * 1024) < (chunk as Buffer).length) await new Promise((resolve) => setImmediate(resolve))
    }
    expect(bytes).toBe(BIG)
    expect(hash.digest('hex')).toBe(bigSha)
  })

  it('keeps every Set-Cookie and drops hop-by-hop response headers, including ones the upstream listed in Connection', async () => {
    const r = await request('/cookies')
    expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/'])
    expect(r.headers['x-internal']).toBeUndefined()
    expect(r.headers['keep-alive']).not.toBe('timeout=5')
    expect((await readAll(r.res)).toString()).toBe('ok')
  })

  it('drops request headers the client listed in Connection, and handles Expect: 100-continue', async () => {
    const r = await request('/echo', {
      method: 'POST',
      headers: {
        connection: 'keep-alive, X-Drop-Me',
        'x-drop-me': 'secret',
        'x-keep-me': 'yes',
        expect: '100-continue',
        'content-type': 'text/plain',
        'content-length': '4',
      },
      body: 'ping',
    })
    expect(r.status).toBe(200)
    const seen = JSON.parse((await readAll(r.res)).toString()) as { headers: Record<string, string>; body: string }
    expect(seen.body).toBe('ping')
    expect(seen.headers['x-drop-me']).toBeUndefined()
    expect(seen.headers['x-keep-me']).toBe('yes')
    expect(seen.headers.expect).toBeUndefined()
  })

  it('a plain request that carries Upgrade (without Connection: upgrade) goes up as a plain request', async () => {
    const r = await request('/echo', { headers: { upgrade: 'websocket' } })
    expect(r.status).toBe(200)
    const seen = JSON.parse((await readAll(r.res)).toString()) as { headers: Record<string, string> }
    expect(seen.headers.upgrade).toBeUndefined()
  })

  it('answers HEAD and 204 without a body', async () => {
    const head = await request('/', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe('5')
    expect((await readAll(head.res)).length).toBe(0)
    const empty = await request('/empty')
    expect(empty.status).toBe(204)
    expect((await readAll(empty.res)).length).toBe(0)
  })

  it('a client that goes away mid-response closes the upstream request too', async () => {
    const closed = new Promise<void>((resolve) => upstreamClosed.push(resolve))
    const r = await request('/hang')
    expect(r.status).toBe(200)
    const [first] = (await once(r.res, 'data')) as [Buffer]
    expect(first.toString()).toBe('partial')
    r.res.destroy()
    await closed
  })

  it('an upstream that dies mid-body cuts the client response short instead of completing it', async () => {
    const r = await request('/die')
    expect(r.status).toBe(200)
    await expect(readAll(r.res)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/)
    // And gatehouse keeps serving.
    const after = await request('/')
    expect((await readAll(after.res)).toString()).toBe('hello')
  })
})
