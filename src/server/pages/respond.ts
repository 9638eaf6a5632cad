/**
 * Answering from gatehouse itself: a browser gets a page, an API client JSON.
 * Refusals come from the one table in refusals.ts and never include upstream
 * bytes or a stack trace.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { wwwAuthenticate } from '../../authorize/bearer.js'
import type { Headers } from '../../authorize/facts.js'
import { errorPage } from './index.js'
import { REFUSALS, type RefusalCode } from './refusals.js'

/** A browser navigation prefers HTML; API clients (fetch, curl, bearer tokens) get JSON. */
export function prefersHtml(h: Headers): boolean {
  const auth = h.authorization
  if (typeof auth === 'string' && /^bearer\s/i.test(auth)) return false
  const accept = h.accept
  return typeof accept === 'string' && accept.indexOf('text/html') !== -1
}

export function wantsHtml(request: FastifyRequest): boolean {
  return prefersHtml(request.raw.headers)
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
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('content-type', 'application/json; charset=utf-8')
    .header('x-content-type-options', 'nosniff')
    .send(JSON.stringify(body))
}

/** What a refusal may say beyond its table entry. */
export interface RefusalDetail {
  readonly message?: string
  readonly hint?: string
  readonly title?: string
  /** Only for codes whose status depends on the cause (see the table's statusNote). */
  readonly status?: number
  /** A gatehouse error code behind the refusal (`IDP_STATE_INVALID`, …). */
  readonly code?: string
  readonly action?: { readonly href: string; readonly label: string }
}

export function refuse(request: FastifyRequest, reply: FastifyReply, error: RefusalCode, detail: RefusalDetail = {}): FastifyReply {
  const entry = REFUSALS[error]
  const requestId = String(request.id)
  const status = detail.status ?? entry.status
  const message = detail.message ?? entry.message
  const hint = detail.hint ?? ('hint' in entry ? entry.hint : undefined)
  if (wantsHtml(request)) {
    return sendHtml(
      reply,
      status,
      errorPage({
        status,
        title: detail.title ?? entry.title,
        message,
        ...(hint === undefined ? {} : { hint }),
        ...(detail.code === undefined ? {} : { code: detail.code }),
        ...(detail.action === undefined ? {} : { action: detail.action }),
        requestId,
      }),
    )
  }
  return sendJson(reply, status, {
    error,
    ...(detail.code === undefined ? {} : { code: detail.code }),
    message,
    ...(hint === undefined ? {} : { hint }),
    request_id: requestId,
  })
}

export const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply => refuse(request, reply, 'not_found')

export const badRequest = (request: FastifyRequest, reply: FastifyReply, message: string): FastifyReply => refuse(request, reply, 'bad_request', { message })

/**
 * 401 `login_required` for a caller that cannot be sent through a sign-in redirect (an API client,
 * nginx's auth_request, a refused WebSocket's JSON twin). `signInUrl` is where a browser would start.
 */
export function loginRequired(request: FastifyRequest, reply: FastifyReply, signInUrl?: string): FastifyReply {
  reply.header('www-authenticate', 'Bearer realm="gatehouse"')
  return sendJson(reply, REFUSALS.login_required.status, {
    error: 'login_required',
    message: REFUSALS.login_required.message,
    ...(signInUrl === undefined ? {} : { sign_in_url: signInUrl }),
    request_id: String(request.id),
  })
}

/** A bearer token that was refused (RFC 6750): the challenge names the problem; no cookie, no redirect. */
export function bearerRefused(request: FastifyRequest, reply: FastifyReply, status: 401 | 503, description: string): FastifyReply {
  if (status === 401) reply.header('www-authenticate', wwwAuthenticate(description))
  return sendJson(reply, status, { error: 'invalid_token', message: description, request_id: String(request.id) })
}
