/**
 * Sessions: the sealed cookie ticket, encrypted records, and the stores they
 * live in (memory for one process, Postgres or Redis for replicas). Nothing here speaks
 * HTTP or OIDC.
 *
 *   const store = createStore(config.storage, { now: Date.now })
 *   const sessions = createSessionManager({ store, cookieSecret, now: Date.now, ttlMs })
 *   const { cookieValue } = await sessions.create(signedIn)
 *   const record = await sessions.load(cookieValue)   // undefined: sign in again
 */
import type { CompiledConfig } from '../config/types.js'
import { createMemoryStore } from './memory-store.js'
import { createPostgresStore } from './postgres-store.js'
import { createRedisStore } from './redis-store.js'
import type { KeyValueStore } from './store.js'

export { createMemoryStore } from './memory-store.js'
export { createRedisStore } from './redis-store.js'
export { createPostgresStore, type PostgresStore } from './postgres-store.js'
export { createSessionManager, type SessionManager, type SessionSummary, type SessionFilter, type SessionsEnded, type Revoked } from './manager.js'
export type { SessionRecord, NewSession } from './record.js'
export type { KeyValueStore, Lock, StoreEvent } from './store.js'
export { SessionError, SESSION_ERROR_CODES, type SessionErrorCode } from './errors.js'
export { decodeTicket, encodeTicket, newTicket, deriveKey } from './ticket.js'
export { createHandoffCodes, CODE_TTL_MS, type HandoffCodes, type HandoffGrant, type Redeemed } from './handoff-codes.js'

export function createStore(storage: CompiledConfig['storage'], deps: { now?: () => number; onError?: (err: Error) => void; prefix?: string }): KeyValueStore {
  if (storage.type === 'redis')
    return createRedisStore({
      url: storage.connectionString,
      ...(deps.prefix === undefined ? {} : { prefix: deps.prefix }),
      ...(deps.onError === undefined ? {} : { onError: deps.onError }),
    })
  if (storage.type === 'postgres')
    return createPostgresStore({
      connection: storage.connection,
      ...(deps.prefix === undefined ? {} : { prefix: deps.prefix }),
      ...(deps.onError === undefined ? {} : { onError: deps.onError }),
    })
  return createMemoryStore(deps.now === undefined ? {} : { now: deps.now })
}
