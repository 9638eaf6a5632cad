/**
 * The WebSocket front end: an upgrade request's facts go to the same
 * authorize core as any request (only routes with `allow_websockets: true`
 * accept one), then a tunnel to the upstream. A refused upgrade is answered
 * by gatehouse before a single byte reaches the upstream. The log line and
 * the metrics are the proxy's, with `upgrade: websocket`. An open tunnel
 * follows its session (live-connections.ts): it is closed with 1008 when the
 * session ends, when it expires, or when a periodic re-check (the core again:
 * refresh when due, then the policy) no longer allows it.
 */
import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { REQUEST_ID_HEADER } from '../../constants.js'
import { authorize } from '../../authorize/decide.js'
import type { Allow, Verdict } from '../../authorize/verdict.js'
import { upstreamPath } from '../../proxy/path.js'
import { setsOwnCookie } from '../../proxy/cookie-header.js'
import type { Gatehouse } from '../context.js'
import { newRequestContext, type RequestContext } from '../request-context.js'
import { nextRequestId, trustedRequestId } from '../telemetry/request-id.js'
import { factsOf, noteVerdict } from './proxy.js'
import { clientCertProblem } from './client-cert.js'
import { followSession } from './follow-session.js'
import { checkTargetOf } from './forward-auth.js'
import { openTunnel } from './websocket-tunnel.js'
import { CLOSE_GOING_AWAY } from './websocket-frames.js'
import { refuseSocket } from '../pages/socket-refusal.js'
import { wwwAuthenticate } from '../../authorize/bearer.js'

