/**
 * Optional suites: Redis, PostgreSQL and Chromium. On a fresh machine a suite whose
 * requirement is missing is skipped with a message saying why; in CI
 * (REQUIRE_REDIS=1 / REQUIRE_POSTGRES=1 / REQUIRE_BROWSER=1) a missing
 * requirement fails instead.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import net from 'node:net'
import pg from 'pg'
import { parsePostgresDsn, type PostgresConnection } from '../../src/config/postgres-dsn.js'

export const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
/** The tests' own database (created when missing); each test store adds a random key prefix. */
export const POSTGRES_URL = process.env.GATEHOUSE_TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/gatehouse_test'
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

function redisReachable(url: string): Promise<boolean> {
  const u = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port || 6379) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => {
      socket.write('PING\r\n')
      socket.once('data', (d) => done(d.toString().startsWith('+PONG')))
    })
  })
}

/** Top-level await in a test file: `const redis = await requireRedis()`, then `describe.skipIf(!redis)`. */
export async function requireRedis(): Promise<boolean> {
  const ok = await redisReachable(REDIS_URL)
  if (ok) return true
  if (process.env.REQUIRE_REDIS === '1') throw new Error(`REQUIRE_REDIS=1 but Redis is not reachable at ${REDIS_URL}`)
  console.warn(`[skipped] Redis suites: no Redis at ${REDIS_URL} (set REQUIRE_REDIS=1 to make this an error)`)
  return false
}

export function requireBrowser(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true
  if (process.env.REQUIRE_BROWSER === '1') throw new Error(`REQUIRE_BROWSER=1 but Chromium is not at ${CHROMIUM_PATH} (install Debian's chromium package)`)
  console.warn(`[skipped] browser suites: no Chromium at ${CHROMIUM_PATH} (set REQUIRE_BROWSER=1 to make this an error)`)
  return false
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
]

export function postgresConnection(url: string = POSTGRES_URL): PostgresConnection {
  const parsed = parsePostgresDsn(url, () => {
    throw new Error('no files in test DSNs')
  })
  if (!parsed.ok) throw new Error(`GATEHOUSE_TEST_POSTGRES_URL: ${parsed.problem}`)
  return parsed.connection
}

/** The same server's maintenance database, for CREATE/DROP DATABASE. */
function adminUrl(url: string): string {
  const u = new URL(url)
  u.pathname = '/postgres'
  return u.toString()
}

async function postgresReachable(url: string): Promise<string | undefined> {
  const tryConnect = async (u: string): Promise<void> => {
    const c = new pg.Client({ connectionString: u, connectionTimeoutMillis: 2000 })
    try {
      await c.connect()
      await c.query('SELECT 1')
    } finally {
      await c.end().catch(() => undefined)
    }
  }
  try {
    await tryConnect(url)
    return undefined
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') return (err as Error).message
  }
  // The test database does not exist yet: create it once.
  const admin = new pg.Client({ connectionString: adminUrl(url), connectionTimeoutMillis: 2000 })
  try {
    await admin.connect()
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(new URL(url).pathname.slice(1))}`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err // created meanwhile by another test file
    })
    return undefined
  } catch (err) {
    return (err as Error).message
  } finally {
    await admin.end().catch(() => undefined)
  }
}

/** Top-level await in a test file: `const hasPostgres = await requirePostgres()`, then `describe.skipIf(!hasPostgres)`. */
export async function requirePostgres(): Promise<boolean> {
  const why = await postgresReachable(POSTGRES_URL)
  if (why === undefined) return true
  if (process.env.REQUIRE_POSTGRES === '1') throw new Error(`REQUIRE_POSTGRES=1 but PostgreSQL is not usable at ${POSTGRES_URL}: ${why}`)
  console.warn(`[skipped] PostgreSQL suites: ${why} at ${POSTGRES_URL} (set GATEHOUSE_TEST_POSTGRES_URL, or REQUIRE_POSTGRES=1 to make this an error)`)
  return false
}

/** A database of its own on the test server (for schema tests), dropped by the returned function. */
export async function scratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `gatehouse_scratch_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl(POSTGRES_URL) })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const u = new URL(POSTGRES_URL)
  u.pathname = '/' + name
  return {
    url: u.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: adminUrl(POSTGRES_URL) })
      await a.connect()
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await a.end()
    },
  }
}
