/** The session of a request to one of gatehouse's endpoints (which may need one even on a public route host). */
import '../request-context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ActiveSession } from '../../authorize/ports.js'
import { readCookie } from '../../session/cookies.js'
import { sessionCookieName } from '../../session/cookie-names.js'
import type { Gatehouse } from '../context.js'
import { storeUnavailable } from '../pages/failures.js'

/** The signed-in session, undefined for none, or 'answered' when the store was down and the reply is sent. */
export async function currentSession(
  gh: Gatehouse,
  request: FastifyRequest,
  reply: FastifyReply,
  scheme: 'http' | 'https',
): Promise<ActiveSession | undefined | 'answered'> {
  const name = sessionCookieName(request.gatehouse.snap.config, scheme)
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
