/**
 * Builds the fastify app from a Gatehouse: health endpoints first (any Host),
 * then one catch-all handler that runs the pipeline. Bodies are never parsed:
 * they stream to the upstream untouched.
 */
import fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import http from 'node:http'
import https from 'node:https'
import { PATHS, REQUEST_ID_HEADER } from '../constants.js'
import type { DownstreamMtls } from '../config/downstream-mtls.js'
import { clientCertProblem, clientCertTlsOptions } from './frontends/client-cert.js'
import type { Gatehouse } from './context.js'
import { handleRequest } from './frontends/proxy.js'
import { newRequestContext, type RequestContext } from './request-context.js'
import { refuse } from './pages/respond.js'
import { nextRequestId, trustedRequestId } from './telemetry/request-id.js'

export interface AppOptions {
  /** For HTTPS listeners. */
  readonly https?: { readonly cert: string; readonly key: string; readonly clientCerts?: DownstreamMtls }
  /** Extra readiness checks (IdP discovery, session store). */
  readonly isReady: () => Promise<{ ready: boolean; checks: Record<string, boolean> }>
  /** A client must send its whole request head within this time (slow-loris). */
  readonly headersTimeoutMs?: number
}

const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'PROPFIND',
  'PROPPATCH',
  'MKCOL',
  'COPY',
  'MOVE',
  'LOCK',
  'UNLOCK',
  'SEARCH',
  'REPORT',
]

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
      return server
    },
  }
  const app = fastify(base)

  // Declared once so every request has the same shape; filled in by the handler.
  // Hooks are callback-style: an async hook costs a promise and a tick per request.
  app.decorateRequest('gatehouse', null as never)
  app.addHook('onResponse', (request, reply, done) => {
    const n = request.gatehouse as RequestContext | null
    if (n === null) return done()
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
  app.route({
    method: METHODS,
    url: '*',
    // Not async: a request answered from memory runs start to finish without a promise.
    // A handler that returns a promise resolves it to the reply.
    handler: (request, reply) => {
      const ctx = (request.gatehouse = newRequestContext(gh.current()))
      const sentId = trustedRequestId(request.raw.headers[REQUEST_ID_HEADER], request.raw.socket.remoteAddress, ctx.snap.clientAddress.isTrusted)
      if (sentId !== undefined) request.id = sentId
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
            .send({ status: r.ready ? 'ready' : 'not ready', checks: r.checks }),
        )
      }
      // The current config decides (a reload that adds client certificates fails closed until a restart asks for them).
      const certProblem = clientCertProblem(ctx.snap.config.downstreamMtls, request.raw)
      if (certProblem !== undefined) {
        ctx.outcome = 'deny'
        ctx.reason = certProblem
        return refuse(request, reply, 'invalid_client_certificate')
      }
      return handleRequest(gh, request, reply)
    },
  })
  return app
}
