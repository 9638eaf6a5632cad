/**
 * The route host's half of signing in through the sign-in host
 * (`authenticate_service_url`): send the browser there with a signed request
 * and a binding cookie, and redeem the one-time code it comes back with at
 * `/.gatehouse/callback`. A code is good once, for this host only, within
 * 60 s, and only in the browser whose binding cookie matches; anything else is
 * the 400 "start again" page and no session. The session cookie set here is
 * host-only (`__Host-` on HTTPS); no session handle ever travels in a URL.
 */
import '../../request-context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { bindingCookieName, bindingDigest, type HandoffStart } from '../../../authorize/authenticate.js'
import { expireCookie, readCookie, serializeCookie } from '../../../session/cookies.js'
import { loginCookiePrefix, sessionCookieName } from '../../../session/cookie-names.js'
import type { Gatehouse } from '../../context.js'
import { storeUnavailable } from '../../pages/failures.js'
import { callbackFailed, tooManyCallbacks } from '../callback.js'
import type { EndpointInput } from '../index.js'
import { checkReturnUrl } from '../return-url.js'
import { cookieOpts, excessLoginCookies } from '../sign-in.js'

/** The binding cookie lives as long as a sign-in at the IdP may take. */
const BINDING_COOKIE_SECONDS = 600

/** 302 to the sign-in host, setting the binding cookie on this route host in the same reply. */
export function sendToSignInHost(request: FastifyRequest, reply: FastifyReply, scheme: 'http' | 'https', start: HandoffStart): FastifyReply {
  const config = request.gatehouse.snap.config
  const cookies = excessLoginCookies(request, scheme)
  cookies.push(
    serializeCookie(bindingCookieName(loginCookiePrefix(config, scheme), start.bindingDigest), start.binding, {
      ...cookieOpts(config, scheme),
      maxAgeSeconds: BINDING_COOKIE_SECONDS,
      // Lax: it must come back on the sign-in host's top-level redirect to /.gatehouse/callback.
      sameSite: 'lax',
    }),
  )
  return reply.code(302).header('set-cookie', cookies).header('cache-control', 'no-store').header('location', start.url).send()
}

/** `/.gatehouse/callback?code=…` on a route host, with a sign-in host: the code becomes this host's own session cookie. */
export async function redeemHandoff(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: EndpointInput): Promise<FastifyReply> {
  const snap = request.gatehouse.snap
  const config = snap.config
  const origin = `${input.scheme}://${input.host.authority}`
  const peer = snap.clientAddress.resolve(request.raw.socket.remoteAddress, request.raw.headers, gh.listenerProto, input.host.authority).clientIp
  if (!gh.callbackLimiter.take(peer)) return tooManyCallbacks(gh, request, reply)
  const fail = (why: string): FastifyReply => callbackFailed(gh, request, reply, origin, { code: 'IDP_STATE_INVALID', message: why })
  const codes = new URL(request.raw.url ?? '/', origin).searchParams.getAll('code')
  if (codes.length !== 1) return fail(codes.length === 0 ? 'the callback has no code' : 'the callback has more than one code')
  let redeemed
  try {
    redeemed = await gh.handoffs.redeem(codes[0])
  } catch (err) {
    return storeUnavailable(gh, request, reply, err)
  }
  if (!redeemed.ok) return fail(redeemed.why === 'used' ? 'this sign-in code was already used' : 'this sign-in code is unknown or expired')
  const { grant } = redeemed
  if (grant.host !== input.host.authority) return fail(`this sign-in code was issued for another host (${grant.host})`)
  const bindingName = bindingCookieName(loginCookiePrefix(config, input.scheme), grant.binding)
  const nonce = readCookie(request.raw.headers.cookie, bindingName)
  if (nonce === undefined || bindingDigest(nonce) !== grant.binding) return fail('this sign-in code belongs to a sign-in started in another browser')
  let session
  try {
    const loaded = await gh.sessions.load(redeemed.cookieValue)
    if (loaded.kind !== 'session') return fail('the session this code was for has ended')
    session = loaded.session
    await gh.handoffs.noteHost(session.id, input.host.authority, session.expiresAtMs - gh.now())
  } catch (err) {
    return storeUnavailable(gh, request, reply, err)
  }
  const back = checkReturnUrl(grant.returnTo, new URL(origin), snap.knownHosts)
  const returnTo = back !== undefined && back.host === input.host.authority ? back : new URL(origin + '/')
  request.gatehouse.user = session.email ?? session.sub
  gh.log.info({ reqId: request.id, user: request.gatehouse.user, sid: session.id.slice(0, 8), host: input.host.authority }, 'session handed to route host')
  const cookies = [
    serializeCookie(sessionCookieName(config, input.scheme), redeemed.cookieValue, {
      ...cookieOpts(config, input.scheme),
      maxAgeSeconds: Math.max(0, Math.floor((session.expiresAtMs - gh.now()) / 1000)),
      sameSite: config.cookie.sameSite,
    }),
    expireCookie(bindingName, { ...cookieOpts(config, input.scheme), sameSite: 'lax' }),
  ]
  return reply.code(302).header('set-cookie', cookies).header('cache-control', 'no-store').header('location', returnTo.href).send()
}
