/**
 * The relying party: one object per config that holds the discovered IdP,
 * its keys and the client authentication, and runs sign-in, refresh and
 * sign-out. It returns values and typed errors; it never writes a response.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import * as oidc from 'openid-client'
import { calculateJwkThumbprint, exportJWK, importPKCS8, type CryptoKey } from 'jose'
import type { CompiledConfig } from '../config/types.js'
import type { Identity } from '../policy/types.js'
import { callbackError, IdentityError, translateError } from './errors.js'
import { checkDiscovery, fetchDiscovery, isLoopback } from './discovery.js'
import { createKeySet, type FetchLike, type KeySet } from './key-set.js'
import { loginCookieSuffix, loginStateKey, openLoginState, sealLoginState, type LoginState } from './login-state.js'
import { ID_TOKEN_ALGORITHMS, NO_NONCE, verifyIdToken, type IdTokenClaims } from './verify-id-token.js'
import type { BearerServer } from './bearer.js'
import { verifyLogoutToken, type LogoutClaims } from './verify-logout-token.js'
import { verifyRevocationCall, type RevocationCall } from './verify-revocation-request.js'

/** The verified user (as policies see them) plus the tokens of the sign-in. */
export interface SignedInIdentity extends Identity {
  readonly idToken: string
  readonly accessToken: string
  readonly refreshToken: string | undefined
  /** The IdP's session id (`sid`), which front- and back-channel logout name. */
  readonly idpSid: string | undefined
  readonly idTokenExpiresAtMs: number
  /** From the token response's `expires_in`, when it had one. */
  readonly accessTokenExpiresAtMs: number | undefined
  /** A list at a round cap (Okta's 100) or marked incomplete may be cut: `unknown.groups` says so. */
  readonly groupsIncomplete: boolean
  /** Where the groups claim came from; `none`: neither the ID token nor /userinfo had it. */
  readonly groupsSource: 'id_token' | 'userinfo' | 'none'
}

export interface IdentityDeps {
  readonly fetch?: FetchLike
  readonly now?: () => number
  readonly timeoutMs?: number
  readonly jwksCooldownMs?: number
  readonly onJwksFetch?: (result: 'ok' | 'error') => void
  /**
   * A directory (Okta's API) completes groups that may be incomplete: then a sign-in without a groups claim has
   * groups that are merely not known yet (marked so the directory is asked), not an empty list.
   */
  readonly groupsFromDirectory?: boolean
}

export interface IdentityProvider {
  /** Discovery and the first key fetch. Rejects with an IdentityError; call again to retry. */
  ready(): Promise<void>
  isReady(): boolean
  beginLogin(returnTo: URL, redirectUri: string): Promise<{ authorizationUrl: URL; state: string; sealed: string }>
  /**
   * `consume(state)` marks the login state used (true) or reports it already used (false); it runs after the
   * state is checked and before the code exchange, so one login state costs at most one token-endpoint call.
   */
  completeLogin(
    callbackUrl: URL,
    sealed: string | undefined,
    consume?: (state: string) => Promise<boolean>,
  ): Promise<{ signedIn: SignedInIdentity; returnTo: URL }>
  refresh(refreshToken: string, expectedSub: string): Promise<SignedInIdentity>
  endSessionUrl(idTokenHint: string, postLogoutRedirectUri: string, state: string): URL | undefined
  loginCookieSuffix(state: string): string
  /** A back-channel logout token, verified (replay is the caller's check). Throws IDP_LOGOUT_TOKEN_INVALID. */
  verifyLogoutToken(token: string): Promise<LogoutClaims>
  /** A Universal Logout call's bearer JWT, for the endpoint at `endpointUrl`. Throws IDP_REVOCATION_AUTH_INVALID. */
  verifyRevocationCall(token: string, endpointUrl: string): Promise<RevocationCall>
  /** Revoke a refresh token at the IdP's revocation endpoint (RFC 7009); a no-op when the IdP has none. */
  revokeRefreshToken(refreshToken: string): Promise<void>
  /** The scopes sign-ins request: idp_scopes, or the defaults plus `groups` when discovery lists it. Known once ready. */
  scopes(): readonly string[]
  /** The discovery document, once ready. */
  metadata(): Readonly<Record<string, unknown>> | undefined
  /** For `check --online`: a code grant with a dummy code. invalid_grant proves the credentials. */
  probeClientAuth(redirectUri: string): Promise<IdentityError>
  /** The discovered issuer, its keys and introspection, for bearer tokens (bearer.ts). */
  bearerServer(): Promise<BearerServer>
  readonly keys: KeySet | undefined
}

