/**
 * WebSocket upgrades: the same resolve → identify → decide as any request,
 * then a raw tunnel to the upstream. A refused upgrade is answered by
 * gatehouse before a single byte reaches the upstream. Only routes with
 * `allow_websockets: true` accept upgrades.
 */
import http from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import type { Gatehouse } from './context.js'
import { decide, identify, resolveRequest, sessionCookie } from './resolve.js'
import { upstreamPath } from './forward.js'
import { nextRequestId } from './request-id.js'

function refuse(socket: Duplex, status: number, reason: string, body: string): void {
  if (socket.destroyed) return
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}

export function attachWebSockets(gh: Gatehouse, server: http.Server): void {
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    handleUpgrade(gh, req, socket, head).catch((err: unknown) => {
      gh.log.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'websocket upgrade failed')
      refuse(socket, 500, 'Internal Server Error', 'gatehouse hit an unexpected error')
    })
  })
}

async function handleUpgrade(gh: Gatehouse, req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const snap = gh.current()
  const requestId = nextRequestId()
  const startedAt = performance.now()
  const log = (outcome: string, status: number, extra: { route?: string; user?: string | undefined; reason?: string } = {}): void =>
    gh.accessLog({
      reqId: requestId,
      method: req.method,
      upgrade: 'websocket',
      host: req.headers.host,
      path: (req.url ?? '').split('?')[0]?.slice(0, 512) ?? '',
      status,
      route: extra.route,
      user: extra.user,
      outcome,
      reason: extra.reason,
      upstreamMs: undefined,
      ms: performance.now() - startedAt,
    })
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    log('error', 400)
    return refuse(socket, 400, 'Bad Request', 'only WebSocket upgrades are supported')
  }
  const r = resolveRequest(gh, snap, req)
  if (r.kind !== 'route') {
    const status = r.kind === 'bad-request' ? 400 : 404
    log(r.kind, status)
    return refuse(socket, status, status === 400 ? 'Bad Request' : 'Not Found', r.kind === 'bad-request' ? r.message : 'no route')
  }
  if (!r.route.allowWebsockets) {
    log('deny', 403, { route: r.route.id, reason: 'allow_websockets is not set on this route' })
    return refuse(socket, 403, 'Forbidden', 'WebSockets are not allowed on this route (allow_websockets)')
  }
  const who = await identify(gh, r, sessionCookie(snap, req, r))
  if (who.kind === 'store-down') {
    log('error', 503, { route: r.route.id })
    return refuse(socket, 503, 'Service Unavailable', 'the session store is unavailable')
  }
  const session = who.session
  const decision = decide(gh, req, r, session)
  if (decision.outcome === 'login') {
    log('login', 401, { route: r.route.id })
    return refuse(socket, 401, 'Unauthorized', 'sign in first')
  }
  if (decision.outcome === 'deny') {
    log('deny', 403, { route: r.route.id, user: session?.email, reason: decision.reason })
    return refuse(socket, 403, 'Forbidden', decision.reason)
  }

  const up = r.rt.upstreams.next()
  const upPath = upstreamPath(r.route, r.path, up.url.pathname)
  if (upPath === undefined) {
    log('error', 400, { route: r.route.id, reason: 'rewritten path is not canonical' })
    return refuse(socket, 400, 'Bad Request', 'the request path, once rewritten for this route, would leave the rewrite base')
  }
  const assertion = session === undefined ? undefined : await gh.signer.assertionFor(session, r.host.hostname)
  const headers = r.rt.headers.upstream(req.headers, {
    requestId,
    forwardedFor: r.fwd.forwardedFor,
    forwardedProto: r.fwd.proto,
    forwardedHost: r.fwd.host,
    host: r.route.preserveHostHeader ? r.host.authority : (r.route.hostRewrite ?? up.url.host),
    who: session,
    assertion,
    cookieName: snap.config.cookie.name,
    websocket: true,
  })
  for (const h of ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions']) {
    const v = req.headers[h]
    if (v !== undefined) headers[h] = v
  }
  const isTls = up.url.protocol === 'https:'
  const options: https.RequestOptions = {
    host: up.url.hostname,
    port: up.url.port === '' ? (isTls ? 443 : 80) : Number(up.url.port),
    path: upPath + r.query,
    method: 'GET',
    headers,
    agent: false,
    timeout: r.route.timeoutMs === 0 ? undefined : r.route.timeoutMs,
    ...(isTls
      ? { rejectUnauthorized: !r.route.tlsSkipVerify, servername: up.url.hostname, ...(r.route.tlsCustomCa === undefined ? {} : { ca: r.route.tlsCustomCa }) }
      : {}),
  }
  const upReq = (isTls ? https : http).request(options)
  upReq.on('timeout', () => upReq.destroy(new Error('upstream timeout')))
  upReq.on('error', (err) => {
    log('error', 502, { route: r.route.id, reason: `upstream error (${(err as NodeJS.ErrnoException).code ?? err.message})` })
    refuse(socket, 502, 'Bad Gateway', 'the service behind this address is unavailable')
  })
  upReq.on('response', (res) => {
    // The upstream declined the upgrade: relay its status, nothing more.
    log('allow', res.statusCode ?? 502, { route: r.route.id, user: session?.email })
    refuse(socket, res.statusCode ?? 502, res.statusMessage ?? 'Error', '')
    res.resume()
  })
  upReq.on('upgrade', (res, upSocket, upHead) => {
    log('allow', 101, { route: r.route.id, user: session?.email })
    upReq.setTimeout(0)
    upSocket.setTimeout(0)
    let response = `HTTP/1.1 101 Switching Protocols\r\n`
    for (let i = 0; i < res.rawHeaders.length; i += 2) response += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`
    socket.write(response + '\r\n')
    if (upHead.length > 0) socket.write(upHead)
    if (head.length > 0) upSocket.write(head)
    upSocket.on('error', () => socket.destroy())
    socket.on('error', () => upSocket.destroy())
    upSocket.on('close', () => socket.destroy())
    socket.on('close', () => upSocket.destroy())
    upSocket.pipe(socket).pipe(upSocket)
  })
  upReq.end()
}
