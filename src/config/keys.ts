/**
 * Every configuration key, in one table: its YAML name (Pomerium's), its kind,
 * its default, whether gatehouse supports it, and a line of documentation.
 * Validation, the environment mapping and docs/configuration.md all come from
 * here, so they cannot disagree.
 */

export type KeyKind =
  | 'string'
  | 'bool'
  | 'duration'
  | 'url'
  | 'address'
  | 'secret'
  | 'file'
  | 'string-list'
  | 'string-map'
  | 'enum'
  | 'regex'
  | 'cidr-list'
  | 'claims-headers'
  | 'map'
  | 'routes'
  | 'policy'
  | 'upstreams'
  | 'any'

/**
 * `supported`: implemented. `gatehouse`: gatehouse's own.
 * `not-yet`: a Pomerium key gatehouse does not implement and that restricts nothing: ignored, with a warning.
 * `refused`: a Pomerium key gatehouse does not implement that restricts access (or decides which resource the
 * upstream serves): ignoring it would open a door, so it is a config error with its position and what to do.
 */
export type KeyStatus = 'supported' | 'not-yet' | 'refused' | 'gatehouse'

export interface KeySpec {
  readonly key: string
  readonly kind: KeyKind
  readonly status: KeyStatus
  readonly doc: string
  readonly default?: string
  readonly values?: readonly string[]
  /** Also accepted as `<key>_file` (read at load). */
  readonly hasFile?: boolean
  readonly required?: boolean
}

const s = (key: string, kind: KeyKind, doc: string, extra: Partial<KeySpec> = {}): KeySpec => ({ key, kind, status: 'supported', doc, ...extra })
const g = (key: string, kind: KeyKind, doc: string, extra: Partial<KeySpec> = {}): KeySpec => ({ key, kind, status: 'gatehouse', doc, ...extra })
const n = (key: string, doc = 'Pomerium option not supported yet; ignored.'): KeySpec => ({ key, kind: 'any', status: 'not-yet', doc })
/** `doc` says what the key would have restricted and what to do instead. */
const x = (key: string, doc: string): KeySpec => ({ key, kind: 'any', status: 'refused', doc })

