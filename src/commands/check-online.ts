/**
 * `gatehouse check --online`: like a "test configuration" button. Each check
 * prints ok or a sentence that says what to fix; exit 0 only when all pass.
 */
import type { CompiledConfig } from '../config/types.js'
import { PATHS } from '../constants.js'
import { checkDiscovery, createDirectory, createIdentityProvider, fetchDiscovery } from '../identity/index.js'
import { createPostgresStore, createStore } from '../session/index.js'
import type { CommandIO } from './io.js'

/** The redirect URIs the Okta app must list: one pair on the sign-in host, or one pair per route host. */
export function redirectUris(config: CompiledConfig): { signIn: string[]; signOut: string[] } {
  if (config.authenticate !== undefined)
    return { signIn: [config.authenticate.origin + PATHS.authenticateCallback], signOut: [config.authenticate.origin + PATHS.signedOut] }
  const hosts = [...new Set(config.routes.map((r) => `${r.scheme}://${r.host}${r.port === undefined ? '' : `:${r.port}`}`))]
  return { signIn: hosts.map((h) => h + PATHS.callback), signOut: hosts.map((h) => h + PATHS.signedOut) }
}

export async function checkOnline(config: CompiledConfig, io: CommandIO): Promise<number> {
  let failures = 0
  const ok = (what: string): void => io.stdout(`  ok    ${what}\n`)
  const fail = (what: string, fix: string): void => {
    failures++
    io.stdout(`  FAIL  ${what}: ${fix}\n`)
  }
  io.stdout('online checks:\n')
  try {
    const doc = await fetchDiscovery(config.idp.providerUrl, fetch, 10_000)
    checkDiscovery(config.idp.providerUrl, doc)
    ok(`discovery at ${config.idp.providerUrl}/.well-known/openid-configuration, issuer matches exactly`)
  } catch (err) {
    fail('discovery', (err as Error).message)
  }
  const idp = createIdentityProvider(config.idp, config.cookie.secret)
  try {
    await idp.ready()
    ok('signing keys fetched')
    const { signIn, signOut } = redirectUris(config)
    const probe = await idp.probeClientAuth(signIn[0] ?? 'https://example.invalid/.gatehouse/callback')
    if (probe.code === 'IDP_INVALID_GRANT' || probe.oauthError === 'invalid_grant') ok(`client credentials accepted (${config.idp.clientAuthMethod})`)
    else fail('client credentials', probe.message)
    io.stdout('\nregister these in the Okta app:\n  Sign-in redirect URIs:\n')
    for (const u of signIn) io.stdout(`    ${u}\n`)
    io.stdout('  Sign-out redirect URIs:\n')
    for (const u of signOut) io.stdout(`    ${u}\n`)
  } catch (err) {
    fail('identity provider', (err as Error).message)
  }
  if (config.directory !== undefined) {
    // One call with the directory's credential: it proves the org, the credential and the read scope.
    const d = config.directory
    const probe = await createDirectory(d, { cache: { get: async () => undefined, set: async () => undefined } }).probe()
    if (probe.ok) ok(`directory: ${probe.detail}`)
    else
      fail(
        'directory',
        `${probe.reason} (${d.credential.kind === 'api_token' ? 'idp_service_account: an API token of an admin who can read users and groups' : `idp_directory_client_id ${d.credential.clientId}: grant okta.groups.read and okta.users.read on the app's Okta API Scopes tab, and a read-only admin role`})`,
      )
  }
  if (config.storage.type === 'redis') {
    const store = createStore(config.storage, { onError: () => undefined })
    try {
      await store.ping()
      ok('Redis session store reachable')
    } catch {
      fail('Redis session store', 'not reachable at databroker_storage_connection_string')
    } finally {
      await store.close()
    }
  }
  if (config.storage.type === 'postgres') {
    const c = config.storage.connection
    const where = `${c.host}:${c.port}${c.database === undefined ? '' : `/${c.database}`}`
    const store = createPostgresStore({ connection: c, onError: () => undefined })
    try {
      // The first query also applies the schema migration, as serve would.
      const version = await store.serverVersion()
      ok(`Postgres session store reachable at ${where}: ${version.split(' on ')[0] ?? version}`)
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause
      fail(
        'Postgres session store',
        `cannot use ${where} (${cause instanceof Error ? cause.message : 'no answer'}); check databroker_storage_connection_string`,
      )
    } finally {
      await store.close()
    }
  }
  io.stdout(failures === 0 ? '\nall online checks passed\n' : `\n${failures} online check${failures === 1 ? '' : 's'} failed\n`)
  return failures === 0 ? 0 : 1
}
