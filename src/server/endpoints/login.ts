/**
 * `/.gatehouse/login`: OIDC third-party-initiated login. Okta's dashboard
 * calls the app's "initiate login URI" with iss = the org URL (not the custom
 * authorization server's issuer); anything else is refused.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PATHS } from '../../constants.js'
import type { Gatehouse } from '../context.js'
import { refuse } from '../pages/respond.js'
import type { EndpointInput } from './index.js'
import { checkReturnUrl } from './return-url.js'
import { startLogin } from './sign-in.js'

export function initiateLogin(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: EndpointInput): Promise<FastifyReply> | FastifyReply {
  const snap = request.gatehouse.snap
  const origin = `${input.scheme}://${input.host.authority}`
  const q = new URL(request.raw.url ?? '/', origin).searchParams
  const iss = q.get('iss')
  const issuer = snap.config.idp.providerUrl
  if (iss === null || (iss !== issuer && iss !== new URL(issuer).origin)) {
    return refuse(request, reply, 'bad_request', {
      title: 'Sign-in could not be started',
      message: 'This sign-in link names an identity provider gatehouse does not use.',
      hint: "Start from the application's own address, or check the initiate-login URI configured in Okta.",
    })
  }
  const target = q.get('target_link_uri') ?? undefined
  // The sign-in host serves no route: its own fallback is its user page.
  const fallback = new URL(origin + (input.on === 'authenticate' ? PATHS.userPage : '/'))
  const returnTo = checkReturnUrl(target, new URL(origin), snap.knownHosts) ?? fallback
  return startLogin(gh, request, reply, input.host, input.scheme, returnTo)
}
