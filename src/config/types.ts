/**
 * The compiled configuration: what every other module reads. Produced once by
 * `loadConfig` (src/config), frozen, swapped whole on reload. Nothing downstream
 * parses YAML, decodes base64 or builds a RegExp.
 *
 * This file is the contract between src/config and its users (server, proxy,
 * identity, session, commands). Change it only together with them.
 */
import type { CompiledPolicy, SourcePosition } from '../policy/types.js'
import type { LinearRegex } from './linear-regex.js'
import type { DownstreamMtls } from './downstream-mtls.js'
import type { PostgresConnection } from './postgres-dsn.js'
import type { ForwardAuthHost } from './forward-auth-url.js'

export type IdpProvider = 'okta' | 'oidc'
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt'
export type SameSite = 'lax' | 'strict' | 'none'
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

export interface Problem {
  readonly file: string
  readonly line: number
  readonly col: number
  /** Key path: `routes[2].policy[0].allow.and[1]`. '' for the whole file. */
  readonly path: string
  readonly code: string
  readonly message: string
  /** e.g. `did you mean "groups"?` */
  readonly hint?: string
}

export interface Upstream {
  /** Parsed `to` URL (scheme http or https, path kept for Pomerium's path-prefixing semantics). */
  readonly url: URL
  /** Pomerium's `,weight` suffix; 1 when absent. */
  readonly weight: number
}

export type PathMatcher =
  | { readonly kind: 'any' }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'path'; readonly path: string }
  | {
      readonly kind: 'regex'
      readonly source: string
      /** Tested on the path without its trailing slash plus '/': matches the path with or without one trailing slash. */
      readonly tolerant: LinearRegex
      /** The same, case-insensitive. */
      readonly tolerantFolded: LinearRegex
    }

export interface CompiledRoute {
  /** Index in the config's `routes` list. */
  readonly index: number
  /** A stable, human-readable id for logs and metrics: `grafana.corp.example/admin` style. */
  readonly id: string
  readonly from: URL
  /** Lower-case hostname of `from`, no port. */
  readonly host: string
  /** The port of `from` when given explicitly, else undefined (matches any port). */
  readonly port: number | undefined
  readonly scheme: 'http' | 'https'
  readonly path: PathMatcher
  readonly to: readonly Upstream[]
  readonly prefixRewrite: string | undefined
  readonly preserveHostHeader: boolean
  readonly hostRewrite: string | undefined
  readonly allowWebsockets: boolean
  /** `allow_path_parameters`: accept `;` in path segments; the policy judges the path with them removed. */
  readonly allowPathParameters: boolean
  /** `timeout`: up to the upstream's response headers, body upload included; also between response chunks. 0: none. */
  readonly timeoutMs: number
  /** `idle_timeout`: the longest pause in the request body. 0: none. */
  readonly idleTimeoutMs: number
  /** Values may hold `${gatehouse.id_token}`, `${gatehouse.access_token}`, `${gatehouse.jwt}` (or `${pomerium.…}`). */
  readonly setRequestHeaders: Readonly<Record<string, string>>
  /** Lower-case header names. */
  readonly removeRequestHeaders: readonly string[]
  readonly setResponseHeaders: Readonly<Record<string, string>>
  readonly passIdentityHeaders: boolean
  readonly tlsSkipVerify: boolean
  /** PEM contents of `tls_custom_ca_file`, read at load. */
  readonly tlsCustomCa: string | undefined
  /** The route's whole policy: `policy` plus the legacy keys, compiled. */
  readonly policy: CompiledPolicy
  /** True for `allow_public_unauthenticated_access` alone: no session lookup at all. */
  readonly isPublic: boolean
  /** `bearer_token_format`, `idp_access_token_allowed_audiences` (route over global) and `pass_bearer_token`. */
  readonly bearer: RouteBearer
  readonly at: SourcePosition
}

export interface RouteMatch {
  readonly route: CompiledRoute
}

/** The route for a request path, or why there is none. `ambiguous`: a case-insensitive comparison would pick another route. */
export type RouteFind = { readonly kind: 'route'; readonly route: CompiledRoute } | { readonly kind: 'none' } | { readonly kind: 'ambiguous' }

export interface RouteTable {
  /** The route for a request (host: the Host header's hostname, any case, without port; port: the request's port or undefined). */
  find(host: string, port: number | undefined, path: string): RouteFind
  /** The first route whose pattern matches, without the case-ambiguity check (for `explain`). */
  match(host: string, port: number | undefined, path: string): CompiledRoute | undefined
  /** True when some route serves this host (for special paths under /.gatehouse/). */
  hasHost(host: string, port: number | undefined): boolean
  readonly size: number
}

/** Pomerium's `bearer_token_format`. */
export type BearerTokenFormat = 'default' | 'idp_access_token' | 'idp_identity_token'

/**
 * What a route does with `Authorization: Bearer …`. `default` (Pomerium's):
 * the header goes upstream uninterpreted and the cookie decides. The other
 * formats make the token the credential; verifying access tokens always has an
 * audience list (the config refuses the format without one).
 */