export const GLOBAL_KEYS: readonly KeySpec[] = [
  s('address', 'address', 'Where to listen, `host:port` or `:port`.', { default: ':443' }),
  s('insecure_server', 'bool', 'Serve plain HTTP (behind a TLS-terminating load balancer, or locally).', { default: 'false' }),
  s('certificate_file', 'file', 'PEM certificate for HTTPS.'),
  s('certificate_key_file', 'file', 'PEM private key for HTTPS.'),
  s(
    'authenticate_service_url',
    'url',
    "One sign-in host for every route host (Pomerium's authenticate service, served by the same process): `https://authenticate.corp.example`, no path. The Okta app then needs one sign-in redirect URI, `{url}/oauth2/callback`, and one sign-out redirect URI, `{url}/.gatehouse/signed_out`. Absent: each route host signs in on its own `/.gatehouse/callback`.",
  ),
  s(
    'forward_auth_url',
    'url',
    "Pomerium's forward-auth address (`https://forwardauth.corp.example`): requests whose Host is this URL's host are forward-auth checks in Pomerium's shape, `/?uri=…` (like `/.gatehouse/forward_auth`) and `/verify?uri=…` (like `/.gatehouse/verify`), from `trusted_proxies` only. Not needed for `/.gatehouse/verify` and `/.gatehouse/forward_auth`, which answer on any Host.",
  ),
  s('idp_provider', 'enum', '`okta`, or `oidc` for any other OpenID Connect issuer.', { values: ['okta', 'oidc'], default: 'okta' }),
  s('idp_provider_url', 'string', 'Issuer URL exactly as the IdP states it: `https://acme.okta.com` (org server) or `https://acme.okta.com/oauth2/default`.', {
    required: true,
  }),
  s('idp_client_id', 'string', 'Client ID of the Okta app.', { required: true }),
  s('idp_client_secret', 'secret', 'Client secret of the Okta app.', { hasFile: true }),
  s(
    'idp_scopes',
    'string-list',
    'Scopes to request (list or comma-separated). When unset, the defaults plus `groups` if the discovery document lists it; when set, exactly these.',
    {
      default: 'openid, profile, email, offline_access',
    },
  ),
  s('cookie_name', 'string', 'Name of the session cookie (`__Host-` is prefixed on HTTPS without cookie_domain).', { default: '_gatehouse' }),
  s('cookie_secret', 'secret', '32 random bytes, base64. Absent: generated at start (sessions end at restart).', { hasFile: true }),
  s('cookie_domain', 'string', 'Domain attribute of the session cookie, to share sessions across route hosts.'),
  s('cookie_expire', 'duration', 'Absolute session lifetime.', { default: '14h' }),
  s('cookie_same_site', 'enum', 'SameSite attribute of the session cookie.', { values: ['lax', 'strict', 'none'], default: 'lax' }),
  s('signing_key', 'secret', 'Base64 of a PEM EC P-256 key (PKCS#8 or SEC1) that signs the assertion. Absent: derived from cookie_secret.', { hasFile: true }),
  s('jwt_claims_headers', 'claims-headers', 'Claims to send upstream as headers: a list (`email,groups`) or a map of header to claim.'),
  s('pass_identity_headers', 'bool', 'Send the unsigned X-Gatehouse-Claim-* headers on every route.', { default: 'false' }),
  s(
    'databroker_storage_type',
    'enum',
    'Session store: `memory` (one process), `postgres` or `redis` (shared by replicas). `file` loads with a warning and keeps sessions in memory.',
    { values: ['memory', 'postgres', 'redis', 'file'], default: 'memory' },
  ),
  s(
    'databroker_storage_connection_string',
    'secret',
    'Postgres: `postgresql://user:password@host:5432/db?sslmode=verify-full` or `host=… port=… dbname=… user=…`. Redis: `redis://…` or `rediss://…`.',
    { hasFile: true },
  ),
  s('metrics_address', 'address', 'Where to serve Prometheus metrics (`:9090`).'),
  s('log_level', 'enum', 'Log level.', { values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], default: 'info' }),
  s('routes', 'routes', 'The routes.'),
  g('idp_groups_claim', 'string', 'Claim that holds the groups.', { default: 'groups' }),
  g('idp_groups_filter', 'regex', 'Only group names matching this regular expression are kept.'),
  g('idp_client_auth_method', 'enum', 'How gatehouse authenticates to the token endpoint.', {
    values: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    default: 'client_secret_basic',
  }),
  g('idp_client_private_key_file', 'file', 'PEM key for `private_key_jwt` (RSA: RS256; EC: ES256/ES384/ES512 by curve).'),
  g('idp_client_private_key_id', 'string', "The `kid` of that key as the Okta app's public keys list it. Default: the key's RFC 7638 thumbprint."),
  g(
    'session_refresh_interval',
    'duration',
    "Refresh the session's claims at the IdP this long after sign-in or the last refresh. Default: shortly before the ID token expires.",
  ),
  g('jwt_assertion_header', 'string', 'Header that carries the signed assertion (`X-Pomerium-Jwt-Assertion` for apps written for Pomerium).', {
    default: 'X-Gatehouse-Jwt-Assertion',
  }),
  s(
    'bearer_token_format',
    'enum',
    "`default`: an `Authorization: Bearer` header goes upstream uninterpreted and the cookie decides. `idp_access_token`: an Okta access token is the credential (JWT checked offline against the issuer's keys; an org-server token through introspection). `idp_identity_token`: an ID token for idp_client_id is. Also per route.",
    { values: ['default', 'idp_access_token', 'idp_identity_token'], default: 'default' },
  ),
  s(
    'idp_access_token_allowed_audiences',
    'string-list',
    'Audiences (`aud`) an access token may carry, e.g. `api://default`. Required when bearer_token_format is idp_access_token. Also per route.',
  ),
  s(
    'idp_service_account',
    'secret',
    "Okta directory (Pomerium's legacy form): base64 of JSON with `api_key`, an Okta API token (sent as `SSWS`). Reads each user's groups from Okta's API when the token's list may be incomplete.",
    { hasFile: true },
  ),
  s('idp_refresh_directory_interval', 'duration', "How long a user's groups read from Okta's API are used before they are read again (in the background).", {
    default: '10m',
  }),
  s('idp_refresh_directory_timeout', 'duration', 'How long one directory read may take, rate-limit waits included; past it the groups are unknown.', {
    default: '1m',
  }),
  g(
    'idp_directory_client_id',
    'string',
    'Okta directory through an OAuth service app (API Services, Public key / Private key, scopes okta.groups.read okta.users.read): its client id. Instead of idp_service_account.',
  ),
  g('idp_directory_private_key_file', 'file', "PEM private key of the directory's service app (RSA or EC); its public key is registered on the app."),
  g('idp_directory_key_id', 'string', "The key's `kid` as Okta shows it on the service app (sent in the client assertion's header)."),
  g(
    'idp_directory_groups',
    'enum',
    '`when_incomplete`: read groups from the directory when the token has no groups claim or a list at the cap of 100. `always`: for every user.',
    { values: ['when_incomplete', 'always'], default: 'when_incomplete' },
  ),
  g(
    'idp_roles',
    'map',
    "The application's roles and the IdP groups that grant them: `role: group` or `role: [group, …]`. A user holds every role one of whose groups they are in; the roles go into the assertion's `roles` claim, the `X-Gatehouse-Claim-Roles` header and the policy's `claim/roles`.",
  ),
  g(
    'workers',
    'string',
    'Worker processes sharing the listeners: a number, or `auto` for one per CPU available to the process (cgroup limits included). More than 1 needs a shared session store (`redis` or `postgres`). Also `serve --workers`.',
    { default: '1' },
  ),
  s(
    'downstream_mtls',
    'map',
    'Client certificates: `ca` (base64 PEM) or `ca_file`, and `enforcement` (`policy_with_default_deny`: a request without a valid certificate gets 495; `reject_connection`: the TLS handshake fails). Needs HTTPS.',
  ),
  s('client_ca', 'secret', 'Older form of downstream_mtls.ca (base64 PEM CA bundle).', { hasFile: true }),
  s(
    'xff_num_trusted_hops',
    'string',
    'Proxies in front that each append to X-Forwarded-For: the client is that many entries from the right. Trusts by count: only where nothing else can reach gatehouse (trusted_proxies names the proxies instead).',
    { default: '0' },
  ),
  x(
    'idp_request_params',
    "Extra sign-in parameters such as `acr_values` or `prompt=login` can demand MFA or a fresh login; gatehouse does not send them, so it refuses to start rather than drop the requirement. Enforce MFA in the Okta app's sign-on policy instead, and remove the key.",
  ),
  x(
    'metrics_basic_auth',
    'Would protect the metrics endpoint with a password; gatehouse serves metrics without one. Bind metrics_address to a private interface (or leave it out), and remove the key.',
  ),
  x(
    'metrics_client_ca',
    'Would require client certificates on the metrics endpoint; gatehouse does not. Bind metrics_address to a private interface, and remove the key.',
  ),
  x(
    'metrics_certificate',
    'Would serve metrics over TLS; gatehouse serves them over plain HTTP. Bind metrics_address to a private interface, and remove the key.',
  ),
  x('metrics_certificate_key', 'Key for metrics_certificate; see there.'),
  s(
    'timeout_read',
    'duration',
    'How long a client may take to send a whole request, body included; past it the request gets 408 and its upstream connection is let go. 0: no limit (not recommended: slow bodies would hold upstream connections).',
    { default: '30s' },
  ),
  s('default_upstream_timeout', 'duration', 'The `timeout` of every route that sets none.', { default: '30s' }),
  g(
    'max_upstream_requests_per_client',
    'string',
    "How many requests one client address may have in progress to one upstream origin (the connection pool holds 128 per origin), so that one client cannot hold an upstream's connections alone; past it 429 with Retry-After. Behind a load balancer, list it in trusted_proxies so that each client is seen by its own address. 0: no limit.",
    { default: '64' },
  ),
  g('trusted_proxies', 'cidr-list', 'CIDRs whose X-Forwarded-* headers are believed. Empty: none.', { default: '[]' }),
  ...[
    'authorize_service_url',
    'authorize_internal_service_url',
    'authenticate_internal_service_url',
    'databroker_service_url',
    'databroker_service_urls',
    'grpc_address',
    'grpc_insecure',
    'grpc_client_timeout',
    'autocert',
    'autocert_dir',
    'autocert_must_staple',
    'autocert_use_staging',
    'codec_type',
    'shared_secret',
    'shared_secret_file',
    'services',
    'headers',
    'set_response_headers',
    'timeout_write',
    'timeout_idle',
    'http_redirect_address',
    'dns_lookup_family',
    'tracing_provider',
    'tracing_sample_rate',
    'proxy_log_level',
    'access_log_fields',
    'authorize_log_fields',
    'certificates',
    'certificate',
    'certificate_key',
    'certificate_authority',
    'certificate_authority_file',
    'signout_redirect_url',
    'use_proxy_protocol',
    'skip_xff_append',
    'envoy_admin_address',
    'envoy_admin_access_log_path',
    'envoy_admin_profile_path',
    'cookie_secure',
    'cookie_http_only',
    'programmatic_redirect_domain_whitelist',
    'google_cloud_serverless_authentication_service_account',
    'jwt_issuer_format',
    'jwt_groups_filter',
    'pass_identity_headers_enforce',
    'policy',
    'authenticate_callback_path',
    'idp_token_endpoint_auth_method',
    'databroker_storage_cert_file',
    'databroker_storage_key_file',
    'databroker_storage_ca_file',
    'databroker_storage_tls_skip_verify',
    'branding',
    'primary_color',
    'secondary_color',
    'logo_url',
    'favicon_url',
    'error_message_first_paragraph',
    'darkmode_primary_color',
    'darkmode_secondary_color',
    'runtime_flags',
    'otel_traces_exporter',
  ].map((k) => n(k)),
]

