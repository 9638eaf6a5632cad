/** Answers for the two dependencies that can fail under a request: the session store and the IdP. */
import '../request-context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { isGatehouseError } from '../../errors.js'
import type { Gatehouse } from '../context.js'
import { refuse, type Refusal } from './respond.js'

/** Log the dependency's failure and refuse the request; anything that is not a gatehouse error is a bug and goes on to the error handler. */
function dependencyDown(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, err: unknown, what: string, refusal: Refusal): FastifyReply {
  if (!isGatehouseError(err)) throw err
  gh.log.error({ err: { code: err.code, message: err.message } }, what)
  request.gatehouse.outcome = 'error'
  return refuse(request, reply, { ...refusal, code: err.code })
}

export function storeUnavailable(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  return dependencyDown(gh, request, reply, err, 'session store unavailable', {
    status: 503,
    error: 'session_store_unavailable',
    title: 'Temporarily unavailable',
    message: 'gatehouse cannot reach its session store right now, so it cannot check who you are. Nothing was let through.',
    hint: 'Try again in a moment. If this persists, the operators should check the Redis connection.',
  })
}

export function idpUnreachable(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  return dependencyDown(gh, request, reply, err, 'identity provider unreachable', {
    status: 502,
    error: 'idp_unreachable',
    title: 'Sign-in is unavailable',
    message: 'gatehouse could not reach the identity provider (Okta) to sign you in.',
    hint: 'Try again in a minute. If it keeps happening, the operators should check that idp_provider_url is reachable from gatehouse.',
  })
}
