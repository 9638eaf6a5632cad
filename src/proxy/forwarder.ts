/**
 * Streams one request to its upstream and the response back, on undici's
 * Dispatcher API: request bodies go up as the client's own stream, response
 * chunks go straight into the client's response with backpressure, and no
 * intermediate Readable, pipe or promise is made per request.
 *
 * This replaced @fastify/reply-from on the proxied path: its stream plumbing
 * (a body Readable piped into the reply, end-of-stream listeners, a URL cache
 * keyed by JSON) cost more CPU per request than everything gatehouse does to
 * authenticate it. Nothing is retried behind the client's back.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline, Transform, type TransformCallback } from 'node:stream'
import { util as undiciUtil, type Dispatcher } from 'undici'
import { setsOwnCookie } from './cookie-header.js'

/** Hop-by-hop response headers (RFC 9110 §7.6.1); node sets its own framing and connection headers. */
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

export interface UpstreamRequest {
  /** `http://host:port` of the chosen upstream. */
  readonly origin: string
  /** Path and query as the upstream receives them. */
  readonly path: string
  readonly method: string
  /** Already rewritten for the upstream (host, forwarding and identity headers; hop-by-hop removed). */
  readonly headers: Record<string, string | string[]>
  /**
   * `timeout`: time allowed for the whole exchange up to the response headers (a request body
   * included), and between response chunks. 0: none.
   */
  readonly timeoutMs: number
  /** `idle_timeout`: the longest pause in the request body. 0: none. */
  readonly bodyIdleMs: number
  /** `timeout_read`: the whole request body must arrive within this. 0: none. */
  readonly bodyTotalMs: number
  /** Lower-case names and values the route sets on the response, over the upstream's. */
  readonly responseHeaders: ReadonlyArray<readonly [string, string]>
  /** `cookie_name`: the upstream's Set-Cookie for it (or its login/CSRF cookies, any prefix) is dropped. */
  readonly ownCookieName: string
}

export interface UpstreamFailure {
  /** `request-timeout`: the client's body stalled or took too long (408); `timeout`: the upstream did (504). */
  readonly kind: 'timeout' | 'request-timeout' | 'error'
  /** The system or undici error code (`ECONNREFUSED`, `UND_ERR_SOCKET`), when there is one. */
  readonly code: string | undefined
  readonly message: string
}

export interface ForwardEvents {
  /** The upstream's response headers arrived and are about to be written (as given: lower-case names, hop-by-hop ones removed). */
  onResponseStart(statusCode: number, headers: Readonly<Record<string, string | string[]>>): void
  /** The upstream failed before any response byte went to the client: answer with an error page. */
  onFailure(failure: UpstreamFailure): void
}

function failureOf(err: Error): UpstreamFailure {
  const code = (err as { code?: string }).code
  const causeCode = (err.cause as { code?: string } | undefined)?.code
  const kind = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : 'error'
  return { kind, code: causeCode ?? code, message: err.message }
}

/**
 * The upstream's response headers for the client, in one pass over the raw
 * list: hop-by-hop ones dropped (and any the upstream listed in Connection),
 * repeated ones (Set-Cookie) kept as arrays, values as latin1 bytes. No
 * prototype, so a header named `__proto__` is just a header.
 */
function responseHeaders(raw: Buffer[], ownCookieName: string): Record<string, string | string[]> {
  const headers = Object.create(null) as Record<string, string | string[]>
  let listed: string | undefined
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = undiciUtil.headerNameToString(raw[i] as Buffer)
    const value = (raw[i + 1] as Buffer).toString('latin1')
    if (RESPONSE_HOP_BY_HOP.has(name)) {
      if (name === 'connection') listed = listed === undefined ? value : `${listed},${value}`
      continue
    }
    // gatehouse's own cookies are gatehouse's to set: never the upstream's.
    if (name === 'set-cookie' && setsOwnCookie(value, ownCookieName)) continue
    const prev = headers[name]
    headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
  }
  if (listed !== undefined) {
    for (const token of listed.split(',')) {
      const name = token.trim().toLowerCase()
      if (name.length > 0) delete headers[name]
    }
  }
  return headers
}

