/**
 * Upstreams that read a request path the way real servers do, to check that
 * gatehouse judged the path they will actually serve:
 * - `servlet`: imitates Tomcat's request-URI handling (Catalina's
 *   CoyoteAdapter: path parameters `;…` removed from every segment before
 *   decoding, then %-decoding, then `//` merged and dot segments resolved).
 * - `double-decode`: a server (or a second proxy) that percent-decodes the
 *   path twice before routing.
 * Each request's raw target, the path it serves, and the `x-route` header
 * (a route id gatehouse sets with set_request_headers) are recorded.
 */
import http from 'node:http'
import { listenLocal } from './local-server.js'

export interface ServedRequest {
  readonly method: string
  readonly target: string
  /** The path this server serves for the target. */
  readonly served: string
  /** The route gatehouse judged the request on (its `x-route` header). */
  readonly route: string | undefined
}

export interface PathReadingUpstream {
  readonly url: string
  readonly requests: ServedRequest[]
  close(): Promise<void>
}

function decodeOnce(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}

/** Merge `//` and resolve `.`/`..` (RFC 3986 §5.2.4), as Tomcat's normalize() does. */
function normalize(path: string): string {
  const out: string[] = []
  const segs = path.split('/')
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i] as string
    const last = i === segs.length - 1
    if (s === '' && !last) continue
    if (s === '.') {
      if (last) out.push('')
      continue
    }
    if (s === '..') {
      out.pop()
      if (last) out.push('')
      continue
    }
    out.push(s)
  }
  return '/' + out.join('/')
}

export function servletPath(target: string): string {
  const raw = target.split('?')[0] ?? '/'
  // Tomcat removes path parameters per segment before it decodes anything.
  const noParams = raw
    .split('/')
    .map((seg) => {
      const i = seg.indexOf(';')
      return i === -1 ? seg : seg.slice(0, i)
    })
    .join('/')
  return normalize(decodeOnce(noParams))
}

export function doubleDecodedPath(target: string): string {
  const raw = target.split('?')[0] ?? '/'
  // What a second decode yields: `%252e` is `.` here, and `%253f` ends the path.
  const twice = decodeOnce(decodeOnce(raw)).split(/[?#]/)[0] ?? '/'
  return normalize(twice.replace(/\\/g, '/'))
}

export async function startPathReadingUpstream(mode: 'servlet' | 'double-decode'): Promise<PathReadingUpstream> {
  const requests: ServedRequest[] = []
  const server = http.createServer((req, res) => {
    const target = req.url ?? '/'
    const served = mode === 'servlet' ? servletPath(target) : doubleDecodedPath(target)
    const route = req.headers['x-route']
    requests.push({ method: req.method ?? '', target, served, route: typeof route === 'string' ? route : undefined })
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ served }))
  })
  const local = await listenLocal(server)
  return { url: local.url, requests, close: () => local.close() }
}
