/**
 * Names that appear on the wire: special paths, cookie names, header names.
 * One table, so a reviewer can see every name gatehouse owns.
 */

/** Every special endpoint lives under this prefix on every route host; the upstream never sees it. */
export const SPECIAL_PREFIX = '/.gatehouse/'

export const PATHS = {
  /** On a route host: the IdP's redirect URI, or (with authenticate_service_url) where one-time codes are redeemed. */
  callback: '/.gatehouse/callback',
  /** The sign-in host's IdP redirect URI: Pomerium's path, so an Okta app set up for Pomerium needs no change. */
  authenticateCallback: '/oauth2/callback',
  /** Programmatic sign-in (Pomerium's /.pomerium/api/v1/login): `?redirect_uri=http://localhost:PORT/…`. */
  apiLogin: '/.gatehouse/api/v1/login',
  signIn: '/.gatehouse/sign_in',
  /** OIDC third-party-initiated login (Okta dashboard tiles): `?iss=…&target_link_uri=…`. */
  initiateLogin: '/.gatehouse/login',
  signOut: '/.gatehouse/sign_out',
  signedOut: '/.gatehouse/signed_out',
  userPage: '/.gatehouse/',
  userJson: '/.gatehouse/user',
  /** OpenID Connect Front-Channel Logout 1.0: `?iss=…&sid=…`, framed by the IdP. */
  frontchannelLogout: '/.gatehouse/frontchannel_logout',
  /** OpenID Connect Back-Channel Logout 1.0: POST, form `logout_token`. */
  backchannelLogout: '/.gatehouse/backchannel_logout',
  /** Okta Universal Logout (Global Token Revocation): POST JSON, bearer JWT. */
  globalTokenRevocation: '/.gatehouse/global-token-revocation',
  jwks: '/.well-known/gatehouse/jwks.json',
  pomeriumJwks: '/.well-known/pomerium/jwks.json',
  healthz: '/healthz',
  readyz: '/readyz',
} as const

/** Pomerium's default cookie name; `cookie_name` overrides it. */
export const DEFAULT_COOKIE_NAME = '_gatehouse'

/** Suffix of the short-lived login-state cookies (one per sign-in attempt). */
export const LOGIN_COOKIE_SUFFIX = '_login_'

/** The CSRF cookie that guards POST /.gatehouse/sign_out. */
export const CSRF_COOKIE_SUFFIX = '_csrf'

export const DEFAULT_ASSERTION_HEADER = 'x-gatehouse-jwt-assertion'

/** Prefix of the unsigned identity headers sent with `pass_identity_headers`. */
export const CLAIM_HEADER_PREFIX = 'x-gatehouse-claim-'

export const REQUEST_ID_HEADER = 'x-request-id'
