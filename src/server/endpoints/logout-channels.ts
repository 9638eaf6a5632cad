/**
 * The three ways an IdP tells gatehouse that someone signed out, each ending
 * the matching sessions on every replica (the store carries the news, and
 * open WebSockets close):
 *
 *   GET  /.gatehouse/frontchannel_logout?iss&sid   OpenID Connect Front-Channel Logout 1.0 (Okta's Single Logout):
 *        a tiny no-store page the IdP frames; never a redirect.
 *   POST /.gatehouse/backchannel_logout            OpenID Connect Back-Channel Logout 1.0: form `logout_token`;
 *        200, or 400 {"error":"invalid_request"} ending nothing.
 *   POST /.gatehouse/global-token-revocation       Okta Universal Logout (draft-parecki-oauth-global-token-revocation):
 *        bearer JWT from Okta, JSON subject; 204, or 400/401/404/422 as Okta's guide says.
 *
 * None of them takes a CSRF token or goes through the sign-in redirect logic:
 * the IdP is the caller, not a signed-in browser. Nothing but a verified
 * token (or, for the front channel, the exact issuer and an IdP session id)
 * ends a session here.
 */
import '../request-context.js'
import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { isGatehouseError } from '../../errors.js'
import { PATHS } from '../../constants.js'
import { readRevocationSubject } from '../../identity/index.js'
import type { SessionFilter } from '../../session/index.js'
import type { Gatehouse } from '../context.js'
import type { HostPort } from '../../authorize/host.js'
import { escapeHtml } from '../pages/html.js'

export interface ChannelInput {
  readonly host: HostPort
  readonly scheme: 'http' | 'https'
}

const MAX_BODY_BYTES = 32 * 1024
const MAX_SID_CHARS = 256
/** A logout token is accepted up to 5 minutes after `iat` (plus a minute of clock skew): its jti is remembered longer. */
const JTI_MEMORY_MS = 10 * 60_000

const errText = (err: unknown): { code?: string; message: string } =>
  isGatehouseError(err) ? { code: err.code, message: err.message } : { message: err instanceof Error ? err.message : String(err) }

/** Key for a one-time claim: hashed, so anything a caller sends fits a store key. */
const claimKey = (kind: string, iss: string, jti: string): string => `${kind}:${createHash('sha256').update(`${iss}\n${jti}`).digest('base64url')}`

function note(request: FastifyRequest, reason: string): void {
  request.gatehouse.reason = reason
}

// ——— front channel ———

function frontChannelPage(reply: FastifyReply, status: number, issuerOrigin: string, message: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('content-security-policy', `default-src 'none'; frame-ancestors ${issuerOrigin}`)
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>gatehouse</title></head><body><p>${escapeHtml(message)}</p></body></html>`)
}

export async function frontChannelLogout(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: ChannelInput): Promise<FastifyReply> {
  const issuer = request.gatehouse.snap.config.idp.providerUrl
  const issuerOrigin = new URL(issuer).origin
  const q = new URL(request.raw.url ?? '/', `${input.scheme}://${input.host.authority}`).searchParams
  const iss = q.getAll('iss')
  const sid = q.getAll('sid')
  const refuse = (why: string): FastifyReply => {
    note(request, why)
    gh.metrics.idpLogouts.inc({ channel: 'frontchannel', result: 'invalid' })
    gh.log.warn({ reqId: request.id, channel: 'frontchannel', reason: why }, 'IdP logout refused')
    return frontChannelPage(reply, 400, issuerOrigin, 'This logout request was not accepted.')
  }
  if (iss.length !== 1 || iss[0] !== issuer) return refuse('iss is not the configured issuer')
  const s = sid[0]
  if (sid.length !== 1 || s === undefined || s.length === 0 || s.length > MAX_SID_CHARS) return refuse('no single sid')
  return end(gh, request, 'frontchannel', { idpSid: s }, false).then((r) =>
    r.kind === 'error'
      ? frontChannelPage(reply, 503, issuerOrigin, 'Logout could not be completed right now.')
      : ok(gh, 'frontchannel', frontChannelPage(reply, 200, issuerOrigin, 'Signed out.')),
  )
}

