/**
 * Identity: the OpenID Connect relying party for Okta (or any issuer).
 * Discovery with an exact issuer match, the authorization-code flow with PKCE,
 * ID tokens verified with jose against the IdP's keys, groups from the ID
 * token or (for Okta's thin org-server tokens) from userinfo, refresh with
 * rotation, and the end-session URL. It never writes HTTP responses.
 *
 *   const idp = createIdentityProvider(config.idp, config.cookie.secret)
 *   await idp.ready()
 *   const { authorizationUrl, state, sealed } = await idp.beginLogin(returnTo, redirectUri)
 *   const { signedIn } = await idp.completeLogin(callbackUrl, sealed)
 */
export { createIdentityProvider, GROUPS_INCOMPLETE_REASON, type IdentityProvider, type SignedInIdentity, type IdentityDeps } from './provider.js'
export { IdentityError, IDP_ERROR_CODES, type IdpErrorCode, translateError, callbackError, isTemporary } from './errors.js'
export { missingGroupsAdvice, serverKindOf } from './okta-advice.js'
export { verifyIdToken, NO_NONCE } from './verify-id-token.js'
export { verifyLogoutToken, BACKCHANNEL_LOGOUT_EVENT, type LogoutClaims } from './verify-logout-token.js'
export { verifyRevocationCall, readRevocationSubject, type RevocationCall, type RevocationSubject } from './verify-revocation-request.js'
export { createKeySet, type KeySet } from './key-set.js'
export {
  createBearerVerifier,
  INTROSPECTION_CACHE_MS,
  type BearerServer,
  type BearerVerifier,
  type BearerResult,
  type BearerVerifierOptions,
} from './bearer.js'
export { verifyAccessToken, TokenRejected, ACCESS_TOKEN_ALGORITHMS } from './verify-access-token.js'
export {
  identityFromAccessToken,
  identityFromIdToken,
  claimsFromIntrospection,
  groupsFrom,
  GROUPS_CAP,
  MACHINE_UNKNOWN,
  type TokenIdentity,
} from './token-identity.js'
export { createDirectory, completeGroups, nextLink, type Directory, type DirectoryAnswer, type DirectoryCache, type DirectoryDeps } from './directory.js'
export { createDirectoryAuth, DirectoryFailure, DIRECTORY_SCOPES } from './directory-credential.js'
export { checkDiscovery, fetchDiscovery, discoveryUrl } from './discovery.js'
export { sealLoginState, openLoginState, loginCookieSuffix, loginStateKey, LOGIN_STATE_TTL_MS } from './login-state.js'