class ForwardHandler implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | undefined
  private resumeUpstream: (() => void) | undefined
  private responding = false
  private finished = false
  private clientGone = false
  /** A timeout ended the exchange: the failure is answered, whatever undici reports after. */
  private expired = false
  private readonly timers: NodeJS.Timeout[] = []
  /** Whether the request body (if any) has arrived in full. */
  bodyDone = true

  constructor(
    private readonly res: ServerResponse,
    private readonly spec: UpstreamRequest,
    private readonly events: ForwardEvents,
  ) {
    res.once('close', () => {
      if (this.finished) return
      this.clientGone = true
      this.abortUpstream?.(new Error('the client closed the connection'))
    })
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort
    if (this.clientGone) abort(new Error('the client closed the connection'))
    else if (this.expired) abort(new Error('the request timed out'))
  }

  /** Start a timer that ends the exchange with `kind()` unless cleared first. */
  arm(ms: number, kind: () => UpstreamFailure['kind']): NodeJS.Timeout | undefined {
    if (ms <= 0) return undefined
    const t = setTimeout(() => this.expire(kind()), ms)
    this.timers.push(t)
    return t
  }

  clearTimers(): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.length = 0
  }

  /** A timeout: let the upstream connection go, and answer the client (or cut it off mid-response). */
  expire(kind: UpstreamFailure['kind']): void {
    if (this.finished || this.expired) return
    this.expired = true
    this.clearTimers()
    const err = new Error(kind === 'request-timeout' ? 'the request body did not arrive in time' : 'the upstream did not answer in time')
    this.abortUpstream?.(err)
    if (this.clientGone) return
    if (!this.responding && !this.res.headersSent) this.events.onFailure({ kind, code: undefined, message: err.message })
    else this.res.destroy()
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx informational responses are not relayed (101 arrives as an upgrade, handled elsewhere).
    if (statusCode < 200) return true
    const headers = responseHeaders(rawHeaders, this.spec.ownCookieName)
    for (const [name, value] of this.spec.responseHeaders) headers[name] = value
    this.resumeUpstream = resume
    if (this.bodyDone) this.clearTimers()
    this.events.onResponseStart(statusCode, headers)
    // If node refuses what the upstream sent, this throws, undici reports it to
    // onError, and the client still gets a 502 page: nothing was written yet.
    this.res.writeHead(statusCode, headers)
    this.responding = true
    return true
  }

  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true
    // The client is slower than the upstream: pause the upstream until it drains.
    if (this.resumeUpstream !== undefined) this.res.once('drain', this.resumeUpstream)
    return false
  }

  onComplete(): void {
    this.finished = true
    this.clearTimers()
    this.res.end()
  }

  onError(err: Error): void {
    this.clearTimers()
    if (this.expired) return
    this.finished = true
    if (this.clientGone) return
    if (!this.responding && !this.res.headersSent) {
      const failure = failureOf(err)
      // undici's own clock ran out while the client was still sending: the client was slow, not the upstream.
      this.events.onFailure(failure.kind === 'timeout' && !this.bodyDone ? { ...failure, kind: 'request-timeout' } : failure)
    }
    // Part of the response is already out: cut the connection so the client sees it is incomplete.
    else this.res.destroy()
  }
}

/**
 * The request body on its way up, watched: each chunk refreshes the idle timer, the end clears the
 * body's timers. A body that stalls or trickles would otherwise hold an upstream connection for as long
 * as the client likes.
 */
function watchedBody(req: IncomingMessage, handler: ForwardHandler, spec: UpstreamRequest): Transform {
  handler.bodyDone = false
  const idle = handler.arm(spec.bodyIdleMs, () => 'request-timeout')
  const total = handler.arm(spec.bodyTotalMs, () => 'request-timeout')
  const body = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      idle?.refresh()
      done(null, chunk)
    },
    flush(done: TransformCallback) {
      handler.bodyDone = true
      if (idle !== undefined) clearTimeout(idle)
      if (total !== undefined) clearTimeout(total)
      done()
    },
  })
  // A client that goes away mid-body ends the body with an error, and undici lets the upstream go.
  pipeline(req, body, () => undefined)
  return body
}

/** Send `req` (its body, if any, streams as is) to the upstream and relay the answer into `res`. */
export function forwardRequest(dispatcher: Dispatcher, req: IncomingMessage, res: ServerResponse, spec: UpstreamRequest, events: ForwardEvents): void {
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined
  const handler = new ForwardHandler(res, spec, events)
  let body: Transform | null = null
  if (hasBody) {
    body = watchedBody(req, handler, spec)
    // With a body the whole exchange has one clock: the body's arrival counts against `timeout`.
    handler.arm(spec.timeoutMs, () => (handler.bodyDone ? 'timeout' : 'request-timeout'))
  }
  dispatcher.dispatch(
    {
      origin: spec.origin,
      path: spec.path,
      method: spec.method as Dispatcher.HttpMethod,
      headers: spec.headers,
      body,
      headersTimeout: spec.timeoutMs,
      bodyTimeout: spec.timeoutMs,
    },
    handler,
  )
}
