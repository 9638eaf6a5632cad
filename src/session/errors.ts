import { GatehouseError } from '../errors.js'

export const SESSION_ERROR_CODES = ['SESSION_STORE_UNAVAILABLE', 'SESSION_LOCK_TIMEOUT', 'SESSION_STORE_CONFIG'] as const
export type SessionErrorCode = (typeof SESSION_ERROR_CODES)[number]

export class SessionError extends GatehouseError<SessionErrorCode> {}

export function storeUnavailable(op: string, cause: unknown): SessionError {
  return new SessionError('SESSION_STORE_UNAVAILABLE', `the session store did not answer (${op}); requests that need a session are refused until it is back`, {
    cause,
  })
}
