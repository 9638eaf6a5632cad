/**
 * `gatehouse check --online --login`: "test configuration" with a real
 * sign-in. A temporary listener on loopback sends the person to Okta with the
 * config's client and scopes, and after the sign-in prints what Okta sent
 * (ID-token and userinfo claims, groups and where they came from, the refresh
 * token and whether it rotates, the access token's audience and scopes), what
 * every route's policy decides for that user, and each Okta misconfiguration
 * it can tell.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeJwt } from 'jose'
import type { CompiledConfig } from '../config/types.js'
import { createIdentityProvider, missingGroupsAdvice, serverKindOf, type SignedInIdentity } from '../identity/index.js'
import type { CommandIO } from './io.js'

export interface LoginCheckOptions {
  /** Port of the temporary listener (0: any free port). */
  readonly port: number
  readonly timeoutMs: number
}

const CALLBACK = '/.gatehouse/callback'
const ACCESS_TOKEN_TEMPLATE = /\$\{(?:gatehouse|pomerium)\.access_token\}/

function decoded(token: string): Record<string, unknown> | undefined {
  try {
    return decodeJwt(token) as Record<string, unknown>
  } catch {
    return undefined
  }
}

function show(io: CommandIO, title: string, claims: Record<string, unknown> | undefined): void {
  io.stdout(`\n${title}:\n`)
  if (claims === undefined) return io.stdout('  (none)\n')
  for (const [k, v] of Object.entries(claims)) io.stdout(`  ${k}: ${JSON.stringify(v)}\n`)
}

