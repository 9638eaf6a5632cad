/**
 * `gatehouse sessions list|revoke`: operators' view of the configured session
 * store. With the memory store there is nothing to reach from outside the
 * process, so this needs `databroker_storage_type: postgres` (or redis).
 */
import { createSessionManager, createStore, type SessionFilter } from '../session/index.js'
import { configPath, loadConfigOrReport, parseCommand, type CommandIO } from './io.js'

export const usage =
  'usage: gatehouse sessions list -c FILE [--user EMAIL | --sub IDP_SUBJECT | --sid IDP_SESSION]\n' +
  '       gatehouse sessions revoke -c FILE (--user EMAIL | --sub IDP_SUBJECT | --sid IDP_SESSION | --id SESSION_ID | --all)\n' +
  "  --sub and --sid are the IdP's user id and session id (the ID token's sub and sid); --id is the gatehouse session id that list prints."

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const [verb, ...rest] = argv
  if (verb !== 'list' && verb !== 'revoke') {
    io.stderr(`${usage}\n`)
    return verb === '-h' || verb === '--help' ? 0 : 2
  }
  const v = parseCommand(
    rest,
    {
      config: { type: 'string', short: 'c' },
      user: { type: 'string' },
      sub: { type: 'string' },
      sid: { type: 'string' },
      id: { type: 'string' },
      all: { type: 'boolean' },
    },
    usage,
    io,
  )
  if (typeof v === 'number') return v
  const given = [v.user, v.sub, v.sid, v.id, v.all].filter((x) => x !== undefined && x !== false).length
  if (verb === 'revoke' && given !== 1) {
    io.stderr(`revoke needs exactly one of --user, --sub, --sid, --id, --all\n${usage}\n`)
    return 2
  }
  if (verb === 'list' && (given > 1 || v.id !== undefined || v.all !== undefined)) {
    io.stderr(`list takes at most one of --user, --sub, --sid\n${usage}\n`)
    return 2
  }
  const filter: SessionFilter | undefined =
    v.user !== undefined ? { user: v.user } : v.sub !== undefined ? { sub: v.sub } : v.sid !== undefined ? { idpSid: v.sid } : undefined
  const config = loadConfigOrReport(configPath(v.config, io), io)
  if (config === undefined) return 1
  if (config.storage.type === 'memory') {
    io.stderr(
      'sessions are in the memory of the running gatehouse (databroker_storage_type: memory); use a Postgres or Redis store to manage them from outside\n',
    )
    return 1
  }
  const store = createStore(config.storage, { onError: () => undefined })
  const manager = createSessionManager({ store, cookieSecret: config.cookie.secret, now: Date.now, ttlMs: config.cookie.expireMs })
  try {
    if (verb === 'list') {
      const list = await manager.list(filter)
      for (const s of list)
        io.stdout(
          `${s.id}  ${(s.email ?? s.sub).padEnd(32)}  sub ${s.sub}  idp session ${s.idpSid ?? '-'}  signed in ${new Date(s.createdAtMs).toISOString()}  ends ${new Date(s.expiresAtMs).toISOString()}\n`,
        )
      io.stdout(`${list.length} session${list.length === 1 ? '' : 's'}\n`)
    } else {
      // Every replica hears of it through the store and closes the sessions' open WebSockets.
      const n =
        v.all === true ? await manager.revokeAll() : filter !== undefined ? (await manager.revokeWhere(filter)).ids.length : await revokeOne(v.id as string)
      io.stdout(`revoked ${n} session${n === 1 ? '' : 's'}\n`)
    }
    return 0
  } catch (err) {
    io.stderr(`cannot reach the session store: ${(err as Error).message}\n`)
    return 1
  } finally {
    await store.close()
  }

  async function revokeOne(id: string): Promise<number> {
    if (!(await manager.exists(id))) return 0
    await manager.revoke(id)
    return 1
  }
}
