/**
 * The WebSocket front end: an upgrade request's facts go to the same
 * authorize core as any request (only routes with `allow_websockets: true`
 * accept one), then a raw tunnel to the upstream. A refused upgrade is
 * answered by gatehouse before a single byte reaches the upstream. The log
 * line and the metrics are the proxy's, with `upgrade: websocket`.
 */
import http from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import { REQUEST_ID_HEADER } from '../../constants.js'
import { authorize } from '../../authorize/decide.js'
import type { Allow, Verdict } from '../../authorize/verdict.js'
import { upstreamPath } from '../../proxy/path.js'
import type { Gatehouse } from '../context.js'
import { newRequestContext, type RequestContext } from '../request-context.js'
import { nextRequestId, trustedRequestId } from '../telemetry/request-id.js'
import { factsOf, noteVerdict } from './proxy.js'

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
  const ctx = newRequestContext(gh.current())
  const requestId = trustedRequestId(req.headers[REQUEST_ID_HEADER], req.socket.remoteAddress, ctx.snap.clientAddress.isTrusted) ?? nextRequestId()
  const finish = (status: number): void => {
    const route = ctx.route ?? '-'
    gh.metrics.countRequest(route, ctx.outcome ?? 'special', status)
    if (ctx.outcome === 'deny') gh.metrics.denials.inc({ route, criterion: ctx.criterion ?? '' })
    if (ctx.upstreamMs !== undefined) gh.metrics.observeUpstream(route, ctx.upstreamMs / 1000)
    gh.accessLog({
      reqId: requestId,
      method: req.method,
      upgrade: 'websocket',
      host: req.headers.host,
      path: (req.url ?? '').split('?')[0]?.slice(0, 512) ?? '',
      status,
      route: ctx.route,
      user: ctx.user,
      outcome: ctx.outcome,
      reason: ctx.reason,
      upstreamMs: ctx.upstreamMs,
      ms: performance.now() - ctx.startedAt,
    })
  }
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    ctx.outcome = 'error'
    finish(400)
    return refuse(socket, 400, 'Bad Request', 'only WebSocket upgrades are supported')
  }
  const v = await authorize(gh, ctx.snap, factsOf(gh, req, true))
  noteVerdict(ctx, v)
  if (v.kind !== 'allow') return refuseVerdict(gh, ctx, socket, v, finish)
  tunnel(gh, ctx, req, socket, head, v, requestId, finish)
}

function refuseVerdict(gh: Gatehouse, ctx: RequestContext, socket: Duplex, v: Exclude<Verdict, Allow>, finish: (status: number) => void): void {
  switch (v.kind) {
    case 'bad-request':
      finish(400)
      return refuse(socket, 400, 'Bad Request', v.message)
    case 'not-found':
    case 'jwks':
    case 'endpoint':
      // gatehouse's own endpoints and the JWKS are not WebSockets.
      if (ctx.outcome === undefined) ctx.outcome = 'not-found'
      finish(404)
      return refuse(socket, 404, 'Not Found', 'no route')
    case 'store-down':
      ctx.outcome = 'error'
      gh.log.error({ err: { message: v.err instanceof Error ? v.err.message : String(v.err) } }, 'session store unavailable')
      finish(503)
      return refuse(socket, 503, 'Service Unavailable', 'the session store is unavailable')
    case 'sign-in':
      finish(401)
      return refuse(socket, 401, 'Unauthorized', 'sign in first')
    case 'deny':
      finish(403)
      return refuse(socket, 403, 'Forbidden', v.reason)
  }
}

function tunnel(
  gh: Gatehouse,
  ctx: RequestContext,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  v: Allow,
  requestId: string,
  finish: (status: number) => void,
): void {
  const { route, rt, fwd } = v.target
  const up = rt.upstreams.next()
  const upPath = upstreamPath(route, v.target.path, up.url.pathname)
  if (upPath === undefined) {
    ctx.outcome = 'error'
    ctx.reason = 'rewritten path is not canonical'
    finish(400)
    return refuse(socket, 400, 'Bad Request', 'the request path, once rewritten for this route, would leave the rewrite base')
  }
  const headers = rt.headers.upstream(req.headers, {
    requestId,
    forwardedFor: fwd.forwardedFor,
    forwardedProto: fwd.proto,
    forwardedHost: fwd.host,
    host: route.preserveHostHeader ? v.target.host.authority : (route.hostRewrite ?? up.url.host),
    who: v.session,
    assertion: v.assertion,
    cookieName: ctx.snap.config.cookie.name,
    websocket: true,
  })
  for (const h of ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions']) {
    const value = req.headers[h]
    if (value !== undefined) headers[h] = value
  }
  const isTls = up.url.protocol === 'https:'
  const options: https.RequestOptions = {
    host: up.url.hostname,
    port: up.url.port === '' ? (isTls ? 443 : 80) : Number(up.url.port),
    path: upPath + v.target.query,
    method: 'GET',
    headers,
    agent: false,
    timeout: route.timeoutMs === 0 ? undefined : route.timeoutMs,
    ...(isTls
      ? { rejectUnauthorized: !route.tlsSkipVerify, servername: up.url.hostname, ...(route.tlsCustomCa === undefined ? {} : { ca: route.tlsCustomCa }) }
      : {}),
  }
  const startedMs = performance.now()
  ctx.upstream = { origin: up.origin, startedMs }
  const upReq = (isTls ? https : http).request(options)
  upReq.on('timeout', () => upReq.destroy(new Error('upstream timeout')))
  upReq.on('error', (err) => {
    ctx.upstreamMs = performance.now() - startedMs
    ctx.outcome = 'error'
    ctx.reason = `upstream error (${(err as NodeJS.ErrnoException).code ?? err.message})`
    finish(502)
    refuse(socket, 502, 'Bad Gateway', 'the service behind this address is unavailable')
  })
  upReq.on('response', (res) => {
    // The upstream declined the upgrade: relay its status, nothing more.
    ctx.upstreamMs = performance.now() - startedMs
    finish(res.statusCode ?? 502)
    refuse(socket, res.statusCode ?? 502, res.statusMessage ?? 'Error', '')
    res.resume()
  })
  upReq.on('upgrade', (res, upSocket, upHead) => {
    ctx.upstreamMs = performance.now() - startedMs
    finish(101)
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
