/**
 * Every HTTP refusal gatehouse answers with, in one table: the `error` code an
 * API client reads in the JSON body, the status, and the page's title and
 * default text. The codes are a contract (docs/errors.md lists them; a test
 * keeps that page and this table in step).
 */

export interface RefusalEntry {
  /** The usual status; a few codes carry a status chosen by the cause (noted in `statusNote`). */
  readonly status: number
  readonly title: string
  readonly message: string
  readonly hint?: string
  /** When the status depends on the cause, which statuses and why (for the docs). */
  readonly statusNote?: string
}

export const REFUSALS = {
  bad_request: {
    status: 400,
    title: 'Bad request',
    message: 'The request could not be read.',
    statusNote: '400, or the 4xx the HTTP parser chose (413 for a body over 1 MiB); 403 from /.gatehouse/verify (nginx auth_request takes only 2xx/401/403)',
  },
  not_found: {
    status: 404,
    title: 'Not found',
    message: 'No route is configured for this address.',
    statusNote: '404; 403 from /.gatehouse/verify (nginx auth_request takes only 2xx/401/403)',
  },
  method_not_allowed: { status: 405, title: 'Method not allowed', message: 'This gatehouse endpoint does not accept that method.' },
  login_required: { status: 401, title: 'Sign in first', message: 'Sign in first.' },
  invalid_token: {
    status: 401,
    title: 'Invalid token',
    message: 'The bearer token was not accepted.',
    statusNote:
      '401 a missing, malformed, expired or foreign token (with WWW-Authenticate: Bearer error="invalid_token"); 503 when the IdP could not be asked to check it',
  },
  forbidden: { status: 403, title: 'Access denied', message: "This route's policy does not let you in." },
  csrf: { status: 403, title: 'Sign-out was not confirmed', message: 'The sign-out form had expired or did not come from this site.' },
  forward_auth_untrusted: {
    status: 403,
    title: 'Not a trusted proxy',
    message: 'Only the proxies listed in trusted_proxies may ask gatehouse forward-auth questions.',
    hint: "Add the ingress's address (or its network) to trusted_proxies.",
  },
  forward_auth_method_unknown: {
    status: 403,
    title: 'Original method unknown',
    message: "The forward-auth check names the original URL but not the original request's method, so it cannot be judged.",
    hint: 'Have the proxy send the method: with X-Original-URL, nginx needs `proxy_set_header X-Original-Method $request_method;`; with X-Forwarded-Uri, X-Forwarded-Method.',
  },
  invalid_client_certificate: {
    status: 495,
    title: 'Client certificate required',
    message: 'This site needs a valid client certificate, issued by a certificate authority it trusts.',
    hint: 'Install the certificate your organisation issued for this browser or device, then try again.',
  },
  sign_in_failed: {
    status: 401,
    title: 'Sign-in failed',
    message: "The identity provider's answer could not be verified, so you were not signed in.",
    statusNote: '400 unknown or reused sign-in attempt, 403 the IdP refused (access_denied), 502 the IdP unreachable, 401 an answer that failed verification',
  },
  session_store_unavailable: {
    status: 503,
    title: 'Temporarily unavailable',
    message: 'gatehouse cannot reach its session store right now, so it cannot check who you are. Nothing was let through.',
    hint: 'Try again in a moment. If this persists, the operators should check the session store connection.',
  },
  idp_unreachable: {
    status: 502,
    title: 'Sign-in is unavailable',
    message: 'gatehouse could not reach the identity provider (Okta) to sign you in.',
    hint: 'Try again in a minute. If it keeps happening, the operators should check that idp_provider_url is reachable from gatehouse.',
  },
  upstream_unavailable: {
    status: 502,
    title: 'The service is unavailable',
    message: 'gatehouse could not reach the service behind this address.',
    hint: 'Try again in a moment. If it keeps happening, the service may be down.',
  },
  upstream_timeout: {
    status: 504,
    title: 'The service took too long',
    message: 'The service behind this address did not answer in time.',
    hint: 'Try again. If it keeps happening, the service may be overloaded, or the route needs a longer timeout.',
  },
  request_timeout: {
    status: 408,
    title: 'The request took too long',
    message: 'The request body did not arrive in time, so it was not passed on.',
    hint: 'Try again on a better connection. For long uploads, the route needs a longer timeout or idle_timeout.',
  },
  too_many_concurrent_requests: {
    status: 429,
    title: 'Too many requests at once',
    message: 'Your address already has as many requests in progress to this service as gatehouse lets one client have.',
    hint: 'Wait for them to finish, then try again.',
  },
  too_many_requests: {
    status: 429,
    title: 'Too many sign-in attempts',
    message: 'Too many sign-in attempts came from your address in the last minute.',
    hint: 'Wait a minute, then start again from the page you wanted to open.',
  },
  internal_error: {
    status: 500,
    title: 'Something went wrong',
    message: 'gatehouse hit an unexpected error. Nothing was forwarded.',
    hint: 'Try again; if it persists, give the operators the request id below.',
  },
} as const satisfies Record<string, RefusalEntry>

export type RefusalCode = keyof typeof REFUSALS
