/**
 * The demo upstream ("whoami"): shows the request it received, and whether
 * the gatehouse assertion verifies against the JWKS published by the proxy.
 * Also the echo upstream of the integration tests: `GET /…` with
 * `Accept: application/json` returns what it saw as JSON; any request body is
 * counted (and hashed), never buffered whole.
 */
import http from 'node:http'
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import { escapeHtml } from '../server/pages/html.js'

export interface WhoamiOptions {
  readonly host?: string
  readonly port?: number
  /** Header carrying the assertion. */
  readonly assertionHeader?: string
  /** Where the assertion's keys are: the proxy's JWKS URL for the request's host is used when absent. */
  readonly jwksUrl?: (req: http.IncomingMessage) => URL | undefined
  readonly name?: string
}

export interface Seen {
  readonly name: string
  readonly method: string
  readonly url: string
  readonly headers: Record<string, string | string[] | undefined>
  readonly bodyBytes: number
  readonly bodySha256: string
  readonly assertion: { readonly valid: boolean; readonly claims?: JWTPayload; readonly error?: string } | undefined
}

export interface Whoami {
  readonly url: string
  readonly port: number
  readonly requests: Seen[]
  close(): Promise<void>
}

export async function startWhoami(opts: WhoamiOptions = {}): Promise<Whoami> {
  const assertionHeader = (opts.assertionHeader ?? 'x-gatehouse-jwt-assertion').toLowerCase()
  const jwksCache = new Map<string, ReturnType<typeof createRemoteJWKSet>>()
  const requests: Seen[] = []
  const name = opts.name ?? 'whoami'

  async function verify(req: http.IncomingMessage): Promise<Seen['assertion']> {
    const token = req.headers[assertionHeader]
    if (typeof token !== 'string') return undefined
    const url = opts.jwksUrl?.(req)
    if (url === undefined) return { valid: false, error: 'no JWKS URL to check against' }
    let jwks = jwksCache.get(url.href)
    if (jwks === undefined) {
      jwks = createRemoteJWKSet(url)
      jwksCache.set(url.href, jwks)
    }
    try {
      const { payload } = await jwtVerify(token, jwks, { algorithms: ['ES256'] })
      return { valid: true, claims: payload }
    } catch (err) {
      return { valid: false, error: (err as Error).message }
    }
  }

  const server = http.createServer((req, res) => {
    const hash = createHash('sha256')
    let bytes = 0
    req.on('data', (c: Buffer) => {
      bytes += c.length
      hash.update(c)
    })
    req.on('end', () => {
      void verify(req).then((assertion) => {
        const seen: Seen = {
          name,
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          bodyBytes: bytes,
          bodySha256: hash.digest('hex'),
          assertion,
        }
        requests.push(seen)
        if (requests.length > 1000) requests.shift()
        const accept = req.headers.accept ?? ''
        const [type, body] = accept.includes('text/html') ? ['text/html; charset=utf-8', page(seen)] : ['application/json', JSON.stringify(seen)]
        res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
        res.end(body)
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function page(seen: Seen): string {
  const rows = Object.entries(seen.headers)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(Array.isArray(v) ? v.join(', ') : (v ?? ''))}</td></tr>`)
    .join('')
  const a = seen.assertion
  const verdict =
    a === undefined
      ? 'no assertion header'
      : a.valid
        ? `valid — signed for ${escapeHtml(String(a.claims?.email ?? a.claims?.sub ?? ''))}, groups ${escapeHtml(JSON.stringify(a.claims?.groups ?? []))}`
        : `INVALID: ${escapeHtml(a.error ?? '')}`
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(seen.name)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:900px}th{text-align:left;padding-right:1em;vertical-align:top}td{font-family:ui-monospace,monospace;word-break:break-all}</style></head>
<body><h1>${escapeHtml(seen.name)}</h1><p>This is the upstream service. gatehouse let you through.</p>
<p><strong>${escapeHtml(seen.method)} ${escapeHtml(seen.url)}</strong></p><p>Assertion: ${verdict}</p>
<p><a href="/.gatehouse/">Your session</a> · <a href="/.gatehouse/sign_out">Sign out</a></p>
<table>${rows}</table></body></html>`
}
