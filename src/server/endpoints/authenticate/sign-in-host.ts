/**
 * The sign-in host of `authenticate_service_url` (Pomerium's authenticate
 * service, in the same process). It answers only its own endpoints:
 *   /oauth2/callback          the IdP's one redirect URI
 *   /.gatehouse/sign_in       a route host's signed request → a one-time code back to it
 *                             (through the IdP only when this browser has no session here)
 *   /.gatehouse/sign_out      the confirmation form, and POST: end the session everywhere
 *   /.gatehouse/signed_out    where the IdP's end-session comes back to
 *   /.gatehouse/ and /user    who you are, and on which route hosts
 *   /.gatehouse/login         the Okta dashboard tile
 * (/healthz, /readyz and the forward-auth checks answer on any Host before this.)
 */
import '../../request-context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PATHS } from '../../../constants.js'
import { openSignInRequest, type AuthenticateRuntime, type SignInRequest } from '../../../authorize/authenticate.js'
import { LOGIN_STATE_TTL_MS } from '../../../identity/login-state.js'
import { expireCookie, readCookie } from '../../../session/cookies.js'
import { sessionCookieName } from '../../../session/cookie-names.js'
import type { Gatehouse } from '../../context.js'
import { signedOutPage } from '../../pages/index.js'
import { notFound, refuse, sendHtml } from '../../pages/respond.js'
import { storeUnavailable } from '../../pages/failures.js'
import { finishLogin, type Landing } from '../callback.js'
import { currentSession } from '../current-session.js'
import type { EndpointInput } from '../index.js'
import { checkReturnUrl } from '../return-url.js'
import { cookieOpts, startOktaLogin } from '../sign-in.js'
import { signOut, signOutConfirm } from '../sign-out.js'
import { userPage } from '../user-page.js'
import { initiateLogin } from '../login.js'
import { isLoopbackTarget, loopbackLanding } from './programmatic.js'

export function handleSignInHost(
  gh: Gatehouse,
  request: FastifyRequest,
  reply: FastifyReply,
  input: EndpointInput,
  rt: AuthenticateRuntime,
): Promise<FastifyReply> | FastifyReply {
  const method = request.raw.method ?? 'GET'
  const isGet = method === 'GET' || method === 'HEAD'
  const notAllowed = (): FastifyReply => refuse(request, reply, 'method_not_allowed')
  request.gatehouse.route = 'authenticate'
  switch (input.path) {
    case PATHS.authenticateCallback:
      return isGet ? finishLogin(gh, request, reply, input.host, rt.service.scheme, landing(gh, request, rt)) : notAllowed()
    case PATHS.signIn:
      return isGet ? signInHere(gh, request, reply, rt) : notAllowed()
    case PATHS.initiateLogin:
      return isGet ? initiateLogin(gh, request, reply, input) : notAllowed()
    case PATHS.signOut:
      if (isGet) return signOutConfirm(gh, request, reply, input)
      if (method === 'POST') return signOut(gh, request, reply, input)
      return notAllowed()
    case PATHS.signedOut: {
      // The IdP's end-session comes back here: this host's cookie goes too (its session is already gone).
      const config = request.gatehouse.snap.config
      reply.header(
        'set-cookie',
        expireCookie(sessionCookieName(config, rt.service.scheme), { ...cookieOpts(config, rt.service.scheme), sameSite: config.cookie.sameSite }),
      )
      return sendHtml(reply, 200, signedOutPage({ requestId: String(request.id) }))
    }
    case PATHS.userPage:
    case PATHS.userJson:
      return userPage(gh, request, reply, input)
    default:
      request.gatehouse.route = undefined
      return notFound(request, reply)
  }
}

/** Send the browser through the IdP, coming back to `returnTo` (on this host, or a route host). */
export function signInAtIdp(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, rt: AuthenticateRuntime, returnTo: URL): Promise<FastifyReply> {
  return startOktaLogin(gh, request, reply, rt.service.scheme, rt.service.origin + PATHS.authenticateCallback, returnTo)
}

