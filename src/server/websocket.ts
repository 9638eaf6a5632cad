/**
 * WebSocket upgrades: the same resolve → identify → decide as any request,
 * then a tunnel to the upstream. A refused upgrade is answered by gatehouse
 * before a single byte reaches the upstream. Only routes with
 * `allow_websockets: true` accept upgrades. An open tunnel follows its
 * session (live-connections.ts): it is closed with 1008 when the session
 * ends, when it expires, or when a periodic re-check (refresh, then the
 * policy again) no longer allows it.
 */
import http from 'node:http'
import https from 'node:https'
import { clientCertProblem } from './client-cert.js'
import type { Duplex } from 'node:stream'
import type { Gatehouse } from './context.js'
import { decide, identify, resolveRequest, sessionCookie, type RouteResolution } from './resolve.js'
import type { ActiveSession } from './ports.js'
import type { LiveOptions, Recheck } from './live-connections.js'
import { openTunnel } from './websocket-tunnel.js'
import { CLOSE_GOING_AWAY } from './websocket-frames.js'
import { upstreamPath } from './forward.js'
import { nextRequestId } from './request-id.js'
import { setsOwnCookie } from '../proxy/cookie-header.js'

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
  const certProblem = clientCertProblem(snap.config.downstreamMtls, req)
  if (certProblem !== undefined) {
    log('deny', 495, { reason: certProblem })
    return refuse(socket, 495, 'SSL Certificate Error', 'a valid client certificate is required')
  }
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
  const cookie = sessionCookie(snap, req, r)
  const who = await identify(gh, r, cookie)
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
    return refuse(socket, 403, 'Forbidden', decision.publicReason)
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
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i] as string
      const value = res.rawHeaders[i + 1] as string
      if (name.toLowerCase() === 'set-cookie' && setsOwnCookie(value, snap.config.cookie.name)) continue
      response += `${name}: ${value}\r\n`
    }
    socket.write(response + '\r\n')
    let untrack = (): void => undefined
    const tunnel = openTunnel(socket, upSocket, { clientHead: head, upstreamHead: upHead }, () => untrack())
    const sessionId = session?.id
    untrack = gh.live.add(
      {
        sessionId,
        close: (reason, shuttingDown) => {
          if (shuttingDown === true) return tunnel.close(reason, CLOSE_GOING_AWAY)
          gh.log.info({ route: r.route.id, user: session?.email ?? session?.sub, reason }, 'websocket closed by gatehouse')
          tunnel.close(reason)
        },
      },
      session === undefined ? {} : followSession(gh, req, r, session, cookie),
    )
    // A session that ended while the upgrade was under way: its news went out before this tunnel was listed.
    if (sessionId !== undefined)
      gh.sessions.exists(sessionId).then(
        (alive) => (alive ? undefined : tunnel.close('the session ended')),
        () => undefined,
      )
  })
  upReq.end()
}

/** How often an open tunnel re-checks its session (refresh when due, then the policy) when nothing else tells it. */
const RECHECK_EVERY_MS = 5 * 60_000

/**
 * A cookie session's tunnel closes at the session's absolute end, and is
 * re-checked periodically: the session is loaded again (refreshed when due,
 * which ends it if the IdP refuses) and the route's policy asked again with
 * the current config. A bearer-token tunnel passes the token's expiry as
 * `expiresAtMs` instead.
 */
function followSession(gh: Gatehouse, req: http.IncomingMessage, r: RouteResolution, session: ActiveSession, cookie: string | undefined): LiveOptions {
  const every = (): number => Math.max(30_000, Math.min(gh.current().config.sessionRefreshIntervalMs ?? RECHECK_EVERY_MS, RECHECK_EVERY_MS))
  return {
    expiresAtMs: session.expiresAtMs,
    recheckAtMs: gh.now() + every(),
    async recheck(): Promise<Recheck> {
      const loaded = await gh.sessions.load(cookie)
      if (loaded.kind !== 'session' || loaded.session.id !== session.id) return { keep: false, reason: 'the session ended' }
      const again = resolveRequest(gh, gh.current(), req)
      if (again.kind !== 'route' || again.route.id !== r.route.id) return { keep: false, reason: 'the route changed' }
      const verdict = decide(gh, req, again, loaded.session)
      if (verdict.outcome !== 'allow') return { keep: false, reason: `no longer allowed: ${verdict.reason}` }
      return { keep: true, nextAtMs: gh.now() + every() }
    },
  }
}
