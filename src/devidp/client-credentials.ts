/**
 * The client-credentials grant, as Okta answers it for an API Services app:
 * a confidential client (a secret or, for Okta API scopes, `private_key_jwt`),
 * at least one scope and no OpenID scopes (there is no user). On a custom
 * server the scopes must be defined there and an access-policy rule must
 * allow the grant; the access token has `cid`, `scp`, `sub` = the client id
 * and no `uid`. On the org server only Okta API scopes (`okta.*`) granted to
 * the app are allowed, with `private_key_jwt`, and the token is for Okta's
 * own API (the management API reads it).
 */
import { evaluateAccessPolicy } from './access-policy.js'
import { issuerOf, nowSeconds, type IdpContext } from './context.js'
import { OKTA } from './http.js'
import type { DevApp, DevServer } from './model.js'
import type { GrantAnswer } from './token.js'
import { signAccessToken } from './tokens.js'

const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access', 'groups'])
const ORG_TOKEN_TTL_SECONDS = 3600

const err = (status: number, error: string, description: string): GrantAnswer => ({ status, body: { error, error_description: description } })

export async function clientCredentials(ctx: IdpContext, server: DevServer, app: DevApp, form: URLSearchParams): Promise<GrantAnswer> {
  if (app.tokenEndpointAuthMethod === 'none') return err(400, 'unauthorized_client', OKTA.grantNotAllowed(app.grantTypes))
  const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean)
  if (scopes.length === 0)
    return err(400, 'invalid_scope', 'The authorization server does not have any default scopes; the scope parameter is required for client credentials.')
  if (scopes.some((s) => OIDC_SCOPES.has(s)))
    return err(
      400,
      'invalid_scope',
      'The following scopes are not allowed for the client_credentials grant: ' + scopes.filter((s) => OIDC_SCOPES.has(s)).join(', '),
    )
  let ttlSeconds = ORG_TOKEN_TTL_SECONDS
  if (server.kind === 'org') {
    if (!scopes.every((s) => s.startsWith('okta.'))) return err(400, 'invalid_scope', OKTA.invalidScope)
    if (app.tokenEndpointAuthMethod !== 'private_key_jwt')
      return err(400, 'invalid_client', 'Client Credentials requests to the Org Authorization Server must use the private_key_jwt token_endpoint_auth_method.')
    const missing = scopes.filter((s) => !app.oktaApiScopes.has(s))
    if (missing.length > 0) return err(400, 'invalid_scope', `The following scopes have not been granted to the client: ${missing.join(', ')}`)
  } else {
    if (scopes.some((s) => !server.scopes.includes(s))) return err(400, 'invalid_scope', OKTA.invalidScope)
    const policy = evaluateAccessPolicy(server, app.clientId, 'client_credentials', undefined, scopes)
    if (!policy.ok) return err(400, 'access_denied', OKTA.policyFailed)
    ttlSeconds = policy.rule?.accessTokenLifetimeSeconds ?? 3600
  }
  const key = server.kind === 'org' ? ctx.orgAccessKey : ctx.keys.get(server.id)?.active()
  if (key === undefined) return err(500, 'server_error', `no signing key for server ${server.id}`)
  const nowS = nowSeconds(ctx)
  const accessToken = await signAccessToken(key, {
    issuer: issuerOf(ctx, server),
    audience: server.kind === 'org' ? ctx.url : server.audience,
    clientId: app.clientId,
    userId: undefined,
    subject: app.clientId,
    scopes,
    authTimeS: undefined,
    claims: {},
    ttlSeconds,
    nowS,
  })
  ctx.state.accessTokens.set(accessToken, {
    serverId: server.id,
    clientId: app.clientId,
    userId: undefined,
    scopes,
    expiresAtMs: (nowS + ttlSeconds) * 1000,
    revoked: false,
  })
  ctx.counters.clientCredentialsGrants++
  return { status: 200, body: { token_type: 'Bearer', expires_in: ttlSeconds, access_token: accessToken, scope: scopes.join(' ') } }
}
