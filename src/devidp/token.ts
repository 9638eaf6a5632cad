/**
 * `/v1/token`. Client authentication first (Okta answers 401
 * `invalid_client`), then the grant: the app must have it enabled
 * (`unauthorized_client`), the custom server's access policy must have a rule
 * for it (`access_denied` "Policy evaluation failed…"), and each grant type
 * checks what Okta checks. Grant types live in a table so more can be added
 * (client credentials for service apps, say) without touching the rest.
 */
import { createHash } from 'node:crypto'
import type http from 'node:http'
import { evaluateAccessPolicy } from './access-policy.js'
import { authenticateClient } from './client-auth.js'
import { endpointBase, isAssigned, userById, type IdpContext } from './context.js'
import { OKTA, oauthError, readBody, sendJson } from './http.js'
import { issueTokens } from './issue.js'
import type { DevApp, DevServer, GrantType } from './model.js'
import { revokeUserTokens } from './state.js'
import { clientCredentials } from './client-credentials.js'

export type GrantAnswer = { readonly status: number; readonly body: Record<string, unknown> }

export type GrantHandler = (ctx: IdpContext, server: DevServer, app: DevApp, form: URLSearchParams) => Promise<GrantAnswer>

const err = (status: number, error: string, description: string): GrantAnswer => ({ status, body: { error, error_description: description } })

async function authorizationCode(ctx: IdpContext, server: DevServer, app: DevApp, form: URLSearchParams): Promise<GrantAnswer> {
  const code = ctx.state.codes.get(form.get('code') ?? '')
  // Single use: gone whatever happens next.
  if (code !== undefined) ctx.state.codes.delete(code.code)
  if (code === undefined || code.expiresAtMs < ctx.now() || code.clientId !== app.clientId || code.serverId !== server.id)
    return err(400, 'invalid_grant', OKTA.codeInvalid)
  if (form.get('redirect_uri') !== code.redirectUri) return err(400, 'invalid_grant', OKTA.redirectMismatch)
  const verifier = form.get('code_verifier')
  if (code.codeChallenge !== undefined) {
    if (verifier === null || createHash('sha256').update(verifier).digest('base64url') !== code.codeChallenge) return err(400, 'invalid_grant', OKTA.pkceFailed)
  } else if (verifier !== null) return err(400, 'invalid_grant', OKTA.pkceFailed)
  const user = userById(ctx, code.userId)
  if (user === undefined || user.status !== 'ACTIVE' || !isAssigned(app, user)) return err(400, 'invalid_grant', OKTA.codeInvalid)
  const policy = evaluateAccessPolicy(server, app.clientId, 'authorization_code', user, code.scopes)
  if (!policy.ok) return err(400, 'access_denied', OKTA.policyFailed)
  const issued = await issueTokens(ctx, {
    server,
    app,
    user,
    scopes: code.scopes,
    flow: 'authorization_code',
    nonce: code.nonce,
    authTimeS: code.authTimeS,
    sessionId: code.sessionId,
    accessTokenTtlSeconds: policy.rule?.accessTokenLifetimeSeconds ?? 3600,
  })
  if (!issued.ok) return err(400, 'server_error', issued.description)
  ctx.counters.authorizationCodeGrants++
  return { status: 200, body: { ...issued.tokens } }
}

async function refreshToken(ctx: IdpContext, server: DevServer, app: DevApp, form: URLSearchParams): Promise<GrantAnswer> {
  const presented = form.get('refresh_token') ?? ''
  const familyId = ctx.state.refreshIndex.get(presented)
  const family = familyId === undefined ? undefined : ctx.state.refreshFamilies.get(familyId)
  const invalid = (): GrantAnswer => {
    ctx.counters.refreshFailures++
    return err(400, 'invalid_grant', OKTA.refreshInvalid)
  }
  if (family === undefined || family.clientId !== app.clientId || family.serverId !== server.id || family.revoked) return invalid()
  if (family.expiresAtMs !== undefined && family.expiresAtMs <= ctx.now()) return invalid()
  if (presented !== family.current) {
    const graceEndsMs = family.previous.get(presented) ?? 0
    if (graceEndsMs <= ctx.now()) {
      // Reuse of a rotated-out token after its grace period: Okta revokes the whole family.
      family.revoked = true
      ctx.events.emit('tokens-revoked', { userId: family.userId, clientId: app.clientId, why: 'refresh token reused after its grace period' })
      return invalid()
    }
  }
  const user = userById(ctx, family.userId)
  if (user === undefined || user.status !== 'ACTIVE' || !isAssigned(app, user)) {
    if (user !== undefined) revokeUserTokens(ctx.state, user.id, app.clientId)
    return invalid()
  }
  const asked = form.get('scope')
  const scopes = asked === null ? family.scopes : asked.split(' ').filter(Boolean)
  if (!scopes.every((s) => family.scopes.includes(s))) return err(400, 'invalid_scope', 'The requested scope is invalid, unknown, or malformed.')
  const policy = evaluateAccessPolicy(server, app.clientId, 'refresh_token', user, scopes)
  if (!policy.ok) {
    ctx.counters.refreshFailures++
    return err(400, 'access_denied', OKTA.policyFailed)
  }
  const issued = await issueTokens(ctx, {
    server,
    app,
    user,
    scopes,
    flow: 'refresh_token',
    nonce: undefined,
    authTimeS: family.authTimeS,
    sessionId: family.sessionId,
    accessTokenTtlSeconds: policy.rule?.accessTokenLifetimeSeconds ?? 3600,
    family,
  })
  if (!issued.ok) return err(400, 'server_error', issued.description)
  ctx.counters.refreshGrants++
  return { status: 200, body: { ...issued.tokens } }
}

/** Grant types this IdP answers. Add an entry to support another. */
export const GRANT_HANDLERS = new Map<GrantType, GrantHandler>([
  ['authorization_code', authorizationCode],
  ['refresh_token', refreshToken],
  ['client_credentials', clientCredentials],
])

export async function token(ctx: IdpContext, server: DevServer, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'POST') return oauthError(res, 405, 'invalid_request', 'The token endpoint accepts POST only.')
  ctx.counters.tokenRequests++
  if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
    return oauthError(res, 400, 'invalid_request', 'Endpoint only supports application/x-www-form-urlencoded requests.')
  const form = new URLSearchParams(await readBody(req))
  const grantType = form.get('grant_type') ?? ''
  const auth = await authenticateClient(ctx, req, form, `${endpointBase(ctx, server)}/token`)
  if (!auth.ok) {
    if (grantType === 'refresh_token') ctx.counters.refreshFailures++
    return oauthError(res, 401, auth.error, auth.description)
  }
  const handler = GRANT_HANDLERS.get(grantType as GrantType)
  if (handler === undefined) return oauthError(res, 400, 'unsupported_grant_type', OKTA.unsupportedGrant(grantType))
  if (!auth.app.grantTypes.has(grantType as GrantType)) {
    if (grantType === 'refresh_token') ctx.counters.refreshFailures++
    return oauthError(res, 400, 'unauthorized_client', OKTA.grantNotAllowed(auth.app.grantTypes))
  }
  const answer = await handler(ctx, server, auth.app, form)
  sendJson(res, answer.status, answer.body)
}
