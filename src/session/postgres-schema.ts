/**
 * The Postgres store's tables, as numbered migrations applied at start. Every
 * replica runs `migrate` when it starts; a transaction-scoped advisory lock
 * makes them queue, so the first applies what is missing and the others find
 * it done (two `CREATE TABLE IF NOT EXISTS` racing can still collide on the
 * catalog, which the lock rules out). A migration is never edited once
 * released: a change is a new entry.
 */
import type pg from 'pg'
import { CHANGE_CHANNEL } from './postgres-listener.js'

/** An arbitrary constant, gatehouse's own: the advisory lock that serialises migrations. */
const MIGRATION_LOCK = 7_134_512_903

export const MIGRATIONS: ReadonlyArray<{ readonly version: number; readonly sql: string }> = [
  {
    version: 1,
    sql: `
      CREATE TABLE gatehouse_kv (
        key        text COLLATE "C" PRIMARY KEY,
        value      bytea NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX gatehouse_kv_expires_at ON gatehouse_kv (expires_at);
      CREATE TABLE gatehouse_set (
        key        text COLLATE "C" NOT NULL,
        member     text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (key, member)
      );
      CREATE INDEX gatehouse_set_expires_at ON gatehouse_set (expires_at);
      -- Every change or removal of a value is announced, whoever made it (a
      -- replica, the sessions command, the cleanup, an operator's DELETE), so
      -- that each replica's read cache drops the key. New keys need no word:
      -- nobody can have cached them.
      CREATE FUNCTION gatehouse_kv_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${CHANGE_CHANNEL}', OLD.key);
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER gatehouse_kv_changed AFTER UPDATE OR DELETE ON gatehouse_kv
        FOR EACH ROW EXECUTE FUNCTION gatehouse_kv_notify();
    `,
  },
]

/** Applies what is missing; returns the schema version now in the database. */
export async function migrate(pool: pg.Pool): Promise<number> {
  const client = await pool.connect()
  let failed = false
  try {
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await client.query('CREATE TABLE IF NOT EXISTS gatehouse_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
    const res = await client.query<{ v: number }>('SELECT coalesce(max(version), 0)::int AS v FROM gatehouse_schema_migrations')
    let version = res.rows[0]?.v ?? 0
    for (const m of MIGRATIONS) {
      if (m.version <= version) continue
      await client.query(m.sql)
      await client.query('INSERT INTO gatehouse_schema_migrations (version) VALUES ($1)', [m.version])
      version = m.version
    }
    await client.query('COMMIT')
    return version
  } catch (err) {
    failed = true
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    // A connection that failed mid-migration is not given back to the pool.
    client.release(failed)
  }
}