/** The upstream declined the upgrade: its status goes back, nothing more. */
function relayStatus(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return
  socket.end(`HTTP/1.1 ${status} ${reason.replace(/[^\t\x20-\x7e]/g, ' ')}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

export function attachWebSockets(gh: Gatehouse, server: http.Server): void {
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    if (checkTargetOf(gh.current().config.forwardAuthHost, req.headers.host, req.url ?? '') !== undefined) return answerAsRequest(server, req, socket)
    const requestId = { value: nextRequestId() }
    handleUpgrade(gh, req, socket, head, requestId).catch((err: unknown) => {
      gh.log.error({ reqId: requestId.value, err: { message: err instanceof Error ? err.message : String(err) } }, 'websocket upgrade failed')
      refuseSocket(socket, 'internal_error', requestId.value)
    })
  })
}

/**
 * A forward-auth check that carries the client's Upgrade header (Caddy's forward_auth copies the
 * WebSocket handshake's headers into its check), at gatehouse's own check paths or at
 * forward_auth_url's host: answered as the ordinary HTTP request it is, by
 * the same app, on this socket, which then closes.
 */
function answerAsRequest(server: http.Server, req: http.IncomingMessage, socket: Duplex): void {
  const res = new http.ServerResponse(req)
  res.shouldKeepAlive = false
  res.assignSocket(socket as Socket)
  res.once('finish', () => {
    res.detachSocket(socket as Socket)
    socket.end()
  })
  server.emit('request', req, res)
}

async function handleUpgrade(gh: Gatehouse, req: http.IncomingMessage, socket: Duplex, head: Buffer, id: { value: string }): Promise<void> {
  const ctx = newRequestContext(gh.current())
  const requestId = trustedRequestId(req.headers[REQUEST_ID_HEADER], req.socket.remoteAddress, ctx.snap.clientAddress.isTrusted) ?? id.value
  id.value = requestId
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
  const certProblem = clientCertProblem(ctx.snap.config.downstreamMtls, req)
  if (certProblem !== undefined) {
    ctx.outcome = 'deny'
    ctx.reason = certProblem
    return finish(refuseSocket(socket, 'invalid_client_certificate', requestId))
  }
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    ctx.outcome = 'error'
    ctx.reason = 'an upgrade to something other than WebSocket'
    return finish(refuseSocket(socket, 'bad_request', requestId, { message: 'Only WebSocket upgrades are supported.' }))
  }
  // RFC 6455 §4.1: the opening handshake is a GET. Any other method is refused here, before the policy
  // judges it: the policy must judge the request the upstream receives, and that is always a GET.
  if (req.method !== 'GET') {
    ctx.outcome = 'error'
    ctx.reason = `a WebSocket upgrade with method ${req.method ?? '?'}`
    return finish(refuseSocket(socket, 'bad_request', requestId, { message: 'A WebSocket upgrade must be a GET request.' }))
  }
  const v = await authorize(gh, ctx.snap, factsOf(gh, req, true))
  noteVerdict(ctx, v)
  if (v.kind !== 'allow') return refuseVerdict(gh, ctx, socket, v, requestId, finish)
  tunnel(gh, ctx, req, socket, head, v, requestId, finish)
}

function refuseVerdict(
  gh: Gatehouse,
  ctx: RequestContext,
  socket: Duplex,
  v: Exclude<Verdict, Allow>,
  requestId: string,
  finish: (status: number) => void,
): void {
  switch (v.kind) {
    case 'bad-request':
      return finish(refuseSocket(socket, 'bad_request', requestId, { message: v.message }))
    case 'not-found':
    case 'jwks':
    case 'endpoint':
      // gatehouse's own endpoints and the JWKS are not WebSockets.
      if (ctx.outcome === undefined) ctx.outcome = 'not-found'
      return finish(refuseSocket(socket, 'not_found', requestId))
    case 'store-down':
      ctx.outcome = 'error'
      gh.log.error({ reqId: requestId, err: { message: v.err instanceof Error ? v.err.message : String(v.err) } }, 'session store unavailable')
      return finish(refuseSocket(socket, 'session_store_unavailable', requestId))
    case 'sign-in':
      return finish(refuseSocket(socket, 'login_required', requestId, { headers: { 'WWW-Authenticate': 'Bearer realm="gatehouse"' } }))
    case 'bearer-refused':
      return finish(
        refuseSocket(socket, 'invalid_token', requestId, {
          status: v.status,
          message: v.description,
          ...(v.status === 401 ? { headers: { 'WWW-Authenticate': wwwAuthenticate(v.description) } } : {}),
        }),
      )
    case 'deny':
      return finish(refuseSocket(socket, 'forbidden', requestId, { message: v.publicReason }))
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
  // A route without `to` answers forward-auth checks only.
  if (rt.upstreams === undefined) {
    ctx.outcome = 'not-found'
    return finish(refuseSocket(socket, 'not_found', requestId))
  }
  const up = rt.upstreams.next()
  const upPath = upstreamPath(route, v.target.path, up.url.pathname)
  if (upPath === undefined) {
    ctx.outcome = 'error'
    ctx.reason = 'rewritten path is not canonical'
    return finish(refuseSocket(socket, 'bad_request', requestId, { message: 'The request path, once rewritten for this route, would leave the rewrite base.' }))
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
    // The method the policy judged (always GET: anything else was refused before the core).
    method: v.target.method,
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
    finish(refuseSocket(socket, 'upstream_unavailable', requestId))
  })
  upReq.on('response', (res) => {
    // The upstream declined the upgrade: relay its status, nothing more.
    ctx.upstreamMs = performance.now() - startedMs
    finish(res.statusCode ?? 502)
    relayStatus(socket, res.statusCode ?? 502, res.statusMessage ?? 'Error')
    res.resume()
  })
  upReq.on('upgrade', (res, upSocket, upHead) => {
    ctx.upstreamMs = performance.now() - startedMs
    finish(101)
    upReq.setTimeout(0)
    upSocket.setTimeout(0)
    let response = `HTTP/1.1 101 Switching Protocols\r\n`
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i] as string
      const value = res.rawHeaders[i + 1] as string
      if (name.toLowerCase() === 'set-cookie' && setsOwnCookie(value, ctx.snap.config.cookie.name)) continue
      response += `${name}: ${value}\r\n`
    }
    socket.write(response + '\r\n')
    const session = v.session
    let untrack = (): void => undefined
    const tunnel = openTunnel(socket, upSocket, { clientHead: head, upstreamHead: upHead }, () => untrack())
    const close = (reason: string, shuttingDown?: boolean): void => {
      if (shuttingDown === true) return tunnel.close(reason, CLOSE_GOING_AWAY)
      gh.log.info({ route: route.id, user: session?.email ?? session?.sub, reason }, 'websocket closed by gatehouse')
      tunnel.close(reason)
    }
    // A public route's tunnel belongs to nobody: it lives until either side closes it (or gatehouse stops).
    untrack = session === undefined ? gh.live.add({ sessionId: undefined, close }) : followSession(gh, req, { ...v, session }, true, close)
  })
  upReq.end()
}
