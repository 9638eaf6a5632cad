/**
 * Starting a sign-in. The login state (state, nonce, PKCE verifier, return
 * URL) rides in a short-lived sealed cookie per attempt, named after its state
 * so that several tabs can sign in at once. At most MAX_LOGIN_COOKIES exist:
 * the oldest are dropped, so a storm of redirects cannot grow the Cookie
 * header until the browser gets a 431.
 */
import '../request-context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CompiledConfig } from '../../config/types.js'
import { PATHS } from '../../constants.js'
import type { HostPort } from '../../authorize/host.js'
import { expireCookie, readCookies, serializeCookie } from '../../session/cookies.js'
import { loginCookiePrefix } from '../../session/cookie-names.js'
import type { Gatehouse } from '../context.js'
import { idpUnreachable } from '../pages/failures.js'
import type { EndpointInput } from './index.js'
import { checkReturnUrl, returnParam } from './return-url.js'
import { startHandoff } from '../../authorize/authenticate.js'
import { sendToSignInHost } from './authenticate/handoff.js'

export const MAX_LOGIN_COOKIES = 5
const LOGIN_COOKIE_SECONDS = 600

export function cookieOpts(config: CompiledConfig, scheme: 'http' | 'https') {
  return { secure: scheme === 'https', path: '/', ...(config.cookie.domain === undefined ? {} : { domain: config.cookie.domain }) }
}

/** `/.gatehouse/sign_in?rd=…`: sign in and come back to `rd` when it is on a route host, else to this host's root. */
export function signIn(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: EndpointInput): Promise<FastifyReply> | FastifyReply {
  const origin = `${input.scheme}://${input.host.authority}`
  const rd = returnParam(request.raw.url ?? '/')
  const returnTo = checkReturnUrl(rd, new URL(origin), request.gatehouse.snap.knownHosts) ?? new URL(origin + '/')
  return startLogin(gh, request, reply, input.host, input.scheme, returnTo)
}

/**
 * Sign in on a route host and come back to `returnTo`: through the IdP with
 * this host's callback, or, with `authenticate_service_url`, through the
 * sign-in host (which hands the session back with a one-time code).
 */
export function startLogin(
  gh: Gatehouse,
  request: FastifyRequest,
  reply: FastifyReply,
  host: HostPort,
  scheme: 'http' | 'https',
  returnTo: URL,
): Promise<FastifyReply> | FastifyReply {
  const rt = request.gatehouse.snap.authenticate
  // The sign-in host itself goes to the IdP; a route host goes to the sign-in host.
  if (rt !== undefined && host.hostname === rt.service.hostname)
    return startOktaLogin(gh, request, reply, rt.service.scheme, rt.service.origin + PATHS.authenticateCallback, returnTo)
  if (rt !== undefined) return sendToSignInHost(request, reply, scheme, startHandoff(rt, { scheme, host: host.authority, returnTo: returnTo.href }, gh.now()))
  return startOktaLogin(gh, request, reply, scheme, `${scheme}://${host.authority}${PATHS.callback}`, returnTo)
}

/** Login-state and binding cookies to expire so that at most MAX_LOGIN_COOKIES remain after one more is set. */
export function excessLoginCookies(request: FastifyRequest, scheme: 'http' | 'https'): string[] {
  const config = request.gatehouse.snap.config
  const existing = readCookies(request.raw.headers.cookie, loginCookiePrefix(config, scheme), 64)
  // Browsers send older cookies of the same path first: drop from the front.
  const names = [...existing.keys()]
  const excess = names.length - (MAX_LOGIN_COOKIES - 1)
  const out: string[] = []
  for (let i = 0; i < excess; i++) out.push(expireCookie(names[i] as string, { ...cookieOpts(config, scheme), sameSite: 'lax' }))
  return out
}

/** Send the browser to the IdP with a fresh login state; the IdP comes back to `redirectUri` (this host's). */
export async function startOktaLogin(
  gh: Gatehouse,
  request: FastifyRequest,
  reply: FastifyReply,
  scheme: 'http' | 'https',
  redirectUri: string,
  returnTo: URL,
): Promise<FastifyReply> {
  const config = request.gatehouse.snap.config
  const prefix = loginCookiePrefix(config, scheme)
  let start
  try {
    start = await gh.identity.beginLogin(returnTo, redirectUri)
  } catch (err) {
    return idpUnreachable(gh, request, reply, err)
  }
  const setCookies = excessLoginCookies(request, scheme)
  setCookies.push(
    serializeCookie(prefix + gh.identity.loginCookieSuffix(start.state), start.sealed, {
      ...cookieOpts(config, scheme),
      maxAgeSeconds: LOGIN_COOKIE_SECONDS,
      // Lax: the cookie must come back on the IdP's top-level redirect to the callback.
      sameSite: 'lax',
    }),
  )
  return reply.code(302).header('set-cookie', setCookies).header('cache-control', 'no-store').header('location', start.authorizationUrl.href).send()
}
