/**
 * The discovery documents: the org server's at `/.well-known/openid-configuration`
 * (endpoints under `/oauth2/v1/`), a custom server's at
 * `{issuer}/.well-known/openid-configuration` (endpoints under `{issuer}/v1/`).
 * `scopes_supported` lists `groups` on the org server always, on a custom
 * server only when the admin created that scope, as Okta does.
 */
import { scopesSupported } from './authorize.js'
import { endpointBase, issuerOf, type IdpContext } from './context.js'
import type { DevServer } from './model.js'

/** Endpoint names other modules may add (introspection, say) so discovery lists them. */
export const EXTRA_METADATA: Array<(ctx: IdpContext, server: DevServer) => Record<string, unknown>> = []

export function discoveryDocument(ctx: IdpContext, server: DevServer): Record<string, unknown> {
  const base = endpointBase(ctx, server)
  return {
    issuer: issuerOf(ctx, server),
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    userinfo_endpoint: `${base}/userinfo`,
    jwks_uri: `${base}/keys`,
    end_session_endpoint: `${base}/logout`,
    revocation_endpoint: `${base}/revoke`,
    introspection_endpoint: `${base}/introspect`,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'code token', 'id_token token', 'code id_token token'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    grant_types_supported: ['authorization_code', 'implicit', 'refresh_token', 'client_credentials'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [server.signingAlg],
    scopes_supported: scopesSupported(server),
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'],
    claims_supported: [
      'iss',
      'ver',
      'sub',
      'aud',
      'iat',
      'exp',
      'jti',
      'auth_time',
      'amr',
      'idp',
      'nonce',
      'name',
      'preferred_username',
      'email',
      'email_verified',
      'at_hash',
      'groups',
    ],
    code_challenge_methods_supported: ['S256'],
    request_parameter_supported: true,
    ...Object.assign({}, ...EXTRA_METADATA.map((f) => f(ctx, server))),
  }
}
