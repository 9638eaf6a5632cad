/**
 * Refusals, in one place: each answers a browser with a page and an API
 * client with JSON, and never includes upstream bytes or a stack trace.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errorPage, type ErrorPageInput } from './index.js'

/** A browser navigation prefers HTML; API clients (fetch, curl, bearer tokens) get JSON. */
export function wantsHtml(request: FastifyRequest): boolean {
  const h = request.raw.headers
  const auth = h.authorization
  if (typeof auth === 'string' && /^bearer\s/i.test(auth)) return false
  const accept = h.accept
  return typeof accept === 'string' && accept.indexOf('text/html') !== -1
}

export function sendHtml(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
    .header('referrer-policy', 'no-referrer')
    .send(body)
}

export function sendJson(reply: FastifyReply, status: number, body: Record<string, unknown>): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(body))
}

export interface Refusal extends Omit<ErrorPageInput, 'requestId'> {
  /** Short machine-readable error for JSON clients (`not_found`, `bad_request`, …). */
  readonly error: string
}

export function refuse(request: FastifyRequest, reply: FastifyReply, r: Refusal): FastifyReply {
  const requestId = String(request.id)
  if (wantsHtml(request)) return sendHtml(reply, r.status, errorPage({ ...r, requestId }))
  return sendJson(reply, r.status, {
    error: r.error,
    ...(r.code === undefined ? {} : { code: r.code }),
    message: r.message,
    ...(r.hint === undefined ? {} : { hint: r.hint }),
    request_id: requestId,
  })
}

export const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply =>
  refuse(request, reply, { status: 404, error: 'not_found', title: 'Not found', message: 'No route is configured for this address.' })

export const badRequest = (request: FastifyRequest, reply: FastifyReply, message: string): FastifyReply =>
  refuse(request, reply, { status: 400, error: 'bad_request', title: 'Bad request', message })
