/** `/.gatehouse/` (the user page) and `/.gatehouse/user` (the same as JSON): who gatehouse thinks you are. */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PATHS } from '../../constants.js'
import type { Gatehouse } from '../context.js'
import { userPage as renderUserPage } from '../pages/index.js'
import { loginRequired, sendHtml, sendJson, wantsHtml } from '../pages/respond.js'
import { currentSession } from './current-session.js'
import type { EndpointInput } from './index.js'
import { startLogin } from './sign-in.js'
import { storeUnavailable } from '../pages/failures.js'

export async function userPage(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: EndpointInput): Promise<FastifyReply> {
  const found = await currentSession(gh, request, reply, input.scheme)
  if (found === 'answered') return reply
  const session = found
  const asJson = input.path === PATHS.userJson
  if (session === undefined) {
    if (asJson || !wantsHtml(request)) {
      return loginRequired(request, reply)
    }
    return startLogin(gh, request, reply, input.host, input.scheme, new URL(`${input.scheme}://${input.host.authority}${PATHS.userPage}`))
  }
  let hosts: string[] | undefined
  if (input.on === 'authenticate') {
    try {
      hosts = (await gh.handoffs.hostsOf(session.id)).sort()
    } catch (err) {
      return storeUnavailable(gh, request, reply, err)
    }
  }
  if (asJson) {
    return sendJson(reply, 200, {
      ...(hosts === undefined ? {} : { hosts }),
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
    renderUserPage({
      email: session.email,
      name: session.name,
      sub: session.sub,
      groups: session.groups,
      signedInAt: new Date(session.createdAtMs),
      expiresAt: new Date(session.expiresAtMs),
      csrfToken: gh.csrf.tokenFor(session.id),
      signOutAction: PATHS.signOut,
      requestId: String(request.id),
      ...(session.notes === undefined ? {} : { notes: session.notes }),
      ...(session.unknown === undefined ? {} : { unknown: session.unknown }),
      ...(hosts === undefined ? {} : { hosts }),
    }),
  )
}
