/**
 * `gatehouse sessions list|revoke`: operators' view of the configured session
 * store. With the memory store there is nothing to reach from outside the
 * process, so this needs `databroker_storage_type: postgres` (or redis).
 */
import { createSessionManager, createStore } from '../session/index.js'
import { configPath, loadConfigOrReport, parseCommand, type CommandIO } from './io.js'

export const usage = 'usage: gatehouse sessions list -c FILE [--user EMAIL]\n       gatehouse sessions revoke -c FILE (--user EMAIL | --id SID | --all)'

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const [verb, ...rest] = argv
  if (verb !== 'list' && verb !== 'revoke') {
    io.stderr(`${usage}\n`)
    return verb === '-h' || verb === '--help' ? 0 : 2
  }
  const v = parseCommand(
    rest,
    { config: { type: 'string', short: 'c' }, user: { type: 'string' }, id: { type: 'string' }, all: { type: 'boolean' } },
    usage,
    io,
  )
  if (typeof v === 'number') return v
  if (verb === 'revoke' && [v.user, v.id, v.all].filter((x) => x !== undefined && x !== false).length !== 1) {
    io.stderr(`revoke needs exactly one of --user, --id, --all\n${usage}\n`)
    return 2
  }
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
      const list = await manager.list(v.user === undefined ? undefined : { user: v.user })
      for (const s of list)
        io.stdout(
          `${s.id}  ${(s.email ?? s.sub).padEnd(32)}  signed in ${new Date(s.createdAtMs).toISOString()}  ends ${new Date(s.expiresAtMs).toISOString()}\n`,
        )
      io.stdout(`${list.length} session${list.length === 1 ? '' : 's'}\n`)
    } else {
      const n = v.all === true ? await manager.revokeAll() : v.user !== undefined ? await manager.revokeUser(v.user) : (await manager.revoke(v.id as string), 1)
      io.stdout(`revoked ${n} session${n === 1 ? '' : 's'}\n`)
    }
    return 0
  } catch (err) {
    io.stderr(`cannot reach the session store: ${(err as Error).message}\n`)
    return 1
  } finally {
    await store.close()
  }
}