// ——— back channel ———

function backChannelError(reply: FastifyReply, description: string): FastifyReply {
  return reply
    .code(400)
    .header('cache-control', 'no-store')
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify({ error: 'invalid_request', error_description: description }))
}

export async function backChannelLogout(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const refuse = (why: string, err?: unknown): FastifyReply => {
    note(request, why)
    gh.metrics.idpLogouts.inc({ channel: 'backchannel', result: 'invalid' })
    gh.log.warn({ reqId: request.id, channel: 'backchannel', reason: why, ...(err === undefined ? {} : { err: errText(err) }) }, 'IdP logout refused')
    return backChannelError(reply, why)
  }
  const type = request.raw.headers['content-type'] ?? ''
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) return refuse('the body must be a form (application/x-www-form-urlencoded)')
  const body = await readBody(request)
  if (body === undefined) return refuse('the body is too large or unreadable')
  const tokens = new URLSearchParams(body.toString('utf8')).getAll('logout_token')
  if (tokens.length !== 1 || tokens[0] === '') return refuse('no single logout_token')
  let claims
  try {
    claims = await gh.identity.verifyLogoutToken(tokens[0] as string)
  } catch (err) {
    return refuse(isGatehouseError(err) && err.code === 'IDP_LOGOUT_TOKEN_INVALID' ? err.message : 'the logout token could not be verified now', err)
  }
  const issuer = request.gatehouse.snap.config.idp.providerUrl
  try {
    if (!(await gh.sessions.claimOnce(claimKey('lt', issuer, claims.jti), JTI_MEMORY_MS))) return refuse('the logout token was already used (jti)')
  } catch (err) {
    return refuse('the session store is unavailable; nothing was ended', err)
  }
  // A sid names one IdP session: only its gatehouse sessions end. A sub alone ends all of that user's.
  const filter: SessionFilter = claims.sid !== undefined ? { idpSid: claims.sid } : { sub: claims.sub as string }
  const r = await end(gh, request, 'backchannel', filter, false)
  if (r.kind === 'error') return backChannelError(reply, 'the session store is unavailable; nothing was ended')
  return ok(gh, 'backchannel', reply.code(200).header('cache-control', 'no-store').send())
}

// ——— Okta Universal Logout ———

function status(reply: FastifyReply, code: number, error?: string, description?: string): FastifyReply {
  reply.code(code).header('cache-control', 'no-store')
  if (code === 401) reply.header('www-authenticate', `Bearer error="invalid_token"`)
  if (error === undefined) return reply.send()
  return reply
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify({ error, ...(description === undefined ? {} : { error_description: description }) }))
}

