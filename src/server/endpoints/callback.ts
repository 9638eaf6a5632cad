/** `/.gatehouse/callback`: finish the code flow, start a fresh session, go back where the user was going. */
import '../request-context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { HostPort } from '../../authorize/host.js'
import { isGatehouseError } from '../../errors.js'
import { expireCookie, readCookie, serializeCookie } from '../../session/cookies.js'
import { loginCookiePrefix, sessionCookieName } from '../../session/cookie-names.js'
import type { Gatehouse } from '../context.js'
import { storeUnavailable } from '../pages/failures.js'
import { refuse } from '../pages/respond.js'
import { checkReturnUrl } from './return-url.js'
import { cookieOpts } from './sign-in.js'
import { createHash } from 'node:crypto'
import { LOGIN_STATE_TTL_MS } from '../../identity/login-state.js'

/** Callbacks per client address per minute: each may cost a token-endpoint call at the IdP, whose rate limit is the org's. */
export const CALLBACKS_PER_MINUTE = 60
export function tooManyCallbacks(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  request.gatehouse.outcome = 'error'
  request.gatehouse.reason = 'sign-in callbacks rate-limited'
  gh.log.warn({ reqId: request.id }, 'sign-in callbacks from one address over the limit')
  reply.header('retry-after', '60')
  return refuse(request, reply, 'too_many_requests')
}
import { missingGroupsAdvice } from '../../identity/index.js'
import type { ActiveSession, SignedIn } from '../../authorize/ports.js'

/**
 * Where the browser goes once its new session exists. The default: the
 * return URL when it is on a route host, else this host's root. The sign-in
 * host passes its own (a handoff to the route host that asked).
 */
export type Landing = (created: { cookieValue: string; session: ActiveSession }, returnTo: URL) => Promise<URL>

export async function finishLogin(
  gh: Gatehouse,
  request: FastifyRequest,
  reply: FastifyReply,
  host: HostPort,
  scheme: 'http' | 'https',
  land?: Landing,
): Promise<FastifyReply> {
  const snap = request.gatehouse.snap
  const config = snap.config
  const origin = `${scheme}://${host.authority}`
  const url = new URL(request.raw.url ?? '/', origin)
  const prefix = loginCookiePrefix(config, scheme)
  const states = url.searchParams.getAll('state')
  const loginCookieName = states.length === 1 && (states[0] as string).length <= 512 ? prefix + gh.identity.loginCookieSuffix(states[0] as string) : undefined
  const sealed = loginCookieName === undefined ? undefined : readCookie(request.raw.headers.cookie, loginCookieName)

  const peer = snap.clientAddress.resolve(request.raw.socket.remoteAddress, request.raw.headers, gh.listenerProto, host.authority).clientIp
  if (!gh.callbackLimiter.take(peer)) return tooManyCallbacks(gh, request, reply)
  const consume = (state: string): Promise<boolean> =>
    gh.sessions.claimOnce('login-state:' + createHash('sha256').update(state).digest('base64url'), LOGIN_STATE_TTL_MS)
  let result
  try {
    result = await gh.identity.completeLogin(url, sealed, consume)
  } catch (err) {
    if (!isGatehouseError(err)) throw err
    if (err.code.startsWith('SESSION_')) return storeUnavailable(gh, request, reply, err)
    return callbackFailed(gh, request, reply, origin, err)
  }
  const signedIn = withNotes(gh, result.signedIn)
  let session
  let returnTo: URL
  try {
    // A sign-in replaces the browser's previous session (if any) rather than leaving it alive beside the new one.
    const previous = await gh.sessions.load(readCookie(request.raw.headers.cookie, sessionCookieName(config, scheme)))
    if (previous.kind === 'session') await gh.sessions.revoke(previous.session)
    session = await gh.sessions.create(signedIn)
    returnTo =
      land === undefined
        ? (checkReturnUrl(result.returnTo.href, new URL(origin), snap.knownHosts) ?? new URL(origin + '/'))
        : await land(session, result.returnTo)
  } catch (err) {
    return storeUnavailable(gh, request, reply, err)
  }
  const cookies = [
    serializeCookie(sessionCookieName(config, scheme), session.cookieValue, {
      ...cookieOpts(config, scheme),
      maxAgeSeconds: Math.floor(config.cookie.expireMs / 1000),
      sameSite: config.cookie.sameSite,
    }),
  ]
  if (loginCookieName !== undefined) cookies.push(expireCookie(loginCookieName, { ...cookieOpts(config, scheme), sameSite: 'lax' }))
  request.gatehouse.user = session.session.email ?? session.session.sub
  gh.log.info({ reqId: request.id, user: request.gatehouse.user, sid: session.session.id.slice(0, 8) }, 'signed in')
  if (signedIn.refreshToken === undefined) {
    gh.log.warn(
      { reqId: request.id, user: request.gatehouse.user, scopes: gh.identity.scopes() },
      'Okta returned no refresh token: this session ends when its ID token expires and the browser signs in again (request offline_access in idp_scopes and enable the Refresh Token grant on the Okta app to re-check the user with Okta instead)',
    )
  }
  return reply.code(302).header('set-cookie', cookies).header('cache-control', 'no-store').header('location', returnTo.href).send()
}

