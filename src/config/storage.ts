/**
 * `databroker_storage_type` and its connection string → the session store's
 * config. Pomerium's values: `memory`, `postgres` (its only shared store
 * today), `file` (a directory on one host); gatehouse adds `redis`.
 */
import type { Node } from 'yaml'
import { parsePostgresDsn } from './postgres-dsn.js'
import type { Reader } from './reader.js'
import type { CompiledConfig } from './types.js'

const TYPE = 'databroker_storage_type'
const CONN = 'databroker_storage_connection_string'

export function compileStorage(
  r: Reader,
  values: ReadonlyMap<string, Node>,
  root: Node | null,
  str: (k: string) => string | undefined,
  secret: (k: string) => string | undefined,
  readFile: (path: string) => string,
): CompiledConfig['storage'] {
  const raw = str(TYPE)?.toLowerCase() ?? 'memory'
  const typeNode = values.get(TYPE)
  const connNode = values.get(CONN) ?? values.get(`${CONN}_file`)
  const connection = secret(CONN)
  const given = values.has(CONN) || values.has(`${CONN}_file`)

  switch (raw) {
    case 'memory':
      return { type: 'memory' }
    case 'file':
      // Pomerium's file store keeps sessions on one host's disk: never shared by
      // replicas. Memory differs only in that sessions end at restart, which
      // fails closed (users sign in again), so it is a safe stand-in.
      r.warn(
        typeNode,
        TYPE,
        'CONFIG_UNSUPPORTED_KEY',
        'databroker_storage_type "file" is not supported: sessions are kept in memory instead, so they end when gatehouse restarts',
        'for sessions that survive restarts or are shared by replicas, use databroker_storage_type: postgres (or redis)',
      )
      return { type: 'memory' }
    case 'redis':
    case 'postgres': {
      const example = raw === 'redis' ? 'redis://host:6379' : 'postgresql://user:password@host:5432/dbname'
      if (connection === undefined) {
        if (!given) r.problem(typeNode ?? root, TYPE, 'CONFIG_MISSING_KEY', `databroker_storage_type ${raw} needs ${CONN} (${example})`)
        return { type: 'memory' }
      }
      if (raw === 'redis') {
        if (!/^rediss?:\/\//.test(connection)) r.problem(connNode, CONN, 'CONFIG_BAD_URL', `${CONN} must start with redis:// or rediss:// for the redis store`)
        return { type: 'redis', connectionString: connection }
      }
      const parsed = parsePostgresDsn(connection, readFile)
      if (!parsed.ok) {
        r.problem(connNode, CONN, 'CONFIG_BAD_URL', parsed.problem, `for example ${example}?sslmode=verify-full`)
        return { type: 'memory' }
      }
      return { type: 'postgres', connection: parsed.connection }
    }
    default:
      r.problem(typeNode, TYPE, 'CONFIG_BAD_VALUE', `${TYPE} must be one of memory, postgres, redis, file; found "${raw}"`)
      return { type: 'memory' }
  }
}
