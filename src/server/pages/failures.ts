/** Answers for the two dependencies that can fail under a request: the session store and the IdP. */
import '../request-context.js'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { isGatehouseError } from '../../errors.js'
import type { Gatehouse } from '../context.js'
import { refuse } from './respond.js'
import type { RefusalCode } from './refusals.js'

/** Log the dependency's failure and refuse the request; anything that is not a gatehouse error is a bug and goes on to the error handler. */
function dependencyDown(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, err: unknown, what: string, error: RefusalCode): FastifyReply {
  if (!isGatehouseError(err)) throw err
  gh.log.error({ err: { code: err.code, message: err.message } }, what)
  request.gatehouse.outcome = 'error'
  return refuse(request, reply, error, { code: err.code })
}

export function storeUnavailable(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  return dependencyDown(gh, request, reply, err, 'session store unavailable', 'session_store_unavailable')
}

export function idpUnreachable(gh: Gatehouse, request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  return dependencyDown(gh, request, reply, err, 'identity provider unreachable', 'idp_unreachable')
}
