/**
 * Builds the fastify app from a Gatehouse: health endpoints first (any Host),
 * then one catch-all handler that runs the pipeline. Bodies are never parsed:
 * they stream to the upstream untouched.
 */
import fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import http from 'node:http'
import https from 'node:https'
import { PATHS, REQUEST_ID_HEADER } from '../constants.js'
import type { DownstreamMtls } from '../config/downstream-mtls.js'
import { clientCertProblem, clientCertTlsOptions } from './frontends/client-cert.js'
import type { Gatehouse } from './context.js'
import { handleRequest } from './frontends/proxy.js'
import { checkTargetOf, handleForwardAuth } from './frontends/forward-auth.js'
import { newRequestContext, type RequestContext } from './request-context.js'
import { refuse } from './pages/respond.js'
import { nextRequestId, trustedRequestId } from './telemetry/request-id.js'
import type { Duplex } from 'node:stream'
import type { RefusalCode } from './pages/refusals.js'
import { refuseSocket, type SocketRefusalDetail } from './pages/socket-refusal.js'

/** Answer a request fastify never routes (CONNECT, an unreadable head) from the refusal table, and log it. */
function answerRaw(
  gh: Gatehouse,
  method: string | undefined,
  host: string | undefined,
  code: RefusalCode,
  socket: Duplex,
  detail: SocketRefusalDetail = {},
  reason = `method ${method ?? ''} is not forwarded`,
): void {
  const startedAt = performance.now()
  const reqId = nextRequestId()
  const status = refuseSocket(socket, code, reqId, detail)
  gh.accessLog({
    reqId,
    method,
    host,
    path: '',
    status,
    route: undefined,
    user: undefined,
    outcome: code === 'method_not_allowed' ? 'deny' : 'error',
    reason,
    upstreamMs: undefined,
    ms: performance.now() - startedAt,
  })
}

export interface AppOptions {
  /** For HTTPS listeners. */
  readonly https?: { readonly cert: string; readonly key: string; readonly clientCerts?: DownstreamMtls }
  /** Extra readiness checks (IdP discovery, session store). */
  readonly isReady: () => Promise<{ ready: boolean; checks: Record<string, boolean>; session_store_version?: string }>
  /** A client must send its whole request head within this time (slow-loris). */
  readonly headersTimeoutMs?: number
}

/**
 * Every method node's HTTP parser reads, so that each one goes through the pipeline and the refusal table
 * (WebDAV, PURGE and other extension methods are proxied like any other). CONNECT never reaches a route:
 * node hands it to the server's 'connect' event, answered below.
 */
const METHODS = http.METHODS.filter((m) => m !== 'CONNECT')

/** TRACE would echo back the request as the upstream received it: gatehouse's assertion and identity headers included. */
const REFUSED_METHODS = new Set(['TRACE', 'TRACK'])

function pathOf(url: string | undefined): string {
  if (url === undefined) return ''
  const q = url.indexOf('?')
  return (q === -1 ? url : url.slice(0, q)).slice(0, 512)
}

