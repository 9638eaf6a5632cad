/**
 * Client authentication at the token and revocation endpoints, as strict as
 * Okta: only the app's configured method is accepted; private_key_jwt needs
 * `aud` = the endpoint URL itself, `iss` = `sub` = the client id, a fresh
 * `jti`, an `exp` within the hour and no `iat` in the future.
 */
import type http from 'node:http'
import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWK } from 'jose'
import type { IdpContext } from './context.js'
import { basicCredentials, OKTA } from './http.js'
import type { DevApp } from './model.js'

export type ClientAuthResult =
  { readonly ok: true; readonly app: DevApp } | { readonly ok: false; readonly error: 'invalid_client'; readonly description: string }

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const SKEW_SECONDS = 60

function fail(description: string): ClientAuthResult {
  return { ok: false, error: 'invalid_client', description }
}

export async function authenticateClient(ctx: IdpContext, req: http.IncomingMessage, form: URLSearchParams, endpointUrl: string): Promise<ClientAuthResult> {
  const basic = basicCredentials(req.headers.authorization)
  const assertion = form.get('client_assertion')
  let clientId = basic?.id ?? form.get('client_id') ?? undefined
  if (clientId === undefined && assertion !== null) {
    try {
      clientId = decodeJwt(assertion).iss
    } catch {
      return fail(OKTA.assertionInvalid)
    }
  }
  const app = clientId === undefined ? undefined : ctx.model.apps.get(clientId)
  if (app === undefined || !app.active) return fail(OKTA.clientAuthFailed)
  const secrets = [app.clientSecret, ...app.extraSecrets].filter((s): s is string => s !== undefined)
  switch (app.tokenEndpointAuthMethod) {
    case 'client_secret_basic':
      if (basic === undefined) return fail(OKTA.clientAuthFailed)
      return secrets.includes(basic.secret) ? { ok: true, app } : fail(OKTA.clientSecretInvalid)
    case 'client_secret_post': {
      const secret = form.get('client_secret')
      if (secret === null || basic !== undefined) return fail(OKTA.clientAuthFailed)
      return secrets.includes(secret) ? { ok: true, app } : fail(OKTA.clientSecretInvalid)
    }
    case 'none':
      return basic === undefined && form.get('client_secret') === null ? { ok: true, app } : fail(OKTA.clientAuthFailed)
    case 'private_key_jwt':
      return checkAssertion(ctx, app, form, assertion, endpointUrl)
  }
}

async function checkAssertion(ctx: IdpContext, app: DevApp, form: URLSearchParams, assertion: string | null, endpointUrl: string): Promise<ClientAuthResult> {
  if (assertion === null || form.get('client_assertion_type') !== ASSERTION_TYPE || app.jwks === undefined) return fail(OKTA.clientAuthFailed)
  // A public key registered without a kid is known by its RFC 7638 thumbprint.
  const keys = await Promise.all(app.jwks.keys.map(async (k) => (typeof k.kid === 'string' ? k : { ...k, kid: await calculateJwkThumbprint(k as JWK) })))
  let payload
  try {
    ;({ payload } = await jwtVerify(assertion, createLocalJWKSet({ keys } as unknown as JSONWebKeySet), {
      audience: endpointUrl,
      issuer: app.clientId,
      subject: app.clientId,
      currentDate: new Date(ctx.now()),
      clockTolerance: SKEW_SECONDS,
      requiredClaims: ['exp', 'jti'],
    }))
  } catch (err) {
    const code = (err as { code?: string }).code ?? ''
    return fail(code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' ? `The client_assertion token is invalid: ${(err as Error).message}.` : OKTA.assertionInvalid)
  }
  const nowS = ctx.now() / 1000
  if (typeof payload.iat === 'number' && payload.iat > nowS + SKEW_SECONDS) return fail('The client_assertion token has an issued at time in the future.')
  if (typeof payload.exp === 'number' && payload.exp > nowS + 3600 + SKEW_SECONDS)
    return fail('The client_assertion token has an expiration too far in the future.')
  const jti = String(payload.jti)
  for (const [id, exp] of ctx.state.usedAssertionIds) if (exp < ctx.now()) ctx.state.usedAssertionIds.delete(id)
  if (ctx.state.usedAssertionIds.has(jti)) return fail('The client_assertion token has already been used.')
  ctx.state.usedAssertionIds.set(jti, (payload.exp as number) * 1000)
  return { ok: true, app }
}