/** Claims that describe the token, not the user: not kept in the session. */
const TOKEN_CLAIMS = new Set(['iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'c_hash', 'auth_time', 'jti', 'azp', 'sid', 'amr', 'idp', 'ver', 'acr'])
const MAX_CLAIM_BYTES = 2048
/** Okta's groups claim stops at 100 in most flows and claim expressions take a limit of at most 100. */
const GROUPS_CAPS = new Set([100])
export const GROUPS_INCOMPLETE_REASON = "the groups from Okta may be incomplete (100 groups, the claim's cap)"
const GROUPS_MARKED_INCOMPLETE = 'the groups from Okta are marked incomplete (the claim points elsewhere for the rest)'
const GROUPS_CLAIM_MISSING = 'Okta sent no groups claim'
/** An IdP clock further off than this is corrected for in client assertions. */
const MAX_CLOCK_SKEW_S = 5
const UNVERIFIED_EMAIL = 'the identity provider says this email address is not verified (email_verified: false)'
const MAX_SID_CHARS = 256

export function createIdentityProvider(idp: CompiledConfig['idp'], cookieSecret: Uint8Array, deps: IdentityDeps = {}): IdentityProvider {
  const fetchImpl: FetchLike = deps.fetch ?? ((input, init) => fetch(input, init))
  const now = deps.now ?? Date.now
  const timeoutMs = deps.timeoutMs ?? 10_000
  const stateKey = loginStateKey(cookieSecret)
  let config: oidc.Configuration | undefined
  let keys: KeySet | undefined
  let pending: Promise<void> | undefined
  let lastFailureMs = -Infinity
  let lastFailure: IdentityError | undefined
  let orgKeys: KeySet | undefined
  let scopes: readonly string[] = idp.scopes
  let algorithms: readonly string[] = ['RS256']
  /** The IdP's clock minus ours, in seconds (from its Date header): client assertions use the IdP's time. */
  let skewS = 0

  async function clientAuth(tokenEndpoint: string): Promise<oidc.ClientAuth> {
    switch (idp.clientAuthMethod) {
      case 'client_secret_post':
        return oidc.ClientSecretPost(idp.clientSecret)
      case 'private_key_jwt': {
        if (idp.clientPrivateKeyPem === undefined)
          throw new IdentityError('IDP_CONFIG_INVALID', 'idp_client_auth_method private_key_jwt needs idp_client_private_key_file')
        const { key, kid } = await assertionKey(idp.clientPrivateKeyPem, idp.clientPrivateKeyId)
        return oidc.PrivateKeyJwt(
          { key, kid },
          {
            [oidc.modifyAssertion]: (_header, payload) => {
              // Okta requires the client assertion's audience to be the token endpoint itself,
              // and refuses an iat in its future: use its clock, a few seconds early.
              payload.aud = tokenEndpoint
              const nowS = Math.floor(now() / 1000) + skewS - MAX_CLOCK_SKEW_S
              payload.iat = nowS
              payload.nbf = nowS
              payload.exp = nowS + 300
            },
          },
        )
      }
      default:
        return oidc.ClientSecretBasic(idp.clientSecret)
    }
  }

  async function discover(): Promise<void> {
    const startedMs = now()
    const metadata = checkDiscovery(
      idp.providerUrl,
      await fetchDiscovery(
        idp.providerUrl,
        async (input, init) => {
          const res = await fetchImpl(input, init)
          const date = Date.parse(res.headers.get('date') ?? '')
          if (Number.isFinite(date)) {
            const off = Math.round((date - (startedMs + now()) / 2) / 1000)
            skewS = Math.abs(off) > MAX_CLOCK_SKEW_S ? off : 0
          }
          return res
        },
        timeoutMs,
      ),
    )
    scopes = effectiveScopes(idp, metadata)
    algorithms = idTokenAlgorithms(metadata)
    const c = new oidc.Configuration(metadata, idp.clientId, { [oidc.clockTolerance]: 60 }, await clientAuth(String(metadata.token_endpoint)))
    c[oidc.customFetch] = (url, options) => fetchImpl(url, { ...(options as RequestInit), signal: AbortSignal.timeout(timeoutMs) })
    if (new URL(idp.providerUrl).protocol === 'http:' && isLoopback(new URL(idp.providerUrl))) oidc.allowInsecureRequests(c)
    const k = createKeySet({
      jwksUri: new URL(String(metadata.jwks_uri)),
      fetch: fetchImpl,
      now,
      ...(deps.jwksCooldownMs === undefined ? {} : { cooldownMs: deps.jwksCooldownMs }),
      ...(deps.onJwksFetch === undefined ? {} : { onFetch: deps.onJwksFetch }),
    })
    try {
      await k.refresh()
    } catch (cause) {
      throw new IdentityError('IDP_UNREACHABLE', `could not fetch the IdP's signing keys from ${String(metadata.jwks_uri)}`, { cause })
    }
    config = c
    keys = k
  }

  /** Discovery once; after a failure, new attempts wait a few seconds so an outage is not hammered. */
  async function ensure(): Promise<{ config: oidc.Configuration; keys: KeySet }> {
    if (config !== undefined && keys !== undefined) return { config, keys }
    if (pending === undefined) {
      if (lastFailure !== undefined && now() - lastFailureMs < 5_000) throw lastFailure
      pending = discover()
        .catch((err: unknown) => {
          lastFailure = err instanceof IdentityError ? err : translateError(err, 'discovery')
          lastFailureMs = now()
          throw lastFailure
        })
        .finally(() => (pending = undefined))
    }
    await pending
    if (config === undefined || keys === undefined) throw lastFailure ?? new IdentityError('IDP_UNREACHABLE', 'the IdP is not ready')
    return { config, keys }
  }

  async function identityFrom(
    c: oidc.Configuration,
    k: KeySet,
    tokens: oidc.TokenEndpointResponse,
    expectedNonce: string | typeof NO_NONCE,
    previous?: { refreshToken: string; sub: string },
  ): Promise<SignedInIdentity> {
    if (typeof tokens.id_token !== 'string')
      throw new IdentityError('IDP_TOKEN_INVALID', 'the IdP returned no ID token; include the openid scope in idp_scopes')
    // Straight from the token endpoint: an unknown kid means Okta rotated, refetch at once.
    const claims = await verifyIdToken(tokens.id_token, k, { issuer: idp.providerUrl, clientId: idp.clientId, expectedNonce, now, algorithms, fromIdp: true })
    if (previous !== undefined && claims.sub !== previous.sub) throw new IdentityError('IDP_TOKEN_INVALID', 'the refreshed ID token is for a different user')
    let source: Record<string, unknown> = claims
    let groupsSource: SignedInIdentity['groupsSource'] = claims[idp.groupsClaim] === undefined ? 'none' : 'id_token'
    // Okta's org authorization server issues thin ID tokens: groups and profile come from /userinfo.
    if (claims[idp.groupsClaim] === undefined && c.serverMetadata().userinfo_endpoint !== undefined) {
      try {
        const info = await oidc.fetchUserInfo(c, tokens.access_token, claims.sub)
        source = { ...info, ...claims, [idp.groupsClaim]: info[idp.groupsClaim], email: claims.email ?? info.email, name: claims.name ?? info.name }
        if (info[idp.groupsClaim] !== undefined) groupsSource = 'userinfo'
      } catch (err) {
        throw translateError(err, 'the userinfo request')
      }
    }
    return toIdentity(claims, source, tokens, previous?.refreshToken, groupsSource)
  }

  function toIdentity(
    claims: IdTokenClaims,
    source: Record<string, unknown>,
    tokens: oidc.TokenEndpointResponse,
    previousRefresh: string | undefined,
    groupsSource: SignedInIdentity['groupsSource'],
  ): SignedInIdentity {
    const raw = source[idp.groupsClaim]
    const all = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string') : typeof raw === 'string' ? [raw] : []
    const filter = idp.groupsFilter
    const groups = filter === undefined ? all : all.filter((g) => filter.test(g))
    // A list exactly at a cap may have been cut there; OIDC's _claim_names marks a claim whose rest lives elsewhere.
    const names = source._claim_names
    const incomplete = GROUPS_CAPS.has(all.length)
      ? GROUPS_INCOMPLETE_REASON
      : typeof names === 'object' && names !== null && idp.groupsClaim in names
        ? GROUPS_MARKED_INCOMPLETE
        : groupsSource === 'none' && deps.groupsFromDirectory === true
          ? GROUPS_CLAIM_MISSING
          : undefined
    const kept: Record<string, unknown> = {}
    let bytes = 0
    for (const [name, value] of Object.entries(source)) {
      // sub, email and name are kept as fields of their own; groups after the filter.
      if (TOKEN_CLAIMS.has(name) || name === idp.groupsClaim || name === 'sub' || name === 'email' || name === 'name') continue
      const size = JSON.stringify(value ?? null).length + name.length
      if (bytes + size > MAX_CLAIM_BYTES) continue
      bytes += size
      kept[name] = value
    }
    const email = typeof source.email === 'string' ? source.email : undefined
    // Okta sends email_verified with the email scope. An address the IdP has not verified proves nothing about who
    // signed in (anyone can type one in a self-service profile), so email and domain criteria treat it as unknown.
    const emailUnverified = email !== undefined && (source.email_verified === false || source.email_verified === 'false')
    return {
      sub: claims.sub,
      email,
      name: typeof source.name === 'string' ? source.name : typeof source.preferred_username === 'string' ? source.preferred_username : undefined,
      groups,
      claims: kept,
      idToken: tokens.id_token as string,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token ?? previousRefresh,
      idpSid: typeof claims.sid === 'string' && claims.sid.length > 0 && claims.sid.length <= MAX_SID_CHARS ? claims.sid : undefined,
      idTokenExpiresAtMs: claims.exp * 1000,
      accessTokenExpiresAtMs: typeof tokens.expires_in === 'number' && tokens.expires_in > 0 ? now() + tokens.expires_in * 1000 : undefined,
      groupsIncomplete: incomplete !== undefined,
      groupsSource,
      // What gatehouse cannot establish: an unverified email, a groups list that may be cut.
      ...(emailUnverified || incomplete !== undefined
        ? { unknown: { ...(emailUnverified ? { email: UNVERIFIED_EMAIL } : {}), ...(incomplete === undefined ? {} : { groups: incomplete }) } }
        : {}),
    }
  }

  // Okta's org authorization server (no /oauth2/{id} in the issuer): its access tokens are for Okta, checked only by introspection.
  const isOrgServer = idp.provider === 'okta' && !new URL(idp.providerUrl).pathname.startsWith('/oauth2/')

  async function bearerServer(): Promise<BearerServer> {
    const { config: c, keys: k } = await ensure()
    const hasIntrospection = typeof c.serverMetadata().introspection_endpoint === 'string'
    return {
      issuer: idp.providerUrl,
      keys: k,
      isOrgServer,
      introspect: hasIntrospection
        ? async (token) => {
            try {
              return await oidc.tokenIntrospection(c, token, { token_type_hint: 'access_token' })
            } catch (err) {
              throw translateError(err, 'token introspection')
            }
          }
        : undefined,
    }
  }

  return {
    bearerServer,
    get keys() {
      return keys
    },
    ready: async () => void (await ensure()),
    scopes: () => scopes,
    metadata: () => config?.serverMetadata(),
    isReady: () => config !== undefined && keys !== undefined,
    loginCookieSuffix,

    async beginLogin(returnTo, redirectUri) {
      const { config: c } = await ensure()
      const state: LoginState = {
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        codeVerifier: oidc.randomPKCECodeVerifier(),
        returnTo: returnTo.href,
        redirectUri,
        createdAtMs: now(),
      }
      const authorizationUrl = oidc.buildAuthorizationUrl(c, {
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: scopes.join(' '),
        state: state.state,
        nonce: state.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(state.codeVerifier),
        code_challenge_method: 'S256',
      })
      return { authorizationUrl, state: state.state, sealed: sealLoginState(state, stateKey) }
    },

    async completeLogin(callbackUrl, sealed, consume) {
      const params = callbackUrl.searchParams
      const error = params.get('error')
      const states = params.getAll('state')
      const login = openLoginState(sealed, stateKey, now())
      // Okta's words reach the page only for a sign-in this browser started: the state is checked first.
      if (error !== null && states.length === 1 && login !== undefined && login.state === states[0])
        throw callbackError(error, params.get('error_description'), idp.providerUrl)
      if (states.length !== 1 || login === undefined || login.state !== states[0]) {
        throw new IdentityError(
          'IDP_STATE_INVALID',
          states.length === 0
            ? 'the callback has no state'
            : states.length > 1
              ? 'the callback has more than one state'
              : "the callback's state does not belong to a sign-in started in this browser (or it expired)",
        )
      }
      if (params.getAll('code').length !== 1) throw new IdentityError('IDP_STATE_INVALID', 'the callback has no single authorization code')
      // Single use, before the code exchange: a replayed state never reaches the token endpoint.
      if (consume !== undefined && !(await consume(login.state))) throw new IdentityError('IDP_STATE_INVALID', 'this sign-in attempt was already used')
      const { config: c, keys: k } = await ensure()
      // openid-client checks the redirect against the URL it is given: hand it the registered redirect URI plus the query.
      const current = new URL(login.redirectUri)
      current.search = callbackUrl.search
      let tokens: oidc.TokenEndpointResponse
      try {
        tokens = await oidc.authorizationCodeGrant(c, current, {
          expectedState: login.state,
          expectedNonce: login.nonce,
          pkceCodeVerifier: login.codeVerifier,
          idTokenExpected: true,
        })
      } catch (err) {
        throw translateError(err, 'the code exchange')
      }
      return { signedIn: await identityFrom(c, k, tokens, login.nonce), returnTo: new URL(login.returnTo) }
    },

    async refresh(refreshToken, expectedSub) {
      const { config: c, keys: k } = await ensure()
      let tokens: oidc.TokenEndpointResponse
      try {
        tokens = await oidc.refreshTokenGrant(c, refreshToken)
      } catch (err) {
        throw translateError(err, 'the refresh')
      }
      return identityFrom(c, k, tokens, NO_NONCE, { refreshToken, sub: expectedSub })
    },

    endSessionUrl(idTokenHint, postLogoutRedirectUri, state) {
      if (config === undefined || config.serverMetadata().end_session_endpoint === undefined) return undefined
      return oidc.buildEndSessionUrl(config, { id_token_hint: idTokenHint, post_logout_redirect_uri: postLogoutRedirectUri, state })
    },

    async verifyLogoutToken(token) {
      const { keys: k } = await ensure()
      return verifyLogoutToken(token, k, { issuer: idp.providerUrl, clientId: idp.clientId, now })
    },

    async verifyRevocationCall(token, endpointUrl) {
      const { keys: k } = await ensure()
      // Okta signs these as the org (its URL, or the custom domain's), with the org's keys,
      // also when gatehouse signs in through a custom authorization server.
      const org = new URL(idp.providerUrl).origin
      const keysFor = (iss: string): KeySet | undefined => {
        if (iss === idp.providerUrl) return k
        if (idp.provider !== 'okta' || iss !== org) return undefined
        orgKeys ??= createKeySet({
          jwksUri: new URL('/oauth2/v1/keys', org),
          fetch: fetchImpl,
          now,
          ...(deps.jwksCooldownMs === undefined ? {} : { cooldownMs: deps.jwksCooldownMs }),
        })
        return orgKeys
      }
      return verifyRevocationCall(token, { keysFor, clientId: idp.clientId, endpointUrl, now })
    },

    async revokeRefreshToken(refreshToken) {
      const { config: c } = await ensure()
      if (c.serverMetadata().revocation_endpoint === undefined) return
      try {
        await oidc.tokenRevocation(c, refreshToken, { token_type_hint: 'refresh_token' })
      } catch (err) {
        throw translateError(err, 'the token revocation')
      }
    },

    async probeClientAuth(redirectUri) {
      try {
        const { config: c } = await ensure()
        await oidc.genericGrantRequest(c, 'authorization_code', { code: 'gatehouse-credential-probe', redirect_uri: redirectUri })
        return new IdentityError('IDP_TOKEN_REQUEST_FAILED', 'the IdP accepted a dummy authorization code')
      } catch (err) {
        return translateError(err, 'the credential probe')
      }
    },
  }
}

/** idp_scopes as written; otherwise the defaults, plus `groups` when the server lists it (Okta's org server always does). */
function effectiveScopes(idp: CompiledConfig['idp'], metadata: oidc.ServerMetadata): readonly string[] {
  if (idp.scopesExplicit === true) return idp.scopes
  const supported = Array.isArray(metadata.scopes_supported) ? metadata.scopes_supported : []
  return supported.includes('groups') && !idp.scopes.includes('groups') ? [...idp.scopes, 'groups'] : idp.scopes
}

/** The ID-token algorithms the server says it uses, among the asymmetric ones we accept (RS256 when it does not say). */
function idTokenAlgorithms(metadata: oidc.ServerMetadata): readonly string[] {
  const listed = Array.isArray(metadata.id_token_signing_alg_values_supported) ? metadata.id_token_signing_alg_values_supported : []
  const ok = listed.filter((a): a is string => (ID_TOKEN_ALGORITHMS as readonly string[]).includes(a))
  return ok.length > 0 ? ok : ['RS256']
}

/**
 * The client-assertion key: `alg` from the key (RS256 for RSA, ES256/384/512
 * by curve) and `kid`: idp_client_private_key_id, else the key's RFC 7638
 * thumbprint (give the same kid to the public key in the Okta app).
 */
async function assertionKey(pem: string, configuredKid: string | undefined): Promise<{ key: CryptoKey; kid: string }> {
  const keyObject = createPrivateKey(pem)
  let alg = 'RS256'
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve
    alg = curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256'
  } else if (keyObject.asymmetricKeyType !== 'rsa') {
    throw new IdentityError('IDP_CONFIG_INVALID', 'idp_client_private_key_file must hold an RSA or EC private key')
  }
  const key = await importPKCS8(keyObject.export({ format: 'pem', type: 'pkcs8' }).toString(), alg)
  if (configuredKid !== undefined) return { key, kid: configuredKid }
  return { key, kid: await calculateJwkThumbprint(await exportJWK(createPublicKey(keyObject))) }
}
