/**
 * `/.gatehouse/sign_out`: GET shows a confirmation form (CSRF token bound to
 * the session), POST ends the local session and sends the browser to Okta's
 * end-session endpoint (single logout), which comes back to signed_out.
 */
import '../request-context.js'
import { randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PATHS } from '../../constants.js'
import { expireCookie } from '../../session/cookies.js'
import { sessionCookieName } from '../../session/cookie-names.js'
import type { Gatehouse } from '../context.js'
import { storeUnavailable } from '../pages/failures.js'
import { signOutPage } from '../pages/index.js'
import { refuse, sendHtml } from '../pages/respond.js'
import { currentSession } from './current-session.js'
import type { EndpointInput } from './index.js'

const MAX_FORM_BYTES = 4096

export async function signOutConfirm(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: EndpointInput): Promise<FastifyReply> {
  const found = await currentSession(gh, request, reply, input.scheme)
  if (found === 'answered') return reply
  if (found === undefined) return reply.code(302).header('location', `${input.scheme}://${input.host.authority}${PATHS.signedOut}`).send()
  return sendHtml(
    reply,
    200,
    signOutPage({ csrfToken: gh.csrf.tokenFor(found.id), action: PATHS.signOut, who: found.email ?? found.sub, requestId: String(request.id) }),
  )
}

export async function signOut(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: EndpointInput): Promise<FastifyReply> {
  const origin = `${input.scheme}://${input.host.authority}`
  const form = await readForm(request)
  const found = await currentSession(gh, request, reply, input.scheme)
  if (found === 'answered') return reply
  const config = request.gatehouse.snap.config
  const expired = expireCookie(sessionCookieName(config, input.scheme), {
    secure: input.scheme === 'https',
    sameSite: config.cookie.sameSite,
    ...(config.cookie.domain === undefined ? {} : { domain: config.cookie.domain }),
  })
  if (found === undefined)
    return reply
      .code(302)
      .header('set-cookie', expired)
      .header('location', origin + PATHS.signedOut)
      .send()
  // With a sign-in host, the IdP knows one sign-out redirect URI: the sign-in host's (which ends its cookie too).
  const signedOut = (request.gatehouse.snap.authenticate?.service.origin ?? origin) + PATHS.signedOut
  if (form === undefined || !gh.csrf.check(found.id, form.get('csrf') ?? undefined)) {
    return refuse(request, reply, 'csrf', { action: { href: origin + PATHS.signOut, label: 'Sign out' } })
  }
  try {
    await gh.sessions.revoke(found)
  } catch (err) {
    return storeUnavailable(gh, request, reply, err)
  }
  gh.signer.forget(found.id)
  gh.log.info({ reqId: request.id, user: found.email ?? found.sub, sid: found.id.slice(0, 8) }, 'signed out')
  // Single logout: Okta ends its own session too, then sends the browser back to signed_out.
  const endSession = gh.identity.endSessionUrl(found.idToken, signedOut, randomBytes(16).toString('base64url'))
  return reply
    .code(302)
    .header('set-cookie', expired)
    .header('cache-control', 'no-store')
    .header('location', (endSession ?? new URL(signedOut)).href)
    .send()
}

/** A small urlencoded form, read from the raw stream (bodies are otherwise never parsed). */
async function readForm(request: FastifyRequest): Promise<URLSearchParams | undefined> {
  const type = request.raw.headers['content-type'] ?? ''
  if (!type.startsWith('application/x-www-form-urlencoded')) return undefined
  const body = request.body
  if (body === undefined || body === null || typeof (body as NodeJS.ReadableStream).on !== 'function') return undefined
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_FORM_BYTES) return undefined
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}