/** Users warned about a missing groups claim, and when: at most once per user per hour. */
const groupsWarned = new Map<string, number>()
const GROUPS_WARNING_EVERY_MS = 3_600_000

/**
 * A sign-in that brought no groups claim while some route decides on groups:
 * every groups rule would deny this person and nothing would say why. Log what
 * to change in Okta (rate-limited per user) and keep it for the user page.
 */
function withNotes(gh: Gatehouse, signedIn: SignedIn): SignedIn {
  const config = gh.current().config
  // With a directory, the groups come from Okta's API: a missing claim is no reason to warn.
  if (signedIn.groupsSource !== 'none' || gh.directory !== undefined || !config.routes.some((r) => r.policy.readsFacts.has('groups'))) return signedIn
  const advice = missingGroupsAdvice(config.idp.providerUrl, gh.identity.scopes(), config.idp.groupsClaim)
  const now = gh.now()
  const last = groupsWarned.get(signedIn.sub)
  if (last === undefined || now - last >= GROUPS_WARNING_EVERY_MS) {
    if (groupsWarned.size >= 10_000) groupsWarned.clear()
    groupsWarned.set(signedIn.sub, now)
    gh.log.warn(
      { user: signedIn.email ?? signedIn.sub, groupsClaim: config.idp.groupsClaim },
      `no groups claim from Okta, so groups rules deny this user: ${advice}`,
    )
  }
  return { ...signedIn, notes: [`Okta sent no groups for you, so pages that need a group will refuse you. ${advice}`] }
}

interface CallbackAdvice {
  readonly status: number
  readonly title: string
  readonly message: string
  readonly hint?: string
}

function adviceFor(code: string, message: string, retryAt: number | undefined): CallbackAdvice {
  switch (code) {
    case 'IDP_STATE_INVALID':
      return {
        status: 400,
        title: 'Sign-in could not be completed',
        message: 'This sign-in attempt is unknown, expired, or was already used.',
        hint: 'Start again from the page you wanted to open. If it keeps happening, make sure cookies are enabled for this site.',
      }
    case 'IDP_CALLBACK_ERROR':
      return { status: 403, title: 'Okta did not sign you in', message }
    case 'IDP_RATE_LIMITED':
      return {
        status: 503,
        title: 'Okta is busy',
        message: `Okta is rate limiting sign-ins to this application${retryAt === undefined ? '' : ` until ${new Date(retryAt).toISOString()}`}.`,
        hint: 'Try again after that time. Operators: see Reports → Rate Limits in the Okta admin console.',
      }
    case 'IDP_CLIENT_AUTH_FAILED':
      return {
        status: 502,
        title: 'Sign-in is misconfigured',
        message: "Okta rejected gatehouse's own credentials, so no one can sign in.",
        hint: 'Operators: check idp_client_id, idp_client_secret and idp_client_auth_method against the Okta app (a rotated client secret, say); the log has the details.',
      }
    case 'IDP_UNREACHABLE':
    case 'IDP_DISCOVERY_FAILED':
      return {
        status: 502,
        title: 'Sign-in is unavailable',
        message: 'gatehouse could not reach the identity provider to finish signing you in.',
        hint: 'Try again in a minute.',
      }
    default:
      return {
        status: 401,
        title: 'Sign-in failed',
        message: "The identity provider's answer could not be verified, so you were not signed in.",
        hint: 'Start again. If it keeps happening, the operators should check the gatehouse log for this request id.',
      }
  }
}

export function callbackFailed(
  gh: Gatehouse,
  request: FastifyRequest,
  reply: FastifyReply,
  origin: string,
  err: { code: string; message: string; retryAtMs?: number | undefined },
): FastifyReply {
  gh.log.warn({ reqId: request.id, err: { code: err.code, message: err.message } }, 'sign-in callback refused')
  request.gatehouse.outcome = 'error'
  request.gatehouse.reason = err.code
  return refuse(request, reply, 'sign_in_failed', {
    ...adviceFor(err.code, err.message, err.retryAtMs),
    code: err.code,
    action: { href: `${origin}/`, label: 'Start again' },
  })
}