/** A route host's signed request, checked: its return URL on a configured route host of that very host. */
function checkRequest(request: FastifyRequest, req: SignInRequest | undefined): { req: SignInRequest; returnTo: URL } | undefined {
  if (req === undefined) return undefined
  const snap = request.gatehouse.snap
  const origin = `${req.scheme}://${req.host}`
  let base: URL
  try {
    base = new URL(origin)
  } catch {
    return undefined
  }
  const returnTo = checkReturnUrl(req.returnTo, base, snap.knownHosts)
  if (returnTo === undefined || returnTo.host !== base.host || returnTo.protocol !== base.protocol) return undefined
  if (req.loopback !== undefined && !isLoopbackTarget(req.loopback)) return undefined
  return { req, returnTo }
}

function badSignInRequest(request: FastifyRequest, reply: FastifyReply, why: string): FastifyReply {
  request.gatehouse.outcome = 'error'
  request.gatehouse.reason = why
  return refuse(request, reply, 'bad_request', {
    title: 'Sign-in could not be started',
    message: 'This sign-in link is invalid, expired, or names an address gatehouse does not serve.',
    hint: 'Start again from the page you wanted to open.',
  })
}

/** `/.gatehouse/sign_in?request=…`: hand this browser's session to the route host that asked, signing in first when needed. */
async function signInHere(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, rt: AuthenticateRuntime): Promise<FastifyReply> {
  const url = new URL(request.raw.url ?? '/', rt.service.origin)
  const raw = url.searchParams.getAll('request')
  const found = await currentSession(gh, request, reply, rt.service.scheme)
  if (found === 'answered') return reply
  if (raw.length === 0) {
    // Signing in to the sign-in host itself: its page says who you are.
    const home = new URL(rt.service.origin + PATHS.userPage)
    return found === undefined ? signInAtIdp(gh, request, reply, rt, home) : reply.code(302).header('location', home.href).send()
  }
  const checked = raw.length === 1 ? checkRequest(request, openSignInRequest(rt.requestKey, raw[0], gh.now())) : undefined
  if (checked === undefined) return badSignInRequest(request, reply, 'sign-in request refused (signature, expiry or return URL)')
  if (found === undefined) {
    // No session here yet: through the IdP, and back to this very request (the login state carries it, sealed).
    return signInAtIdp(gh, request, reply, rt, url)
  }
  const cookieValue = readCookie(request.raw.headers.cookie, sessionCookieName(request.gatehouse.snap.config, rt.service.scheme)) as string
  try {
    const target = await handOver(gh, request, cookieValue, found, checked.req, checked.returnTo)
    return reply.code(302).header('cache-control', 'no-store').header('location', target.href).send()
  } catch (err) {
    return storeUnavailable(gh, request, reply, err)
  }
}

/** The route host's callback with a fresh one-time code, or (programmatic sign-in) the loopback URL with a token. */
async function handOver(
  gh: Gatehouse,
  request: FastifyRequest,
  cookieValue: string,
  session: { id: string; email?: string | undefined; sub: string; expiresAtMs: number },
  req: SignInRequest,
  returnTo: URL,
): Promise<URL> {
  request.gatehouse.user = session.email ?? session.sub
  if (req.loopback !== undefined) return loopbackLanding(gh, request, cookieValue, session, req)
  const code = await gh.handoffs.mint(cookieValue, { host: req.host, binding: req.binding, returnTo: returnTo.href })
  if (code === undefined) throw new Error('the sign-in host session cookie could not be read back')
  const target = new URL(`${req.scheme}://${req.host}${PATHS.callback}`)
  target.searchParams.set('code', code)
  return target
}

/** After the IdP: back to a route host's request (a handoff), to this host's page, or to a route host's URL. */
function landing(gh: Gatehouse, request: FastifyRequest, rt: AuthenticateRuntime): Landing {
  return async (created, returnTo) => {
    const home = new URL(rt.service.origin + PATHS.userPage)
    if (returnTo.origin === rt.service.origin && returnTo.pathname === PATHS.signIn) {
      // The request was checked when the sign-in started; it travelled sealed in the login state since.
      const checked = checkRequest(request, openSignInRequest(rt.requestKey, returnTo.searchParams.get('request'), gh.now(), LOGIN_STATE_TTL_MS))
      return checked === undefined ? home : handOver(gh, request, created.cookieValue, created.session, checked.req, checked.returnTo)
    }
    if (returnTo.origin === rt.service.origin) return returnTo
    return checkReturnUrl(returnTo.href, home, request.gatehouse.snap.knownHosts) ?? home
  }
}
