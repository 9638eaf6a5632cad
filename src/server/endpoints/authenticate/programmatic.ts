/**
 * Programmatic sign-in for command-line tools, in Pomerium's shape
 * (`/.pomerium/api/v1/login?pomerium_redirect_uri=http://localhost:PORT/…`):
 *
 *   GET https://app.corp.example/.gatehouse/api/v1/login?redirect_uri=http://localhost:8000/cb
 *   → 200 text/plain: the sign-in host's URL to open in a browser
 *   … sign-in (no IdP round trip when the browser already has a session there) …
 *   → http://localhost:8000/cb?gatehouse_jwt=<token>   (pomerium_jwt with pomerium_redirect_uri)
 *   then: Authorization: Bearer Gatehouse-<token>      (also `Pomerium <token>`, `Bearer Pomerium-<token>`)
 *
 * Only loopback targets are accepted (the token must not leave the machine
 * that asked). The token is a session handle for that one route host: it
 * ends when the session ends (sign-out anywhere, revocation).
 */
import '../../request-context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { startHandoff, type SignInRequest } from '../../../authorize/authenticate.js'
import { signProgrammaticToken } from '../../../authorize/programmatic-token.js'
import type { Gatehouse } from '../../context.js'
import { refuse } from '../../pages/respond.js'
import type { EndpointInput } from '../index.js'

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

/** http(s) to this machine only, no credentials or fragment. */
export function isLoopbackTarget(raw: string): boolean {
  if (raw.length > 2048) return false
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    return false
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK_HOSTS.has(u.hostname) && u.username === '' && u.password === '' && u.hash === ''
}

/** `/.gatehouse/api/v1/login` on a route host. */
export function apiLogin(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, input: EndpointInput): FastifyReply {
  const rt = request.gatehouse.snap.authenticate
  const origin = `${input.scheme}://${input.host.authority}`
  const q = new URL(request.raw.url ?? '/', origin).searchParams
  const ours = q.getAll('redirect_uri')
  const theirs = q.getAll('pomerium_redirect_uri')
  const given = [...ours, ...theirs]
  if (rt === undefined) return refuse(request, reply, 'not_found', { message: 'Programmatic sign-in needs authenticate_service_url on this gatehouse.' })
  if (given.length !== 1 || !isLoopbackTarget(given[0] as string))
    return refuse(request, reply, 'bad_request', {
      message: 'redirect_uri must be one http://localhost:PORT/… (or 127.0.0.1, [::1]) URL: the token goes only to this machine.',
    })
  const start = startHandoff(
    rt,
    {
      scheme: input.scheme,
      host: input.host.authority,
      returnTo: origin + '/',
      loopback: given[0] as string,
      ...(theirs.length === 1 ? { pomerium: true } : {}),
    },
    gh.now(),
  )
  request.gatehouse.outcome = 'special'
  return reply
    .code(200)
    .header('content-type', 'text/plain; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(start.url + '\n')
}

/** Where the sign-in host sends the browser in a programmatic sign-in: the loopback URL with the token for the route host. */
export async function loopbackLanding(gh: Gatehouse, request: FastifyRequest, cookieValue: string, session: { id: string }, req: SignInRequest): Promise<URL> {
  const rt = request.gatehouse.snap.authenticate
  const fresh = gh.handoffs.reseal(cookieValue)
  if (rt === undefined || fresh === undefined || req.loopback === undefined) throw new Error('programmatic sign-in without a sign-in host')
  const target = new URL(req.loopback)
  target.searchParams.set(req.pomerium === true ? 'pomerium_jwt' : 'gatehouse_jwt', signProgrammaticToken(rt.tokenKey, req.host, fresh))
  gh.log.info({ reqId: request.id, sid: session.id.slice(0, 8), host: req.host }, 'programmatic sign-in token issued')
  await gh.handoffs.noteHost(session.id, `${req.host} (command line)`, 3_600_000)
  return target
}
