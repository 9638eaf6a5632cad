/**
 * A small cookie-keeping HTTP client for integration tests: manual redirects,
 * host-only cookies per hostname (Path, Max-Age and deletion honoured), and
 * every hostname resolved to 127.0.0.1 so tests can use names such as
 * app.localhost without touching the system resolver.
 */
import { Agent, fetch as undiciFetch, type Response } from 'undici'

export interface Cookie {
  name: string
  value: string
  path: string
  expiresAtMs: number | undefined
}

const loopback = new Agent({
  connect: {
    lookup: (_host, _opts, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]),
  },
})

/** One connection per request: with gatehouse's workers, each new connection may go to another worker. */
const loopbackNoKeepAlive = new Agent({
  pipelining: 0,
  connect: {
    lookup: (_host, _opts, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]),
  },
})

export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | Uint8Array | URLSearchParams | ReadableStream | AsyncIterable<Uint8Array>
  /** Send no cookies from the jar. */
  noCookies?: boolean
}

export class HttpClient {
  readonly jar = new Map<string, Map<string, Cookie>>()

  constructor(private readonly dispatcher: Agent = loopback) {}

  cookies(host: string): Map<string, Cookie> {
    let m = this.jar.get(host)
    if (m === undefined) {
      m = new Map()
      this.jar.set(host, m)
    }
    return m
  }

  cookieHeader(url: URL): string {
    const now = Date.now()
    const out: string[] = []
    for (const c of this.cookies(url.hostname).values()) {
      if (c.expiresAtMs !== undefined && c.expiresAtMs <= now) continue
      if (!url.pathname.startsWith(c.path)) continue
      out.push(`${c.name}=${c.value}`)
    }
    return out.join('; ')
  }

  store(url: URL, res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const eq = (pair ?? '').indexOf('=')
      if (eq <= 0) continue
      const name = (pair as string).slice(0, eq).trim()
      const value = (pair as string).slice(eq + 1).trim()
      let path = '/'
      let expiresAtMs: number | undefined
      for (const a of attrs) {
        const [k, v] = a.split('=').map((x) => x.trim())
        if (k?.toLowerCase() === 'path' && v !== undefined) path = v
        if (k?.toLowerCase() === 'max-age' && v !== undefined) expiresAtMs = Date.now() + Number(v) * 1000
      }
      const jar = this.cookies(url.hostname)
      if (expiresAtMs !== undefined && expiresAtMs <= Date.now()) jar.delete(name)
      else jar.set(name, { name, value, path, expiresAtMs })
    }
  }

  async request(target: string | URL, opts: RequestOptions = {}): Promise<Response> {
    const url = new URL(target)
    const headers: Record<string, string> = { ...(opts.headers ?? {}) }
    const cookie = opts.noCookies === true ? '' : this.cookieHeader(url)
    if (cookie !== '' && headers.cookie === undefined) headers.cookie = cookie
    const res = await undiciFetch(url, {
      method: opts.method ?? 'GET',
      headers,
      redirect: 'manual',
      dispatcher: this.dispatcher,
      ...(opts.body === undefined ? {} : { body: opts.body as never, duplex: 'half' }),
    })
    this.store(url, res)
    return res
  }

  get(target: string | URL, opts: Omit<RequestOptions, 'method'> = {}): Promise<Response> {
    return this.request(target, opts)
  }

  post(target: string | URL, form: Record<string, string>, opts: Omit<RequestOptions, 'method' | 'body'> = {}): Promise<Response> {
    return this.request(target, {
      ...opts,
      method: 'POST',
      body: new URLSearchParams(form).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(opts.headers ?? {}) },
    })
  }

  /** Follow redirects (GET) from a response, up to `max` hops; returns the final response and the URLs visited. */
  async follow(
    res: Response,
    from: string | URL,
    max = 10,
    headers: Record<string, string> = { accept: 'text/html' },
    stop?: (url: URL) => boolean,
  ): Promise<{ res: Response; url: URL; visited: URL[] }> {
    let url = new URL(from)
    const visited: URL[] = []
    let current = res
    for (let i = 0; i < max && current.status >= 300 && current.status < 400; i++) {
      const loc = current.headers.get('location')
      if (loc === null) break
      await current.body?.cancel()
      url = new URL(loc, url)
      visited.push(url)
      if (stop?.(url) === true) break
      current = await this.get(url, { headers })
    }
    return { res: current, url, visited }
  }
}

export function createHttpClient(opts: { readonly keepAlive?: boolean } = {}): HttpClient {
  return new HttpClient(opts.keepAlive === false ? loopbackNoKeepAlive : loopback)
}