export async function globalTokenRevocation(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: ChannelInput): Promise<FastifyReply> {
  const channel = 'global_token_revocation'
  const refuse = (code: number, error: string, why: string, err?: unknown): FastifyReply => {
    note(request, why)
    gh.metrics.idpLogouts.inc({ channel, result: code === 404 ? 'unknown_user' : 'invalid' })
    gh.log.warn({ reqId: request.id, channel, status: code, reason: why, ...(err === undefined ? {} : { err: errText(err) }) }, 'IdP logout refused')
    return status(reply, code, error, why)
  }
  // Authentication first (Okta's guide): no valid JWT, no further answer.
  const auth = request.raw.headers.authorization ?? ''
  const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(auth)
  if (m === null) return refuse(401, 'invalid_token', 'no bearer JWT')
  const endpointUrl = `${input.scheme}://${input.host.authority}${PATHS.globalTokenRevocation}`
  let caller
  try {
    caller = await gh.identity.verifyRevocationCall(m[1] as string, endpointUrl)
  } catch (err) {
    return refuse(
      401,
      'invalid_token',
      isGatehouseError(err) && err.code === 'IDP_REVOCATION_AUTH_INVALID' ? err.message : 'the JWT could not be verified now',
      err,
    )
  }
  const type = request.raw.headers['content-type'] ?? ''
  if (!/^application\/json\s*(;|$)/i.test(type)) return refuse(400, 'invalid_request', 'the body must be JSON (application/json)')
  const body = await readBody(request)
  let parsed: unknown
  try {
    parsed = body === undefined ? undefined : JSON.parse(body.toString('utf8'))
  } catch {
    parsed = undefined
  }
  if (parsed === undefined) return refuse(400, 'invalid_request', 'the body is not JSON, or too large')
  const subject = readRevocationSubject(parsed)
  if ('error' in subject) return refuse(400, 'invalid_request', subject.error)
  const config = request.gatehouse.snap.config
  const ours = [config.idp.providerUrl, new URL(config.idp.providerUrl).origin]
  if (subject.format === 'iss_sub' && !ours.includes(subject.iss)) return refuse(404, 'not_found', 'the subject belongs to another issuer')
  try {
    const ttl = Math.max(60_000, caller.expiresAtS * 1000 - gh.now() + 120_000)
    if (!(await gh.sessions.claimOnce(claimKey('gtr', caller.iss, caller.jti), ttl))) return refuse(401, 'invalid_token', 'the JWT was already used (jti)')
  } catch (err) {
    return refuse(422, 'temporarily_unavailable', 'the session store is unavailable; nothing was ended', err)
  }
  const filter: SessionFilter = subject.format === 'email' ? { user: subject.email } : { sub: subject.sub }
  const r = await end(gh, request, channel, filter, true)
  if (r.kind === 'error') return status(reply, 422, 'temporarily_unavailable', 'the session store is unavailable; nothing was ended')
  if (r.count === 0) return refuse(404, 'not_found', 'no sessions for this user')
  return ok(gh, channel, status(reply, 204))
}

// ——— shared ———

function ok(gh: Gatehouse, channel: string, reply: FastifyReply): FastifyReply {
  gh.metrics.idpLogouts.inc({ channel, result: 'ok' })
  return reply
}

type Ended = { readonly kind: 'ok'; readonly count: number } | { readonly kind: 'error' }

/** End the sessions, revoke their refresh tokens at the IdP when asked, log and count. */
async function end(gh: Gatehouse, request: FastifyRequest, channel: string, filter: SessionFilter, refreshTokens: boolean): Promise<Ended> {
  let revoked
  try {
    revoked = await gh.sessions.revokeWhere(filter, { refreshTokens })
  } catch (err) {
    gh.metrics.idpLogouts.inc({ channel, result: 'error' })
    gh.log.error({ reqId: request.id, channel, err: errText(err) }, 'IdP logout failed: session store unavailable')
    note(request, 'session store unavailable')
    return { kind: 'error' }
  }
  for (const id of revoked.ids) gh.signer.forget(id)
  const results = await Promise.allSettled(revoked.refreshTokens.map((t) => gh.identity.revokeRefreshToken(t)))
  const failed = results.filter((r) => r.status === 'rejected')
  if (failed.length > 0)
    gh.log.warn(
      { reqId: request.id, channel, failed: failed.length, err: errText((failed[0] as PromiseRejectedResult).reason) },
      'refresh token revocation at the IdP failed',
    )
  const by = 'idpSid' in filter ? { idpSid: filter.idpSid.slice(0, 12) } : 'sub' in filter ? { sub: filter.sub } : { user: filter.user }
  gh.log.info(
    { reqId: request.id, channel, ...by, sessions: revoked.ids.length, refreshTokensRevoked: results.length - failed.length },
    'IdP logout: sessions ended',
  )
  note(request, `${channel}: ${revoked.ids.length} session(s) ended`)
  return { kind: 'ok', count: revoked.ids.length }
}

/** The raw body, bounded; undefined when too large or unreadable. */
async function readBody(request: FastifyRequest): Promise<Buffer | undefined> {
  const body = request.body
  if (body === undefined || body === null || typeof (body as NodeJS.ReadableStream).on !== 'function') return Buffer.alloc(0)
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > MAX_BODY_BYTES) return undefined
      chunks.push(chunk)
    }
  } catch {
    return undefined
  }
  return Buffer.concat(chunks)
}
