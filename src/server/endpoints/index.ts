/**
 * gatehouse's own endpoints under /.gatehouse/ on every route host (the
 * upstream never sees these paths): sign-in, the OIDC callback, third-party
 * login, sign-out, the IdP's logout channels, the user page. One file per
 * endpoint; this one routes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PATHS } from '../../constants.js'
import type { Gatehouse } from '../context.js'
import { notFound, refuse, sendHtml } from '../pages/respond.js'
import { signedOutPage } from '../pages/index.js'
import { finishLogin } from './callback.js'
import { initiateLogin } from './login.js'
import { backChannelLogout, frontChannelLogout, globalTokenRevocation } from './logout-channels.js'
import { signIn } from './sign-in.js'
import { signOut, signOutConfirm } from './sign-out.js'
import { userPage } from './user-page.js'
import { handleSignInHost } from './authenticate/sign-in-host.js'
import { redeemHandoff } from './authenticate/handoff.js'
import { apiLogin } from './authenticate/programmatic.js'

/** Where an endpoint request arrived: the route host, its scheme, the canonical path. */
export interface EndpointInput {
  readonly host: import('../../authorize/host.js').HostPort
  readonly scheme: 'http' | 'https'
  readonly path: string
  /** The sign-in host of authenticate_service_url rather than a route host. */
  readonly on?: 'authenticate'
}

export function handleEndpoint(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: EndpointInput): Promise<FastifyReply> | FastifyReply {
  const method = request.raw.method ?? 'GET'
  const isGet = method === 'GET' || method === 'HEAD'
  const rt = request.gatehouse.snap.authenticate
  if (input.on === 'authenticate' && rt !== undefined) return handleSignInHost(gh, request, reply, input, rt)
  switch (input.path) {
    case PATHS.callback:
      // With a sign-in host, a route host's callback only redeems one-time codes.
      if (!isGet) return methodNotAllowed(request, reply)
      return rt === undefined ? finishLogin(gh, request, reply, input.host, input.scheme) : redeemHandoff(gh, request, reply, input)
    case PATHS.apiLogin:
      return isGet ? apiLogin(gh, request, reply, input) : methodNotAllowed(request, reply)
    case PATHS.signIn:
      return isGet ? signIn(gh, request, reply, input) : methodNotAllowed(request, reply)
    case PATHS.initiateLogin:
      return isGet ? initiateLogin(gh, request, reply, input) : methodNotAllowed(request, reply)
    case PATHS.signOut:
      if (isGet) return signOutConfirm(gh, request, reply, input)
      if (method === 'POST') return signOut(gh, request, reply, input)
      return methodNotAllowed(request, reply)
    case PATHS.frontchannelLogout:
      return isGet ? frontChannelLogout(gh, request, reply, input) : methodNotAllowed(request, reply)
    case PATHS.backchannelLogout:
      return method === 'POST' ? backChannelLogout(gh, request, reply) : methodNotAllowed(request, reply)
    case PATHS.globalTokenRevocation:
      return method === 'POST' ? globalTokenRevocation(gh, request, reply, input) : methodNotAllowed(request, reply)
    case PATHS.signedOut:
      return sendHtml(reply, 200, signedOutPage({ requestId: String(request.id) }))
    case PATHS.userPage:
    case PATHS.userJson:
      return userPage(gh, request, reply, input)
    default:
      return notFound(request, reply)
  }
}

function methodNotAllowed(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return refuse(request, reply, 'method_not_allowed')
}
