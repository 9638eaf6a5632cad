/**
 * Identity errors, and the one place where openid-client's and jose's
 * failures become ours. Decisions branch on codes and classes, never on
 * message text: `invalid_grant` ends a session, a network failure does not.
 */
import * as oidc from 'openid-client'
import { errors as joseErrors } from 'jose'
import { GatehouseError } from '../errors.js'
import { accessDeniedAdvice, accessDeniedCause, isTooManyGroups, tooManyGroupsAdvice } from './okta-advice.js'

export const IDP_ERROR_CODES = [
  'IDP_DISCOVERY_FAILED',
  'IDP_ISSUER_MISMATCH',
  'IDP_UNREACHABLE',
  'IDP_RATE_LIMITED',
  'IDP_CALLBACK_ERROR',
  'IDP_STATE_INVALID',
  'IDP_TOKEN_INVALID',
  'IDP_INVALID_GRANT',
  'IDP_CLIENT_AUTH_FAILED',
  'IDP_TOKEN_REQUEST_FAILED',
  'IDP_CONFIG_INVALID',
  'IDP_LOGOUT_TOKEN_INVALID',
  'IDP_REVOCATION_AUTH_INVALID',
] as const
export type IdpErrorCode = (typeof IDP_ERROR_CODES)[number]

export class IdentityError extends GatehouseError<IdpErrorCode> {
  /** The OAuth `error` value when the IdP sent one. */
  readonly oauthError: string | undefined
  /** The OAuth `error_description` when the IdP sent one (Okta's exact words). */
  readonly oauthDescription: string | undefined
  /** IDP_RATE_LIMITED: when Okta's X-Rate-Limit-Reset says to try again (epoch ms), if it said. */
  readonly retryAtMs: number | undefined

  constructor(code: IdpErrorCode, message: string, options?: { cause?: unknown; oauthError?: string; oauthDescription?: string; retryAtMs?: number }) {
    super(code, message, options)
    this.oauthError = options?.oauthError
    this.oauthDescription = options?.oauthDescription
    this.retryAtMs = options?.retryAtMs
  }
}

/**
 * Only these pass: a network failure, a 5xx and a 429. Every other answer
 * (invalid_grant, invalid_client after a secret rotation, unauthorized_client
 * after the grant was removed, any other 4xx) will not heal by waiting.
 */
export function isTemporary(err: unknown): boolean {
  return err instanceof IdentityError && (err.code === 'IDP_UNREACHABLE' || err.code === 'IDP_RATE_LIMITED')
}

/** Okta's 429 names its reset time in X-Rate-Limit-Reset (epoch seconds). */
function rateLimited(res: Response, during: string, cause: unknown): IdentityError {
  const reset = Number(res.headers.get('x-rate-limit-reset'))
  const retryAtMs = Number.isFinite(reset) && reset > 0 ? reset * 1000 : undefined
  const when = retryAtMs === undefined ? '' : ` until ${new Date(retryAtMs).toISOString()}`
  return new IdentityError('IDP_RATE_LIMITED', `Okta is rate limiting gatehouse (HTTP 429) during ${during}${when}`, {
    cause,
    ...(retryAtMs === undefined ? {} : { retryAtMs }),
  })
}

function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return true
  // undici reports connection failures as TypeError('fetch failed') with a cause.
  return err instanceof TypeError && err.cause !== undefined
}

function responseOf(err: unknown): Response | undefined {
  if (err instanceof oidc.ResponseBodyError) return err.response
  const cause = (err as { cause?: unknown } | null)?.cause
  return cause instanceof Response ? cause : undefined
}

