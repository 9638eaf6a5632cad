/** Answers for the two dependencies that can fail under a request: the session store and the IdP. */
import './request-note.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { isGatehouseError } from '../errors.js'
import type { Gatehouse } from './context.js'
import { refuse } from './respond.js'

export function storeUnavailable(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  if (!isGatehouseError(err)) throw err
  gh.log.error({ err: { code: err.code, message: err.message } }, 'session store unavailable')
  request.gatehouse.outcome = 'error'
  return refuse(request, reply, {
    status: 503,
    error: 'session_store_unavailable',
    code: err.code,
    title: 'Temporarily unavailable',
    message: 'gatehouse cannot reach its session store right now, so it cannot check who you are. Nothing was let through.',
    hint: 'Try again in a moment. If this persists, the operators should check the Redis connection.',
  })
}

export function idpUnreachable(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  if (!isGatehouseError(err)) throw err
  gh.log.error({ err: { code: err.code, message: err.message } }, 'identity provider unreachable')
  request.gatehouse.outcome = 'error'
  return refuse(request, reply, {
    status: 502,
    error: 'idp_unreachable',
    code: err.code,
    title: 'Sign-in is unavailable',
    message: 'gatehouse could not reach the identity provider (Okta) to sign you in.',
    hint: 'Try again in a minute. If it keeps happening, the operators should check that idp_provider_url is reachable from gatehouse.',
  })
}