export async function buildApp(gh: Gatehouse, opts: AppOptions): Promise<FastifyInstance> {
  const base: FastifyServerOptions = {
    loggerInstance: gh.log,
    logController: new LogController({ disableRequestLogging: true }),
    // No pino child per request (it serialises the bindings every time): gatehouse's
    // own lines carry reqId explicitly, and fastify logs through request.log rarely.
    childLoggerFactory: (logger) => logger,
    // A client-sent request id is kept only from a trusted proxy (decided in the handler, under the
    // request's snapshot); until then, and otherwise, one is made.
    genReqId: () => nextRequestId(),
    requestIdHeader: false,
    trustProxy: false,
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    connectionTimeout: 0,
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 8192 },
    serverFactory: (handler) => {
      const tls = opts.https
      const headersTimeout = opts.headersTimeoutMs ?? 20_000
      // Node checks header timeouts on an interval (30 s by default): keep it short so a slow client is cut off on time.
      const base = { connectionsCheckingInterval: Math.min(1000, headersTimeout), headersTimeout, requestTimeout: 0 }
      const server =
        tls === undefined
          ? http.createServer(base, handler)
          : (https.createServer({ ...base, cert: tls.cert, key: tls.key, ...clientCertTlsOptions(tls.clientCerts) }, handler) as unknown as http.Server)
      // Slow-loris: a client must finish sending its headers within this time.
      // CONNECT asks for a tunnel to anywhere: refused, from the refusal table, logged.
      server.on('connect', (req: http.IncomingMessage, socket: Duplex) =>
        answerRaw(gh, req.method, req.headers.host, 'method_not_allowed', socket, { message: 'gatehouse does not open CONNECT tunnels.' }),
      )
      return server
    },
    // A request the HTTP parser could not read (an unknown method, a malformed head, headers too large):
    // answered from the refusal table and logged, instead of the framework's own text.
    clientErrorHandler: (err: Error & { code?: string }, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy()
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        // Slow-loris: the request head did not arrive within the header timeout.
        const message = 'The request headers did not arrive in time.'
        return answerRaw(gh, undefined, undefined, 'request_timeout', socket, { message }, 'request head too slow')
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
      answerRaw(
        gh,
        undefined,
        undefined,
        'bad_request',
        socket,
        { status, message: 'The request could not be read as HTTP.' },
        `unreadable request (${err.code ?? 'parse error'})`,
      )
    },
  }
  const app = fastify(base)

  // Declared once so every request has the same shape; filled in by the handler.
  // Hooks are callback-style: an async hook costs a promise and a tick per request.
  app.decorateRequest('gatehouse', null as never)
  app.addHook('onResponse', (request, reply, done) => {
    // A request the framework refused before the pipeline ran (a body it could not frame, a QUERY without
    // a Content-Type) is logged too, as an error.
    const n = (request.gatehouse as RequestContext | null) ?? { ...newRequestContext(gh.current()), outcome: 'error' as const }
    const route = n.route ?? '-'
    gh.metrics.countRequest(route, n.outcome ?? 'special', reply.statusCode)
    if (n.outcome === 'deny') gh.metrics.denials.inc({ route, criterion: n.criterion ?? '' })
    if (n.upstreamMs !== undefined) gh.metrics.observeUpstream(route, n.upstreamMs / 1000)
    gh.accessLog({
      reqId: request.id,
      method: request.raw.method,
      host: request.raw.headers.host,
      path: pathOf(request.raw.url),
      status: reply.statusCode,
      route: n.route,
      user: n.user,
      outcome: n.outcome,
      reason: n.reason,
      upstreamMs: n.upstreamMs,
      ms: performance.now() - n.startedAt,
      frontend: n.frontend,
    })
    done()
  })

  // Bodies stay streams: the upstream gets exactly what the client sent.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload))

  app.setErrorHandler((err, request, reply) => {
    const status = typeof (err as { statusCode?: number }).statusCode === 'number' ? (err as { statusCode: number }).statusCode : 500
    if (status >= 500) gh.log.error({ reqId: request.id, err }, 'request failed')
    const note = request.gatehouse as RequestContext | null
    if (note !== null) note.outcome = 'error'
    return status >= 400 && status < 500 ? refuse(request, reply, 'bad_request', { status }) : refuse(request, reply, 'internal_error')
  })

  // WebDAV and other extension methods are proxied like any other.
  for (const m of METHODS) if (!app.supportedMethods.includes(m)) app.addHttpMethod(m, { hasBody: true })
  // Not async: a request answered from memory runs start to finish without a promise.
  // A handler that returns a promise resolves it to the reply.
  const pipeline = (request: FastifyRequest, reply: FastifyReply): FastifyReply | Promise<FastifyReply> | undefined => {
    const ctx = (request.gatehouse = newRequestContext(gh.current()))
    const sentId = trustedRequestId(request.raw.headers[REQUEST_ID_HEADER], request.raw.socket.remoteAddress, ctx.snap.clientAddress.isTrusted)
    if (sentId !== undefined) request.id = sentId
    if (REFUSED_METHODS.has(request.raw.method ?? '')) {
      ctx.outcome = 'deny'
      ctx.reason = `method ${request.raw.method ?? ''} is not forwarded`
      return refuse(request, reply, 'method_not_allowed', { message: 'gatehouse does not forward TRACE requests.' })
    }
    const url = request.raw.url ?? ''
    if (url === PATHS.healthz || url.startsWith(PATHS.healthz + '?')) {
      request.gatehouse.outcome = 'special'
      reply.code(200).header('cache-control', 'no-store').send({ status: 'ok' })
      return undefined
    }
    if (url === PATHS.readyz || url.startsWith(PATHS.readyz + '?')) {
      return opts.isReady().then((r) =>
        reply
          .code(r.ready ? 200 : 503)
          .header('cache-control', 'no-store')
          .send({
            status: r.ready ? 'ready' : 'not ready',
            checks: r.checks,
            ...(r.session_store_version === undefined ? {} : { session_store_version: r.session_store_version }),
          }),
      )
    }
    // The current config decides (a reload that adds client certificates fails closed until a restart asks for them).
    const certProblem = clientCertProblem(ctx.snap.config.downstreamMtls, request.raw)
    if (certProblem !== undefined) {
      ctx.outcome = 'deny'
      ctx.reason = certProblem
      return refuse(request, reply, 'invalid_client_certificate')
    }
    // Forward-auth checks answer on any Host, like /healthz: the ingress calls gatehouse's own address.
    const check = checkTargetOf(ctx.snap.config.forwardAuthHost, request.raw.headers.host, url)
    if (check !== undefined) return handleForwardAuth(gh, request, reply, check)
    return handleRequest(gh, request, reply)
  }
  app.route({ method: METHODS, url: '*', handler: pipeline })
  // What the catch-all route does not match (a request target that is not a path: `*`, an absolute URL)
  // goes through the same pipeline, which refuses it: never the framework's 404, which echoed the URL.
  app.setNotFoundHandler(pipeline)
  return app
}