export const ROUTE_KEYS: readonly KeySpec[] = [
  s('from', 'url', 'External URL: `https://app.corp.example` (no path; a port, when given, must match).', { required: true }),
  s(
    'to',
    'upstreams',
    'Upstream URL, or a list; `http://a:8080,3` gives weight 3. Omitted: the route answers forward-auth checks only (a request sent to gatehouse directly gets 404).',
  ),
  s('prefix', 'string', 'Match paths that start with this.'),
  s('path', 'string', 'Match this exact path.'),
  s('regex', 'regex', 'Match paths by a regular expression (anchored to the whole path).'),
  s('prefix_rewrite', 'string', 'Replace the matched prefix before forwarding.'),
  s('preserve_host_header', 'bool', "Send the client's Host header upstream.", { default: 'false' }),
  s('host_rewrite', 'string', 'Send this Host header upstream.'),
  s('allow_websockets', 'bool', 'Allow WebSocket upgrades.', { default: 'false' }),
  s(
    'timeout',
    'duration',
    "Time for the whole exchange up to the upstream's response headers, the request body included (past it: 408 while the body is still arriving, else 504), and the longest pause between response chunks. 0: none. Unset: default_upstream_timeout, or none when idle_timeout is set (as Pomerium).",
    { default: '30s' },
  ),
  s('idle_timeout', 'duration', 'The longest pause while the request body arrives; past it the request gets 408. 0: none.', { default: '5m' }),
  s(
    'set_request_headers',
    'string-map',
    'Headers to set upstream; values may use `${gatehouse.id_token}`, `${gatehouse.access_token}`, `${gatehouse.jwt}` (or `${pomerium.…}`).',
  ),
  s('remove_request_headers', 'string-list', 'Headers to remove before forwarding.'),
  s('set_response_headers', 'string-map', 'Headers to set on responses.'),
  s('pass_identity_headers', 'bool', 'Send the unsigned X-Gatehouse-Claim-* headers upstream.'),
  s('allow_public_unauthenticated_access', 'bool', 'Anyone, signed in or not (legacy key, as `accept`).'),
  s('allow_any_authenticated_user', 'bool', 'Any signed-in user (legacy key, as `authenticated_user`).'),
  s('cors_allow_preflight', 'bool', 'Let CORS preflight requests through without a session.'),
  s('tls_skip_verify', 'bool', "Do not verify the upstream's TLS certificate.", { default: 'false' }),
  s('tls_custom_ca_file', 'file', "PEM CA bundle for the upstream's certificate."),
  s('policy', 'policy', "The route's policy (PPL). See docs/policy.md."),
  s('allowed_users', 'string-list', 'Legacy: user ids or emails allowed.'),
  s('allowed_domains', 'string-list', 'Legacy: email domains allowed.'),
  g('name', 'string', 'A name for logs and metrics.'),
  s('bearer_token_format', 'enum', 'Overrides the global bearer_token_format for this route.', {
    values: ['default', 'idp_access_token', 'idp_identity_token'],
  }),
  s('idp_access_token_allowed_audiences', 'string-list', 'Overrides the global idp_access_token_allowed_audiences for this route.'),
  g(
    'pass_bearer_token',
    'bool',
    'Keep the `Authorization` header that carried a token gatehouse verified (bearer_token_format other than default); by default it is removed, as it was meant for gatehouse.',
    { default: 'false' },
  ),
  s(
    'tls_downstream_client_ca',
    'string',
    'Base64 PEM CA bundle added to the downstream mTLS bundle (as Pomerium; every route then needs a client certificate).',
  ),
  s('tls_downstream_client_ca_file', 'file', 'File form of tls_downstream_client_ca.'),
  x(
    'regex_rewrite_pattern',
    'Rewrites the path the upstream receives; without it the upstream would get paths the route did not mean to send. Use prefix_rewrite, or remove the key.',
  ),
  x('regex_rewrite_substitution', 'See regex_rewrite_pattern.'),
  x(
    'host_path_regex_rewrite_pattern',
    'Rewrites the path by host and path; without it the upstream would get paths the route did not mean to send. Use prefix_rewrite, or remove the key.',
  ),
  x('host_path_regex_rewrite_substitution', 'See host_path_regex_rewrite_pattern.'),
  x(
    'host_rewrite_header',
    'Would take the upstream Host from a request header; without it a virtual-host upstream may serve another site. Use host_rewrite or preserve_host_header, or remove the key.',
  ),
  x(
    'regex_priority_order',
    'Changes which route (and so which policy) judges a path; without it routes match in file order. Order the routes in the file, and remove the key.',
  ),
  x(
    'allowed_idp_claims',
    'An allow-list of IdP claims; ignoring it would let in users the route meant to keep out. Write it as policy criteria (claim/<name>), and remove the key.',
  ),
  x(
    'idp_client_id',
    'A per-route Okta app (its own user assignments); without it the route would accept everyone the global app signs in. Give the route a policy that admits only those users (groups), and remove the key.',
  ),
  x('idp_client_secret', 'See idp_client_id.'),
  g(
    'allow_path_parameters',
    'bool',
    'Accept `;` path parameters (`/a;jsessionid=1/b`), for upstreams that need them. Otherwise a `;` in a path segment gets 400. With it, route matching and the policy use the path with every `;…` removed from each segment (what Tomcat, Jetty and Spring serve) and the upstream receives the parameters; a path that would match another route with its parameters than without gets 400. Risk: an upstream that reads `;` some other way may serve a path the policy did not judge.',
    { default: 'false' },
  ),
  ...[
    'description',
    'logo_url',
    'id',
    'tls_client_cert',
    'tls_client_key',
    'tls_client_cert_file',
    'tls_client_key_file',
    'tls_custom_ca',
    'tls_server_name',
    'tls_downstream_server_name',
    'tls_upstream_server_name',
    'tls_upstream_allow_renegotiation',
    'enable_google_cloud_serverless_authentication',
    'kubernetes_service_account_token',
    'kubernetes_service_account_token_file',
    'allow_spdy',
    'redirect',
    'response',
    'rewrite_response_headers',
    'load_balancing_policy',
    'health_checks',
    'show_error_details',
    'outlier_detection',
    'depends_on',
    'jwt_groups_filter',
    'jwt_issuer_format',
    'mcp',
    'upstream_tunnel',
  ].map((k) => n(k)),
]

export const GLOBAL_KEY_MAP: ReadonlyMap<string, KeySpec> = new Map(GLOBAL_KEYS.map((k) => [k.key, k]))
export const ROUTE_KEY_MAP: ReadonlyMap<string, KeySpec> = new Map(ROUTE_KEYS.map((k) => [k.key, k]))

/** `IDP_CLIENT_SECRET` → `idp_client_secret`, for the keys settable from the environment. */
export function envNameOf(key: string): string {
  return key.toUpperCase()
}
