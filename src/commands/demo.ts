/**
 * `gatehouse demo`: the local Okta-shaped IdP, the whoami demo upstream and
 * gatehouse with config/demo.yaml, all on 127.0.0.1. What `npm start` runs.
 */
import { resolve } from 'node:path'
import { startWhoami } from '../demo/whoami.js'
import { startDevIdp } from '../devidp/index.js'
import { createLogger } from '../server/telemetry/logger.js'
import { startGatehouse } from '../server/lifecycle/start.js'
import { loadConfigOrReport, parseCommand, type CommandIO } from './io.js'

export const usage = 'usage: gatehouse demo [--port 8000] [--org-port 8002] [--idp-port 9000] [--upstream-port 9001] [-c config/demo.yaml]'

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const args = parseCommand(
    argv,
    {
      port: { type: 'string', default: io.env.GATEHOUSE_DEMO_PORT ?? '8000' },
      'org-port': { type: 'string', default: '8002' },
      'idp-port': { type: 'string', default: '9000' },
      'upstream-port': { type: 'string', default: '9001' },
      config: { type: 'string', short: 'c', default: 'config/demo.yaml' },
    },
    usage,
    io,
  )
  if (typeof args === 'number') return args
  const port = Number(args.port)
  const origin = `http://localhost:${port}`
  /** The sign-in host of config/demo.yaml (authenticate_service_url): the IdP's app knows only its redirect URIs. */
  const signInOrigin = `http://authenticate.localhost:${port}`
  const orgPort = Number(args['org-port'])
  const orgOrigin = `http://localhost:${orgPort}`
  let idp
  let upstream
  try {
    idp = await startDevIdp({
      port: Number(args['idp-port']),
      modelFile: resolve(io.cwd, 'config/devidp.yaml'),
      clients: [
        {
          client_id: 'gatehouse-demo',
          client_secret: 'demo-client-secret-not-for-production',
          redirect_uris: [`${signInOrigin}/oauth2/callback`],
          post_logout_redirect_uris: [`${signInOrigin}/.gatehouse/signed_out`],
          // Sign out of the IdP (its home page) or deactivate a user there, and gatehouse follows.
          frontchannel_logout_uri: `${origin}/.gatehouse/frontchannel_logout`,
          backchannel_logout_uri: `${origin}/.gatehouse/backchannel_logout`,
          universal_logout: { endpoint: `${origin}/.gatehouse/global-token-revocation` },
        },
        {
          // The org server's app, as the Pomerium guide sets it up: a groups claim filter on the app.
          client_id: 'gatehouse-demo-org',
          client_secret: 'demo-org-client-secret-not-for-production',
          redirect_uris: [`${orgOrigin}/.gatehouse/callback`],
          post_logout_redirect_uris: [`${orgOrigin}/.gatehouse/signed_out`],
          groups_claim: { filter: { regex: '.*' } },
        },
      ],
    })
    upstream = await startWhoami({
      port: Number(args['upstream-port']),
      name: 'whoami (demo upstream)',
      jwksUrl: () => new URL(`http://127.0.0.1:${port}/.well-known/gatehouse/jwks.json`),
    })
  } catch (err) {
    io.stderr(
      `gatehouse demo: could not start (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); is something already listening on ports ${port}, ${args['idp-port']} or ${args['upstream-port']}? Choose others with --port, --idp-port, --upstream-port.\n`,
    )
    await idp?.close()
    return 1
  }
  const config = loadConfigOrReport(resolve(io.cwd, args.config), io, {
    ...io.env,
    DEMO_PORT: String(port),
    DEMO_IDP_ISSUER: idp.issuer,
    DEMO_UPSTREAM: upstream.url,
  })
  if (config === undefined) {
    await Promise.all([idp.close(), upstream.close()])
    return 1
  }
  const orgConfig = loadConfigOrReport(resolve(io.cwd, 'config/demo-org.yaml'), io, {
    ...io.env,
    DEMO_ORG_PORT: String(orgPort),
    DEMO_IDP_ORG_ISSUER: idp.orgIssuer,
    DEMO_UPSTREAM: upstream.url,
  })
  if (orgConfig === undefined) {
    await Promise.all([idp.close(), upstream.close()])
    return 1
  }
  const log = createLogger(config.logLevel)
  let gh
  let orgGh
  try {
    gh = await startGatehouse({ config: config, log })
    await gh.identity.ready()
    orgGh = await startGatehouse({ config: orgConfig, log: log.child({ server: 'org' }) })
    await orgGh.identity.ready()
  } catch (err) {
    await Promise.all([gh?.close(), orgGh?.close()])
    io.stderr(
      `gatehouse demo: could not start gatehouse on port ${port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); choose others with --port and --org-port.\n`,
    )
    await Promise.all([idp.close(), upstream.close()])
    return 1
  }
  const users = idp.users.map((u) => `    ${u.username.padEnd(6)} password "${u.password}"  groups: ${u.groups.join(', ')}`).join('\n')
  io.stdout(`
  gatehouse demo is running.

    open        ${origin}/            (any signed-in user)
                ${origin}/admin       (group admin only)
                ${origin}/.gatehouse/ (your session; sign out there)

    one sign-in http://app.localhost:${port}/ and http://admin.localhost:${port}/ (admin only)
                share the sign-in at ${signInOrigin}/.gatehouse/
                (authenticate_service_url: the IdP knows only that host's redirect URIs)

    sign in as
${users}

    org server  ${orgOrigin}/  (the same upstream through Okta's org authorization server:
                thin ID token, groups from /userinfo with the groups scope)

    local IdP   ${idp.issuer}  (custom server; org server ${idp.orgIssuer})
                ${idp.url}/  (who is signed in at the IdP; "Sign out of the IdP" signs you out of gatehouse too)
    upstream    ${upstream.url}  (whoami: shows the headers it received)

  Press Ctrl+C to stop.

`)
  return new Promise<number>((done) => {
    const stop = (): void => {
      Promise.all([gh.close(), orgGh.close(), upstream.close(), idp.close()]).then(
        () => done(0),
        () => done(1),
      )
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}