/** Waits for one sign-in on a loopback listener; resolves with the verified identity or rejects with the reason. */
async function signInOnce(
  config: CompiledConfig,
  io: CommandIO,
  o: LoginCheckOptions,
  idp: ReturnType<typeof createIdentityProvider>,
): Promise<SignedInIdentity> {
  const server = http.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const origin = `http://localhost:${port}`
  const redirectUri = origin + CALLBACK
  const sealedByState = new Map<string, string>()
  io.stdout(
    `\nsign in to test the configuration:\n  open        ${origin}/\n  register    ${redirectUri}  (as a Sign-in redirect URI of the Okta app, for this test)\n  waiting ${Math.round(o.timeoutMs / 1000)} s for the sign-in …\n`,
  )
  try {
    return await new Promise<SignedInIdentity>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no sign-in within ${Math.round(o.timeoutMs / 1000)} s`)), o.timeoutMs)
      server.on('request', (req, res) => {
        const url = new URL(req.url ?? '/', origin)
        const answer = (status: number, text: string): void => {
          res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
          res.end(text)
        }
        if (url.pathname === '/') {
          idp.beginLogin(new URL(origin + '/'), redirectUri).then(
            (start) => {
              sealedByState.set(start.state, start.sealed)
              res.writeHead(302, { location: start.authorizationUrl.href, 'cache-control': 'no-store' })
              res.end()
            },
            (err: unknown) => answer(502, `could not start the sign-in: ${(err as Error).message}`),
          )
          return
        }
        if (url.pathname !== CALLBACK) return answer(404, 'not found')
        idp.completeLogin(url, sealedByState.get(url.searchParams.get('state') ?? '')).then(
          ({ signedIn }) => {
            answer(200, 'Signed in. The results are in the terminal; you can close this tab.')
            clearTimeout(timer)
            resolve(signedIn)
          },
          (err: unknown) => {
            answer(400, `Sign-in failed: ${(err as Error).message}`)
            clearTimeout(timer)
            reject(err instanceof Error ? err : new Error(String(err)))
          },
        )
      })
    })
  } finally {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

export async function checkLogin(config: CompiledConfig, io: CommandIO, o: LoginCheckOptions): Promise<number> {
  const idp = createIdentityProvider(config.idp, config.cookie.secret)
  const problems: string[] = []
  try {
    await idp.ready()
  } catch (err) {
    io.stdout(`  FAIL  identity provider: ${(err as Error).message}\n`)
    return 1
  }
  const scopes = idp.scopes()
  const metadata = idp.metadata() ?? {}
  const kind = serverKindOf(config.idp.providerUrl)
  io.stdout(`\nOkta ${kind === 'org' ? 'org' : 'custom'} authorization server ${config.idp.providerUrl}\n  requesting scopes: ${scopes.join(' ')}\n`)
  let signedIn: SignedInIdentity
  try {
    signedIn = await signInOnce(config, io, o, idp)
  } catch (err) {
    io.stdout(`\n  FAIL  sign-in: ${(err as Error).message}\n`)
    return 1
  }

  const idClaims = decoded(signedIn.idToken)
  show(io, 'ID token claims', idClaims)
  let userinfo: Record<string, unknown> | undefined
  const userinfoUrl = typeof metadata.userinfo_endpoint === 'string' ? metadata.userinfo_endpoint : undefined
  if (userinfoUrl !== undefined) {
    try {
      const res = await fetch(userinfoUrl, { headers: { authorization: `Bearer ${signedIn.accessToken}` }, signal: AbortSignal.timeout(10_000) })
      userinfo = res.ok ? ((await res.json()) as Record<string, unknown>) : { error: `HTTP ${res.status}` }
    } catch (err) {
      userinfo = { error: (err as Error).message }
    }
  }
  show(io, 'userinfo claims', userinfo)

  io.stdout(
    `\ngroups (${config.idp.groupsClaim}, from ${signedIn.groupsSource === 'none' ? 'nowhere' : signedIn.groupsSource === 'id_token' ? 'the ID token' : '/userinfo'}): [${signedIn.groups.join(', ')}]\n`,
  )
  if (signedIn.unknown?.groups !== undefined) io.stdout(`  unknown: ${signedIn.unknown.groups}\n`)
  if (signedIn.groupsSource === 'none') {
    problems.push(`no groups claim: ${missingGroupsAdvice(config.idp.providerUrl, scopes, config.idp.groupsClaim)}`)
    if (kind === 'org' && !scopes.includes('groups')) problems.push('groups scope missing: the org authorization server releases the groups claim only with it')
  }

  if (signedIn.refreshToken === undefined) {
    io.stdout('\nrefresh token: none\n')
    problems.push(
      'no refresh token: add offline_access to idp_scopes and enable the Refresh Token grant on the Okta app; without it sessions end when the ID token expires',
    )
  } else {
    let rotation = 'unknown (the test refresh failed)'
    try {
      const again = await idp.refresh(signedIn.refreshToken, signedIn.sub)
      rotation = again.refreshToken === signedIn.refreshToken ? 'persistent (the same token comes back)' : 'rotating (a new token on every use)'
    } catch (err) {
      problems.push(`the refresh token does not work: ${(err as Error).message}`)
    }
    io.stdout(`\nrefresh token: yes, ${rotation}\n`)
  }

  const at = decoded(signedIn.accessToken)
  const aud = at?.aud
  const forOktaOnly = kind === 'org' || (typeof aud === 'string' && aud === new URL(config.idp.providerUrl).origin)
  io.stdout(
    `\naccess token: ${at === undefined ? 'opaque' : `audience ${JSON.stringify(aud)}, scopes ${JSON.stringify(at.scp ?? at.scope ?? null)}`}${forOktaOnly ? ' (for Okta only: no API can verify it)' : ''}\n`,
  )
  const forwarding = config.routes.filter((r) => Object.values(r.setRequestHeaders).some((h) => ACCESS_TOKEN_TEMPLATE.test(h)))
  if (forOktaOnly && forwarding.length > 0)
    problems.push(
      `${forwarding.map((r) => r.id).join(', ')} forward the access token upstream, but an org-server access token is for Okta only: use a custom authorization server (idp_provider_url https://{org}.okta.com/oauth2/default) for APIs`,
    )

  io.stdout('\nwhat each route decides for this user:\n')
  for (const r of config.routes) {
    const path = r.path.kind === 'prefix' ? r.path.prefix : r.path.kind === 'path' ? r.path.path : '/'
    const d = r.policy.evaluate(signedIn, { method: 'GET', path, sourceIp: '127.0.0.1', isCorsPreflight: false }, Date.now())
    io.stdout(`  ${r.id}: ${d.outcome}: ${d.reason}\n`)
  }

  if (problems.length === 0) {
    io.stdout('\nno Okta misconfiguration found\n')
    return 0
  }
  io.stdout(`\n${problems.length} thing${problems.length === 1 ? '' : 's'} to change:\n`)
  for (const p of problems) io.stdout(`  WARN  ${p}\n`)
  return 1
}