/** Map a failure of a token-endpoint or userinfo call to our codes, keeping the cause. */
export function translateError(err: unknown, during: string): IdentityError {
  if (err instanceof IdentityError) return err
  const response = responseOf(err)
  if (response?.status === 429) return rateLimited(response, during, err)
  if (err instanceof oidc.ResponseBodyError) {
    const desc = typeof err.cause.error_description === 'string' ? `: ${err.cause.error_description}` : ''
    const described = typeof err.cause.error_description === 'string' ? { oauthDescription: err.cause.error_description.slice(0, 300) } : {}
    if (err.error === 'invalid_grant')
      return new IdentityError('IDP_INVALID_GRANT', `the IdP refused the grant during ${during} (invalid_grant${desc})`, {
        cause: err,
        oauthError: err.error,
        ...described,
      })
    if (err.error === 'invalid_client' || err.error === 'unauthorized_client') {
      return new IdentityError(
        'IDP_CLIENT_AUTH_FAILED',
        `the IdP rejected gatehouse's client credentials during ${during} (${err.error}${desc}); check idp_client_id, idp_client_secret and idp_client_auth_method against the Okta app`,
        { cause: err, oauthError: err.error },
      )
    }
    if (err.status >= 500)
      return new IdentityError('IDP_UNREACHABLE', `the IdP failed during ${during} (HTTP ${err.status})`, { cause: err, oauthError: err.error })
    return new IdentityError('IDP_TOKEN_REQUEST_FAILED', `the IdP refused the request during ${during} (${err.error}${desc})`, {
      cause: err,
      oauthError: err.error,
      ...described,
    })
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    return new IdentityError(
      'IDP_CLIENT_AUTH_FAILED',
      `the IdP rejected gatehouse's client credentials during ${during} (HTTP ${err.status}); check idp_client_id, idp_client_secret and idp_client_auth_method against the Okta app`,
      { cause: err },
    )
  }
  if (isNetworkError(err)) return new IdentityError('IDP_UNREACHABLE', `the IdP could not be reached during ${during}`, { cause: err })
  if (err instanceof joseErrors.JOSEError)
    return new IdentityError('IDP_TOKEN_INVALID', `the ID token was rejected during ${during} (${err.code})`, { cause: err })
  if (err instanceof oidc.ClientError) {
    // openid-client's own checks (state, nonce, iss, aud, exp …) or a malformed response.
    const code = (err as { code?: string }).code ?? 'error'
    if (code === 'OAUTH_TIMEOUT' || (err.cause !== undefined && isNetworkError(err.cause)))
      return new IdentityError('IDP_UNREACHABLE', `the IdP did not answer in time during ${during}`, { cause: err })
    if (code === 'OAUTH_RESPONSE_IS_NOT_JSON' || code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') {
      // A 5xx (or a 200 that is not usable) is Okta failing: temporary. Any other 4xx will not heal by waiting.
      if (response !== undefined && response.status >= 400 && response.status < 500)
        return new IdentityError('IDP_TOKEN_REQUEST_FAILED', `the IdP refused the request during ${during} (HTTP ${response.status})`, { cause: err })
      return new IdentityError('IDP_UNREACHABLE', `the IdP sent an unusable response during ${during} (${code})`, { cause: err })
    }
    return new IdentityError('IDP_TOKEN_INVALID', `the IdP's response failed a check during ${during} (${code})`, { cause: err })
  }
  return new IdentityError('IDP_TOKEN_REQUEST_FAILED', `unexpected failure during ${during}`, { cause: err })
}

/** Okta's `error` values at the callback, in words an admin can act on. */
const CALLBACK_ADVICE: Record<string, string> = {
  invalid_scope:
    'Okta rejected the requested scopes. Check idp_scopes, and in Okta allow them on the authorization server (Security → API → Authorization Servers → Scopes); offline_access needs the Refresh Token grant enabled on the app.',
  unauthorized_client:
    "The Okta app is not allowed to use the authorization-code flow. In Okta, enable the Authorization Code grant type (and Refresh Token) on the app's General tab.",
  invalid_request:
    "Okta found the sign-in request malformed. Check that this URL's /.gatehouse/callback is registered as a Sign-in redirect URI of the Okta app.",
  invalid_client: "Okta does not recognise the client. Check idp_client_id against the Okta app's Client ID.",
  login_required: 'Okta needs you to sign in again. Start again from the page you wanted.',
  consent_required: 'Okta needs consent for this app. An Okta admin can grant consent, or disable "Require consent" on the app.',
  interaction_required: 'Okta needs you to interact with its sign-in page (a second factor, say). Start again from the page you wanted.',
  server_error: 'Okta reported an internal error. Try again in a minute.',
  temporarily_unavailable: 'Okta is temporarily unavailable. Try again in a minute.',
}

/**
 * An `error` Okta sent to the callback, for a sign-in this browser started
 * (the caller checks the state first: otherwise anyone could put words on
 * gatehouse's page with a crafted link).
 */
export function callbackError(error: string, description: string | null, issuer: string): IdentityError {
  let advice: string
  if (error === 'access_denied') advice = accessDeniedAdvice(accessDeniedCause(description), issuer)
  else if (isTooManyGroups(description)) advice = tooManyGroupsAdvice(issuer)
  else advice = CALLBACK_ADVICE[error] ?? `Okta returned the error "${error.slice(0, 64)}".`
  const detail = description === null ? '' : ` (Okta said: ${description.slice(0, 300)})`
  return new IdentityError('IDP_CALLBACK_ERROR', advice + detail, {
    oauthError: error.slice(0, 64),
    ...(description === null ? {} : { oauthDescription: description.slice(0, 300) }),
  })
}
