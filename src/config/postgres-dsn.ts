/**
 * Pomerium's Postgres connection string, in either of libpq's two forms:
 *   postgresql://user:secret@db.internal:5432/pomerium?sslmode=verify-full
 *   host=db.internal port=5432 dbname=pomerium user=pomerium sslmode=disable
 * turned once, at load, into the options the store connects with (files named
 * by sslrootcert/sslcert/sslkey are read here too). A problem is a sentence for
 * the operator; the secret itself never appears in one.
 */

export interface PostgresConnection {
  readonly host: string
  readonly port: number
  readonly database: string | undefined
  readonly user: string | undefined
  readonly password: string | undefined
  /** false: plain TCP (sslmode disable, allow, prefer or absent). */
  readonly ssl: false | { readonly verify: 'none' | 'ca' | 'full'; readonly ca?: string; readonly cert?: string; readonly key?: string }
  readonly applicationName: string | undefined
  readonly connectTimeoutMs: number | undefined
  /** pgx's `pool_max_conns`, which Pomerium's DSNs may carry. */
  readonly poolMax: number | undefined
}

export type DsnResult = { ok: true; connection: PostgresConnection } | { ok: false; problem: string }

const KNOWN = ['host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'application_name', 'connect_timeout']
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']

export function parsePostgresDsn(text: string, readFile: (path: string) => string): DsnResult {
  const t = text.trim()
  let params: Map<string, string>
  if (/^postgres(ql)?:\/\//i.test(t)) {
    const fromUri = uriParams(t)
    if (typeof fromUri === 'string') return { ok: false, problem: fromUri }
    params = fromUri
  } else if (/^[a-z_]+\s*=/i.test(t)) {
    const fromPairs = keywordParams(t)
    if (typeof fromPairs === 'string') return { ok: false, problem: fromPairs }
    params = fromPairs
  } else {
    return {
      ok: false,
      problem: 'databroker_storage_connection_string for postgres must be a postgresql:// URI or libpq keyword/value pairs (host=… port=… dbname=… user=…)',
    }
  }

  let poolMax: number | undefined
  for (const [k, v] of params) {
    if (k === 'pool_max_conns') {
      poolMax = Number(v)
      if (!Number.isInteger(poolMax) || poolMax < 1) return { ok: false, problem: `pool_max_conns must be a positive integer, found "${v}"` }
      params.delete(k)
    } else if (k.startsWith('pool_'))
      params.delete(k) // pgx pool tuning with no equivalent here
    else if (!KNOWN.includes(k)) return { ok: false, problem: `unknown connection parameter "${k}" (known: ${KNOWN.join(', ')})` }
  }
  const port = Number(params.get('port') ?? '5432')
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, problem: `port must be 1-65535, found "${params.get('port') ?? ''}"` }
  const sslmode = params.get('sslmode') ?? 'prefer'
  if (!SSL_MODES.includes(sslmode)) return { ok: false, problem: `sslmode must be one of ${SSL_MODES.join(', ')}, found "${sslmode}"` }
  const timeout = params.get('connect_timeout')
  if (timeout !== undefined && !/^\d+$/.test(timeout)) return { ok: false, problem: `connect_timeout is whole seconds, found "${timeout}"` }

  const files: Record<'ca' | 'cert' | 'key', string | undefined> = { ca: undefined, cert: undefined, key: undefined }
  for (const [param, slot] of [
    ['sslrootcert', 'ca'],
    ['sslcert', 'cert'],
    ['sslkey', 'key'],
  ] as const) {
    const path = params.get(param)
    if (path === undefined || path === 'system') continue
    try {
      files[slot] = readFile(path)
    } catch (err) {
      return { ok: false, problem: `cannot read ${param} ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})` }
    }
  }
  const verify = sslmode === 'verify-full' ? 'full' : sslmode === 'verify-ca' ? 'ca' : 'none'
  const ssl: PostgresConnection['ssl'] =
    sslmode === 'require' || sslmode === 'verify-ca' || sslmode === 'verify-full'
      ? {
          verify,
          ...(files.ca === undefined ? {} : { ca: files.ca }),
          ...(files.cert === undefined ? {} : { cert: files.cert }),
          ...(files.key === undefined ? {} : { key: files.key }),
        }
      : false
  return {
    ok: true,
    connection: {
      host: params.get('hostaddr') ?? params.get('host') ?? 'localhost',
      port,
      database: params.get('dbname'),
      user: params.get('user'),
      password: params.get('password'),
      ssl,
      applicationName: params.get('application_name'),
      connectTimeoutMs: timeout === undefined ? undefined : Number(timeout) * 1000,
      poolMax,
    },
  }
}

function uriParams(text: string): Map<string, string> | string {
  let u: URL
  try {
    u = new URL(text)
  } catch {
    return 'databroker_storage_connection_string is not a valid postgresql:// URI'
  }
  const params = new Map<string, string>()
  const dec = (s: string): string => decodeURIComponent(s)
  try {
    if (u.hostname !== '') params.set('host', dec(u.hostname.replace(/^\[|\]$/g, '')))
    if (u.port !== '') params.set('port', u.port)
    if (u.username !== '') params.set('user', dec(u.username))
    if (u.password !== '') params.set('password', dec(u.password))
    const db = u.pathname.replace(/^\//, '')
    if (db !== '') params.set('dbname', dec(db))
  } catch {
    return 'databroker_storage_connection_string has an invalid percent-encoding'
  }
  for (const [k, v] of u.searchParams) params.set(k, v)
  if (u.host.includes(',')) return 'several hosts in one connection string are not supported; name one host (or a load balancer in front of them)'
  return params
}

/** libpq's keyword/value form: `key=value`, values optionally single-quoted with \\ and \' escapes. */
function keywordParams(text: string): Map<string, string> | string {
  const params = new Map<string, string>()
  let i = 0
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i] as string)) i++
    if (i >= text.length) break
    const m = /^([a-z_]+)\s*=\s*/i.exec(text.slice(i))
    if (m === null) return `connection string: expected keyword=value at "${text.slice(i, i + 12)}"`
    const key = (m[1] as string).toLowerCase()
    i += m[0].length
    let value = ''
    if (text[i] === "'") {
      i++
      for (;;) {
        if (i >= text.length) return `connection string: unterminated quoted value for ${key}`
        const c = text[i] as string
        if (c === '\\' && i + 1 < text.length) {
          value += text[i + 1]
          i += 2
        } else if (c === "'") {
          i++
          break
        } else {
          value += c
          i++
        }
      }
    } else {
      while (i < text.length && !/\s/.test(text[i] as string)) {
        if (text[i] === '\\' && i + 1 < text.length) i++
        value += text[i]
        i++
      }
    }
    params.set(key, value)
  }
  return params
}