export type RouteBearer =
  | { readonly format: 'default' }
  | { readonly format: 'idp_access_token'; readonly allowedAudiences: readonly string[]; readonly passToken: boolean }
  | { readonly format: 'idp_identity_token'; readonly passToken: boolean }

/** The sign-in host of `authenticate_service_url`. */
export interface AuthenticateService {
  readonly url: URL
  /** `https://authenticate.corp.example` (with the port when one was given). */
  readonly origin: string
  /** Lower case, no port. */
  readonly hostname: string
  /** The explicit port, or undefined (any port, as a route's `from`). */
  readonly port: number | undefined
  readonly scheme: 'http' | 'https'
}

/** How gatehouse authenticates to Okta's management API. */
export type DirectoryCredential =
  | { readonly kind: 'api_token'; readonly apiToken: string }
  | { readonly kind: 'service_app'; readonly clientId: string; readonly privateKeyPem: string; readonly keyId: string | undefined }

/** Groups from Okta's API (`idp_service_account`, or gatehouse's service-app keys). */
export interface DirectoryConfig {
  /** The Okta org, `https://acme.okta.com`: the origin of idp_provider_url. */
  readonly orgUrl: string
  readonly credential: DirectoryCredential
  readonly refreshIntervalMs: number
  readonly timeoutMs: number
  readonly lookup: 'when_incomplete' | 'always'
}

export interface CompiledConfig {
  /** The file the config came from (for messages). */
  readonly file: string
  readonly address: { readonly host: string; readonly port: number }
  readonly insecureServer: boolean
  readonly certificatePem: string | undefined
  readonly certificateKeyPem: string | undefined
  /** `authenticate_service_url`: one sign-in host for every route host; undefined: each route host signs in on its own. */
  readonly authenticate: AuthenticateService | undefined
  /** Pomerium's forward_auth_url: requests to this host are forward-auth checks (`/?uri=…`, `/verify?uri=…`). */
  readonly forwardAuthHost: ForwardAuthHost | undefined

  readonly idp: {
    readonly provider: IdpProvider
    /** Exactly as written (no trailing-slash normalisation): discovery must match it. */
    readonly providerUrl: string
    readonly clientId: string
    readonly clientSecret: string | undefined
    readonly clientAuthMethod: ClientAuthMethod
    readonly clientPrivateKeyPem: string | undefined
    /** The assertion's `kid`; undefined: the key's RFC 7638 thumbprint. */
    readonly clientPrivateKeyId?: string | undefined
    readonly scopes: readonly string[]
    /** idp_scopes was set: request exactly these (no `groups` added from discovery). */
    readonly scopesExplicit?: boolean
    readonly groupsClaim: string
    readonly groupsFilter: RegExp | undefined
  }

  readonly cookie: {
    readonly name: string
    /** 32 bytes. */
    readonly secret: Uint8Array
    /** True when cookie_secret was absent and a random one was generated. */
    readonly secretGenerated: boolean
    readonly domain: string | undefined
    readonly expireMs: number
    readonly sameSite: SameSite
  }

  /** PEM of the EC P-256 signing key, or undefined: derive from the cookie secret. */
  readonly signingKeyPem: string | undefined
  readonly jwtAssertionHeader: string
  /** claim name -> header name (Pomerium's jwt_claims_headers). */
  readonly jwtClaimsHeaders: Readonly<Record<string, string>>
  readonly passIdentityHeaders: boolean
  readonly sessionRefreshIntervalMs: number | undefined

  readonly storage:
    | { readonly type: 'memory' }
    | { readonly type: 'redis'; readonly connectionString: string }
    | { readonly type: 'postgres'; readonly connection: PostgresConnection }

  readonly metricsAddress: { readonly host: string; readonly port: number } | undefined
  /** Worker processes: a count, or 'auto' (one per available CPU, resolved when serving). 1: no cluster. */
  readonly workers: number | 'auto'
  readonly logLevel: LogLevel
  /** Parsed CIDRs; empty = believe no X-Forwarded-* header. */
  readonly trustedProxies: readonly string[]
  /** Pomerium's xff_num_trusted_hops: the client is this many X-Forwarded-For entries from the right (0: not used). */
  readonly xffNumTrustedHops: number
  /** `timeout_read`: a whole request body must arrive within this. 0: none. */
  readonly timeoutReadMs: number
  /** `max_upstream_requests_per_client`: requests one client address may have in progress to one upstream origin. 0: no limit. */
  readonly maxUpstreamRequestsPerClient: number
  /** Client certificates required of every request (HTTPS only); undefined: none asked for. */
  readonly downstreamMtls: DownstreamMtls | undefined
  readonly directory: DirectoryConfig | undefined
  /** idp_roles: each role with the groups that grant it, in file order; undefined when not configured. */
  readonly roles: readonly RoleGrant[] | undefined

  readonly routes: readonly CompiledRoute[]
  readonly routeTable: RouteTable
  /** Non-fatal findings (unsupported Pomerium keys, generated secrets, surprising `nor`). */
  readonly warnings: readonly Problem[]
}

/** One idp_roles entry: membership in any of `groups` grants `role`. */
export interface RoleGrant {
  readonly role: string
  readonly groups: readonly string[]
}
