/**
 * The endpoints under /.gatehouse/ on every route host. The upstream never
 * sees these paths.
 */
import './request-note.js'
import { randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PATHS } from '../constants.js'
import type { Gatehouse } from './context.js'
import { expireCookie, readCookie } from './cookies.js'
import { storeUnavailable } from './failures.js'
import type { HostPort } from './host.js'
import { signedOutPage, signOutPage, userPage } from './pages/index.js'
import type { ActiveSession } from './ports.js'
import { notFound, refuse, sendHtml, sendJson, wantsHtml } from './respond.js'
import { checkReturnUrl } from './return-url.js'
import { finishLogin, sessionCookieName, startLogin } from './sign-in.js'
import { backChannelLogout, frontChannelLogout, globalTokenRevocation } from './logout-channels.js'

export interface SpecialInput {
  readonly host: HostPort
  readonly scheme: 'http' | 'https'
  readonly path: string
}

const MAX_FORM_BYTES = 4096

export async function handleSpecial(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: SpecialInput): Promise<FastifyReply> {
  const method = request.raw.method ?? 'GET'
  const isGet = method === 'GET' || method === 'HEAD'
  const origin = `${input.scheme}://${input.host.authority}`
  switch (input.path) {
    case PATHS.callback:
      if (!isGet) return methodNotAllowed(request, reply)
      return finishLogin(gh, request, reply, input.host, input.scheme)
    case PATHS.signIn: {
      if (!isGet) return methodNotAllowed(request, reply)
      const rd = new URL(request.raw.url ?? '/', origin).searchParams.get('rd') ?? undefined
      const returnTo = checkReturnUrl(rd, new URL(origin), gh.current().knownHosts) ?? new URL(origin + '/')
      return startLogin(gh, request, reply, input.host, input.scheme, returnTo)
    }
    case PATHS.initiateLogin: {
      // Okta's dashboard calls the app's "initiate login URI" with iss = the org URL
      // (not the custom authorization server's issuer); anything else is refused.
      if (!isGet) return methodNotAllowed(request, reply)
      const q = new URL(request.raw.url ?? '/', origin).searchParams
      const iss = q.get('iss')
      const issuer = gh.current().config.idp.providerUrl
      if (iss === null || (iss !== issuer && iss !== new URL(issuer).origin)) {
        return refuse(request, reply, {
          status: 400,
          error: 'bad_request',
          title: 'Sign-in could not be started',
          message: 'This sign-in link names an identity provider gatehouse does not use.',
          hint: "Start from the application's own address, or check the initiate-login URI configured in Okta.",
        })
      }
      const target = q.get('target_link_uri') ?? undefined
      const returnTo = checkReturnUrl(target, new URL(origin), gh.current().knownHosts) ?? new URL(origin + '/')
      return startLogin(gh, request, reply, input.host, input.scheme, returnTo)
    }
    case PATHS.signOut:
      if (isGet) return signOutConfirm(gh, request, reply, input)
      if (method === 'POST') return signOut(gh, request, reply, input)
      return methodNotAllowed(request, reply)
    case PATHS.frontchannelLogout:
      if (!isGet) return methodNotAllowed(request, reply)
      return frontChannelLogout(gh, request, reply, input)
    case PATHS.backchannelLogout:
      if (method !== 'POST') return methodNotAllowed(request, reply)
      return backChannelLogout(gh, request, reply)
    case PATHS.globalTokenRevocation:
      if (method !== 'POST') return methodNotAllowed(request, reply)
      return globalTokenRevocation(gh, request, reply, input)
    case PATHS.signedOut:
      return sendHtml(reply, 200, signedOutPage({ requestId: String(request.id) }))
    case PATHS.userPage:
    case PATHS.userJson: {
      const found = await currentSession(gh, request, reply, input)
      if (found === 'answered') return reply
      const session = found
      const asJson = input.path === PATHS.userJson
      if (session === undefined) {
        if (asJson || !wantsHtml(request)) return sendJson(reply, 401, { error: 'login_required', message: 'Sign in first.', request_id: String(request.id) })
        return startLogin(gh, request, reply, input.host, input.scheme, new URL(origin + PATHS.userPage))
      }
      if (asJson) {
        return sendJson(reply, 200, {
          sub: session.sub,
          email: session.email ?? null,
          name: session.name ?? null,
          groups: session.groups,
          signed_in_at: new Date(session.createdAtMs).toISOString(),
          expires_at: new Date(session.expiresAtMs).toISOString(),
        })
      }
      return sendHtml(
        reply,
        200,
        userPage({
          email: session.email,
          name: session.name,
          sub: session.sub,
          groups: session.groups,
          signedInAt: new Date(session.createdAtMs),
          expiresAt: new Date(session.expiresAtMs),
          csrfToken: gh.csrf.tokenFor(session.id),
          signOutAction: PATHS.signOut,
          requestId: String(request.id),
        }),
      )
    }
    default:
      return notFound(request, reply)
  }
}

async function currentSession(
  gh: Gatehouse,
  request: FastifyRequest,
  reply: FastifyReply,
  input: SpecialInput,
): Promise<ActiveSession | undefined | 'answered'> {
  const name = sessionCookieName(gh.current().config, input.scheme)
  try {
    const loaded = await gh.sessions.load(readCookie(request.raw.headers.cookie, name))
    if (loaded.kind !== 'session') return undefined
    request.gatehouse.user = loaded.session.email ?? loaded.session.sub
    return loaded.session
  } catch (err) {
    storeUnavailable(gh, request, reply, err)
    return 'answered'
  }
}

async function signOutConfirm(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: SpecialInput): Promise<FastifyReply> {
  const found = await currentSession(gh, request, reply, input)
  if (found === 'answered') return reply
  if (found === undefined) return reply.code(302).header('location', `${input.scheme}://${input.host.authority}${PATHS.signedOut}`).send()
  return sendHtml(
    reply,
    200,
    signOutPage({ csrfToken: gh.csrf.tokenFor(found.id), action: PATHS.signOut, who: found.email ?? found.sub, requestId: String(request.id) }),
  )
}

async function signOut(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: SpecialInput): Promise<FastifyReply> {
  const origin = `${input.scheme}://${input.host.authority}`
  const form = await readForm(request)
  const found = await currentSession(gh, request, reply, input)
  if (found === 'answered') return reply
  const config = gh.current().config
  const expired = expireCookie(sessionCookieName(config, input.scheme), {
    secure: input.scheme === 'https',
    sameSite: config.cookie.sameSite,
    ...(config.cookie.domain === undefined ? {} : { domain: config.cookie.domain }),
  })
  const signedOut = origin + PATHS.signedOut
  if (found === undefined) return reply.code(302).header('set-cookie', expired).header('location', signedOut).send()
  if (form === undefined || !gh.csrf.check(found.id, form.get('csrf') ?? undefined)) {
    return refuse(request, reply, {
      status: 403,
      error: 'csrf',
      title: 'Sign-out was not confirmed',
      message: 'The sign-out form had expired or did not come from this site.',
      action: { href: origin + PATHS.signOut, label: 'Sign out' },
    })
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

function methodNotAllowed(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return refuse(request, reply, {
    status: 405,
    error: 'method_not_allowed',
    title: 'Method not allowed',
    message: 'This gatehouse endpoint does not accept that method.',
  })
}
