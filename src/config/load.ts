/**
 * Config file → CompiledConfig. Reads the YAML keeping positions, substitutes
 * `${ENV}` in values, applies Pomerium-style environment keys and `*_file`
 * secrets, validates every key against keys.ts, compiles routes and policies,
 * and freezes the result. User errors are returned, all of them, never thrown.
 */
import { readFileSync } from 'node:fs'
import { createPrivateKey, randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair, type Scalar } from 'yaml'
import { didYouMean } from '../policy/index.js'
import { compileRoute } from './compile-route.js'
import { readAudiences, readBearerFormat, type BearerDefaults } from './bearer.js'
import { compileDirectory } from './directory.js'
import { checkAuthenticateNotRouted, compileAuthenticate } from './authenticate.js'
import { parseDuration } from './durations.js'
import { envNameOf, GLOBAL_KEY_MAP } from './keys.js'
import { Reader } from './reader.js'
import { buildRouteTable } from './route-table.js'
import { compileDownstreamMtls } from './downstream-mtls.js'
import { generateSelfSigned } from './self-signed.js'
import { compileRoles } from './roles.js'
import { compileStorage } from './storage.js'
import { parseForwardAuthUrl, type ForwardAuthHost } from './forward-auth-url.js'
import type { ClientAuthMethod, CompiledConfig, CompiledRoute, IdpProvider, LogLevel, Problem, SameSite } from './types.js'

export interface LoadOptions {
  readonly file: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly readFile?: (path: string) => string
}

export type LoadResult = { config: CompiledConfig; warnings: Problem[] } | { problems: Problem[]; warnings: Problem[] }

export const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const
const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

export function loadConfig(opts: LoadOptions): LoadResult {
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'))
  let text: string
  try {
    text = readFile(opts.file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return {
      problems: [
        {
          file: opts.file,
          line: 1,
          col: 1,
          path: '',
          code: 'CONFIG_READ_FAILED',
          message: `cannot read the config file (${code ?? 'error'})`,
          hint: 'pass the file with -c PATH or GATEHOUSE_CONFIG',
        },
      ],
      warnings: [],
    }
  }
  return compileConfigText(text, opts.file, opts.env, readFile)
}

/** Substitute `${VAR}` in every string scalar; `$${` is a literal `${`. Names with dots (`${gatehouse.jwt}`) are left alone. */
function substituteEnv(doc: Document, r: Reader, env: LoadOptions['env']): void {
  visit(doc, {
    Scalar(_key, node: Scalar, ancestors) {
      if (typeof node.value !== 'string' || !node.value.includes('$')) return
      node.value = node.value.replace(ENV_REF, (whole, name: string | undefined) => {
        if (name === undefined) return '${'
        const value = env[name]
        if (value === undefined) {
          r.problem(node, keyPath(ancestors), 'CONFIG_MISSING_ENV', `environment variable ${name} is not set`, `set ${name}, or write the value in the file`)
          r.unresolved.add(node)
          return whole
        }
        return value
      })
    },
  })
}

/** `routes[2].to` from a visitor's ancestors. */
function keyPath(ancestors: readonly unknown[]): string {
  let out = ''
  for (let i = 0; i < ancestors.length; i++) {
    const a = ancestors[i]
    const next = ancestors[i + 1]
    if (isPair(a) && isScalar(a.key)) out += (out === '' ? '' : '.') + String(a.key.value)
    else if (isSeq(a) && next !== undefined) out += `[${a.items.indexOf(next as never)}]`
  }
  return out
}

function envNode(r: Reader, name: string, value: string): Node {
  // Lists and maps from the environment are YAML (or comma-separated, handled by the reader).
  const doc = parseDocument(value)
  const node = (doc.errors.length === 0 && doc.contents !== null ? doc.contents : doc.createNode(value)) as Node
  visit(node, (_k, n) => {
    if (typeof n === 'object' && n !== null && 'range' in n) r.fromEnv.set(n as Node, name)
  })
  r.fromEnv.set(node, name)
  return node
}

export function compileConfigText(
  text: string,
  file: string,
  env: LoadOptions['env'],
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): LoadResult {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const r = new Reader(file, lines)
  for (const e of doc.errors) {
    const p = lines.linePos(e.pos[0])
    r.problems.push({ file, line: p.line, col: p.col, path: '', code: 'CONFIG_YAML_SYNTAX', message: e.message.split('\n')[0] ?? 'invalid YAML' })
  }
  if (r.problems.length > 0) return { problems: r.problems, warnings: r.warnings }
  const root = doc.contents as Node | null
  if (root !== null && !isMap(root))
    return { problems: [{ file, line: 1, col: 1, path: '', code: 'CONFIG_NOT_A_MAP', message: 'the config file must be a YAML map of keys' }], warnings: [] }
  substituteEnv(doc, r, env)

  // Top-level values: the file's, then the environment's (which win), as Pomerium does.
  const values = new Map<string, Node>()
  if (root !== null) {
    for (const [k, pair] of r.entries(root)) {
      const spec = GLOBAL_KEY_MAP.get(k) ?? (k.endsWith('_file') ? GLOBAL_KEY_MAP.get(k.slice(0, -5)) : undefined)
      if (spec === undefined || (k.endsWith('_file') && spec.hasFile !== true && GLOBAL_KEY_MAP.get(k) === undefined)) {
        r.problem((pair as Pair).key as Node, k, 'CONFIG_UNKNOWN_KEY', `unknown key "${k}"`, didYouMean(k, GLOBAL_KEY_MAP.keys()))
        continue
      }
      if (spec.status === 'refused') {
        r.problem(
          (pair as Pair).key as Node,
          k,
          'CONFIG_UNSUPPORTED_RESTRICTION',
          `"${k}" restricts access in Pomerium, and gatehouse does not support it yet: it cannot be ignored`,
          spec.doc,
        )
        continue
      }
      if (spec.status === 'not-yet') {
        r.warn(
          (pair as Pair).key as Node,
          k,
          'CONFIG_UNSUPPORTED_KEY',
          `"${k}" is not supported yet; it is ignored`,
          spec.doc.startsWith('Pomerium option') ? undefined : spec.doc,
        )
        continue
      }
      values.set(k, ((pair as Pair).value ?? (pair as Pair).key) as Node)
    }
  }
  for (const spec of GLOBAL_KEY_MAP.values()) {
    if (spec.status === 'not-yet' || spec.status === 'refused' || spec.kind === 'routes') continue
    for (const key of spec.hasFile === true ? [spec.key, `${spec.key}_file`] : [spec.key]) {
      const name = envNameOf(key)
      const value = env[name]
      if (value !== undefined && value !== '') values.set(key, envNode(r, name, value))
    }
  }

  const str = (k: string): string | undefined => (values.has(k) ? r.string(values.get(k), k) : undefined)
  const bool = (k: string): boolean | undefined => (values.has(k) ? r.bool(values.get(k), k) : undefined)
  const oneOf = <T extends string>(k: string, def: T): T => {
    const v = str(k)
    const allowed = GLOBAL_KEY_MAP.get(k)?.values ?? []
    if (v === undefined) return def
    if (!allowed.includes(v.toLowerCase())) {
      r.problem(values.get(k), k, 'CONFIG_BAD_VALUE', `${k} must be one of ${allowed.join(', ')}, found "${v}"`, didYouMean(v, allowed))
      return def
    }
    return v.toLowerCase() as T
  }
  const secret = (k: string): string | undefined => {
    const inline = values.get(k)
    const fileNode = values.get(`${k}_file`)
    if (inline !== undefined && fileNode !== undefined) {
      r.problem(fileNode, `${k}_file`, 'CONFIG_CONFLICT', `${k} is given twice: set ${k} or ${k}_file, not both`)
      return undefined
    }
    if (fileNode !== undefined) {
      const path = r.string(fileNode, `${k}_file`)
      if (path === undefined) return undefined
      try {
        return readFile(path).trim()
      } catch (err) {
        r.problem(fileNode, `${k}_file`, 'CONFIG_FILE_UNREADABLE', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
        return undefined
      }
    }
    return inline === undefined ? undefined : r.string(inline, k)
  }
  const fileContents = (k: string): string | undefined => {
    const path = str(k)
    if (path === undefined) return undefined
    try {
      return readFile(path)
    } catch (err) {
      r.problem(values.get(k), k, 'CONFIG_FILE_UNREADABLE', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
      return undefined
    }
  }
  const duration = (k: string, def: number | undefined): number | undefined => {
    const node = values.get(k)
    if (node === undefined) return def
    const ms = parseDuration(isScalar(node) ? node.value : undefined)
    if (ms === undefined) r.problem(node, k, 'CONFIG_BAD_DURATION', `${k} must be a duration such as 30s, 15m or 14h`)
    return ms ?? def
  }
  const address = (k: string, def: string | undefined): { host: string; port: number } | undefined => {
    const raw = values.has(k) ? str(k) : def
    if (raw === undefined) return undefined
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]*)):(\d{1,5})$/.exec(raw)
    const port = m === null ? NaN : Number(m[3])
    if (m === null || port > 65535) {
      r.problem(values.get(k), k, 'CONFIG_BAD_VALUE', `${k} must be host:port or :port, found "${raw}"`)
      return undefined
    }
    const host = m[1] ?? m[2] ?? ''
    return { host: host === '' ? '0.0.0.0' : host, port }
  }

  // Identity provider
  const provider = oneOf<IdpProvider>('idp_provider', 'okta')
  const providerUrl = str('idp_provider_url')
  // Pomerium without idp_provider signs users in through its hosted authenticate service.
  const hostedAuthenticate = !values.has('idp_provider') && !values.has('idp_provider_url') && !values.has('idp_client_id')
  if (hostedAuthenticate)
    r.problem(
      root,
      'idp_provider',
      'CONFIG_MISSING_KEY',
      "no idp_provider: this config relies on Pomerium's hosted authenticate service, which gatehouse does not use; gatehouse signs users in with your own identity provider",
      'set idp_provider: okta (or oidc), idp_provider_url (the issuer, e.g. https://acme.okta.com/oauth2/default), idp_client_id and idp_client_secret',
    )
  else if (providerUrl === undefined && !values.has('idp_provider_url'))
    r.problem(root, 'idp_provider_url', 'CONFIG_MISSING_KEY', 'idp_provider_url is required', 'your Okta issuer, e.g. https://acme.okta.com/oauth2/default')
  if (providerUrl !== undefined) {
    try {
      const u = new URL(providerUrl)
      const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) || u.hostname.endsWith('.localhost')
      if (u.protocol !== 'https:' && u.protocol !== 'http:')
        r.problem(values.get('idp_provider_url'), 'idp_provider_url', 'CONFIG_BAD_URL', `idp_provider_url must be an https:// URL, found ${u.protocol}//`)
      else if (u.protocol === 'http:' && !loopback)
        // Pomerium accepts it, and its docker-compose guides use it (a Keycloak on the compose network).
        r.warn(
          values.get('idp_provider_url'),
          'idp_provider_url',
          'CONFIG_INSECURE_IDP_URL',
          `idp_provider_url uses plain http to ${u.host}: anyone on that network path can read the tokens and client secret gatehouse exchanges with the IdP, or impersonate the IdP and sign in as anyone`,
          'use https for any IdP that is not on this machine; plain http is only safe on a private network you trust end to end',
        )
    } catch {
      r.problem(values.get('idp_provider_url'), 'idp_provider_url', 'CONFIG_BAD_URL', `idp_provider_url "${providerUrl}" is not a URL`)
    }
  }
  const clientId = str('idp_client_id')
  if (!values.has('idp_client_id') && !hostedAuthenticate)
    r.problem(root, 'idp_client_id', 'CONFIG_MISSING_KEY', 'idp_client_id is required', "the Client ID on the Okta app's General tab")
  const clientAuthMethod = oneOf<ClientAuthMethod>('idp_client_auth_method', 'client_secret_basic')
  const clientSecret = secret('idp_client_secret')
  const clientPrivateKeyPem = fileContents('idp_client_private_key_file')
  if (clientAuthMethod === 'private_key_jwt' && clientPrivateKeyPem === undefined && !values.has('idp_client_private_key_file')) {
    r.problem(values.get('idp_client_auth_method'), 'idp_client_auth_method', 'CONFIG_MISSING_KEY', 'private_key_jwt needs idp_client_private_key_file')
  }
  if (
    clientAuthMethod !== 'private_key_jwt' &&
    !hostedAuthenticate &&
    clientSecret === undefined &&
    !values.has('idp_client_secret') &&
    !values.has('idp_client_secret_file')
  ) {
    r.problem(
      root,
      'idp_client_secret',
      'CONFIG_MISSING_KEY',
      'idp_client_secret is required (or idp_client_secret_file, or the IDP_CLIENT_SECRET environment variable)',
    )
  }
  const scopes = values.has('idp_scopes') ? (r.stringList(values.get('idp_scopes'), 'idp_scopes') ?? [...DEFAULT_SCOPES]) : [...DEFAULT_SCOPES]
  if (!scopes.includes('openid')) r.problem(values.get('idp_scopes'), 'idp_scopes', 'CONFIG_BAD_VALUE', 'idp_scopes must include openid')
  let groupsFilter: RegExp | undefined
  const filterText = str('idp_groups_filter')
  if (filterText !== undefined) {
    try {
      groupsFilter = new RegExp(filterText)
    } catch (err) {
      r.problem(values.get('idp_groups_filter'), 'idp_groups_filter', 'CONFIG_BAD_REGEX', `invalid regular expression: ${(err as Error).message}`)
    }
  }

  const roles = compileRoles(r, values.get('idp_roles'), groupsFilter)

  // Cookie and keys
  let cookieSecret: Uint8Array | undefined
  let secretGenerated = false
  const cookieSecretText = secret('cookie_secret')
  if (cookieSecretText !== undefined) {
    const bytes = Buffer.from(cookieSecretText.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
    if (!/^[A-Za-z0-9+/_-]+=*$/.test(cookieSecretText) || bytes.length !== 32) {
      r.problem(
        values.get('cookie_secret') ?? values.get('cookie_secret_file'),
        'cookie_secret',
        'CONFIG_BAD_SECRET',
        `cookie_secret must be 32 random bytes in base64 (it decodes to ${bytes.length} bytes)`,
        'generate one with: gatehouse keygen (or: head -c32 /dev/urandom | base64)',
      )
    } else cookieSecret = bytes
  } else if (!values.has('cookie_secret') && !values.has('cookie_secret_file')) {
    cookieSecret = randomBytes(32)
    secretGenerated = true
    r.warn(
      root,
      'cookie_secret',
      'CONFIG_GENERATED_SECRET',
      'cookie_secret is not set: a random one was generated, so sessions end at restart and replicas cannot share them',
      'set cookie_secret (gatehouse keygen prints one)',
    )
  }
  let signingKeyPem: string | undefined
  const signingText = secret('signing_key')
  if (signingText !== undefined) {
    const pem = signingText.includes('-----BEGIN') ? signingText : Buffer.from(signingText, 'base64').toString('utf8')
    try {
      const key = createPrivateKey(pem)
      const details = key.asymmetricKeyDetails
      if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') throw new Error('not P-256')
      signingKeyPem = pem
    } catch {
      r.problem(
        values.get('signing_key') ?? values.get('signing_key_file'),
        'signing_key',
        'CONFIG_BAD_SECRET',
        'signing_key must be base64 of a PEM EC P-256 private key (PKCS#8 or SEC1)',
        'generate one with: gatehouse keygen',
      )
    }
  } else if (!values.has('signing_key') && !values.has('signing_key_file')) {
    r.warn(
      root,
      'signing_key',
      'CONFIG_GENERATED_SECRET',
      'signing_key is not set: the assertion key is derived from cookie_secret',
      'set signing_key (gatehouse keygen prints one) to rotate it independently',
    )
  }

  // Claims headers: a list of claims (X-Gatehouse-Claim-<Claim>) or a map of header to claim.
  const claimsHeaders: Record<string, string> = {}
  const chNode = values.get('jwt_claims_headers')
  if (chNode !== undefined) {
    if (isMap(chNode)) {
      const m = r.stringMap(chNode, 'jwt_claims_headers') ?? {}
      for (const [header, claim] of Object.entries(m)) claimsHeaders[claim] = header
    } else {
      for (const claim of r.stringList(chNode, 'jwt_claims_headers') ?? [])
        claimsHeaders[claim] = `X-Gatehouse-Claim-${claim.replace(/(^|_)(\w)/g, (_m, sep: string, c: string) => (sep === '' ? '' : '-') + c.toUpperCase())}`
    }
  }

  // Storage
  const problemsBeforeStorage = r.problems.length
  const storage = compileStorage(r, values, root, str, secret, readFile)

  // Workers share sessions only through a shared store (a store key already refused has said enough).
  const workers = workerCount(r, values.get('workers'))
  if (workers !== 1 && storage.type === 'memory' && r.problems.length === problemsBeforeStorage) {
    const node = values.get('databroker_storage_type') ?? values.get('workers')
    r.problem(
      node,
      values.has('databroker_storage_type') ? 'databroker_storage_type' : 'workers',
      'CONFIG_CONFLICT',
      `workers: ${String(workers)} needs a session store the workers share, but databroker_storage_type is memory (each worker would have its own sessions)`,
      'set databroker_storage_type: redis (or postgres) with databroker_storage_connection_string, or workers: 1',
    )
  }

  // Listener
  const insecure = bool('insecure_server') ?? false
  let certificatePem = fileContents('certificate_file')
  let certificateKeyPem = fileContents('certificate_key_file')
  const selfSigned = !insecure && !values.has('certificate_file') && !values.has('certificate_key_file')
  if (values.has('certificate_file') !== values.has('certificate_key_file'))
    r.problem(
      values.get('certificate_file') ?? values.get('certificate_key_file'),
      'certificate_file',
      'CONFIG_MISSING_KEY',
      'certificate_file and certificate_key_file go together',
    )

  const trustedProxies: string[] = []
  if (values.has('trusted_proxies')) {
    for (const c of r.stringList(values.get('trusted_proxies'), 'trusted_proxies') ?? []) {
      const [addr, bits] = c.split('/')
      const fam = isIP(addr ?? '')
      if (fam === 0 || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > (fam === 4 ? 32 : 128))))
        r.problem(values.get('trusted_proxies'), 'trusted_proxies', 'CONFIG_BAD_VALUE', `"${c}" is not an IP address or CIDR`)
      else trustedProxies.push(c)
    }
  }

  // The Okta directory (groups from Okta's API)
  const directory = compileDirectory(r, {
    serviceAccount: { text: secret('idp_service_account'), node: values.get('idp_service_account') ?? values.get('idp_service_account_file') },
    clientId: { text: str('idp_directory_client_id'), node: values.get('idp_directory_client_id') },
    privateKeyPem: { text: fileContents('idp_directory_private_key_file'), node: values.get('idp_directory_private_key_file') },
    keyId: str('idp_directory_key_id'),
    providerUrl,
    refreshIntervalMs: duration('idp_refresh_directory_interval', 10 * 60_000) ?? 10 * 60_000,
    timeoutMs: duration('idp_refresh_directory_timeout', 60_000) ?? 60_000,
    lookup: oneOf<'when_incomplete' | 'always'>('idp_directory_groups', 'when_incomplete'),
  })

  // Bearer tokens: the global values every route starts from.
  const bearerDefaults: BearerDefaults = {
    format: readBearerFormat(r, values.get('bearer_token_format'), 'bearer_token_format') ?? 'default',
    audiences: readAudiences(r, values.get('idp_access_token_allowed_audiences'), 'idp_access_token_allowed_audiences'),
  }
  const hopsText = str('xff_num_trusted_hops')
  const xffNumTrustedHops = hopsText === undefined ? 0 : Number(hopsText)
  if (!Number.isInteger(xffNumTrustedHops) || xffNumTrustedHops < 0 || xffNumTrustedHops > 16)
    r.problem(
      values.get('xff_num_trusted_hops'),
      'xff_num_trusted_hops',
      'CONFIG_BAD_VALUE',
      `xff_num_trusted_hops must be a whole number 0-16, found "${hopsText ?? ''}"`,
    )

  // Slow clients and upstream connections
  const defaultTimeoutMs = duration('default_upstream_timeout', 30_000) ?? 30_000
  const timeoutReadMs = duration('timeout_read', 30_000) ?? 30_000
  const perClientText = str('max_upstream_requests_per_client')
  const maxUpstreamRequestsPerClient = perClientText === undefined ? 64 : Number(perClientText)
  if (!Number.isInteger(maxUpstreamRequestsPerClient) || maxUpstreamRequestsPerClient < 0)
    r.problem(
      values.get('max_upstream_requests_per_client'),
      'max_upstream_requests_per_client',
      'CONFIG_BAD_VALUE',
      `max_upstream_requests_per_client must be a whole number (0: no limit), found "${perClientText ?? ''}"`,
    )

  // Routes
  const routes: CompiledRoute[] = []
  const routesNode = values.get('routes')
  if (routesNode !== undefined) {
    if (!isSeq(routesNode)) r.problem(routesNode, 'routes', 'CONFIG_BAD_TYPE', 'routes must be a list')
    else
      routesNode.items.forEach((item, i) => {
        const route = compileRoute(r, item as Node, i, { readFile, bearer: bearerDefaults, roles, defaultTimeoutMs })
        if (route !== undefined) routes.push(route)
      })
  }
  // Connection pools are per upstream origin, and so is TLS trust: routes that
  // share an https upstream must agree on how to verify it.
  const tlsByOrigin = new Map<string, { index: number; profile: string }>()
  for (const route of routes) {
    const profile = `${route.tlsSkipVerify}|${route.tlsCustomCa ?? ''}`
    for (const up of route.to) {
      if (up.url.protocol !== 'https:') continue
      const prev = tlsByOrigin.get(up.url.origin)
      if (prev === undefined) tlsByOrigin.set(up.url.origin, { index: route.index, profile })
      else if (prev.profile !== profile) {
        const node = isSeq(routesNode) ? (routesNode.items[route.index] as Node) : routesNode
        r.problem(
          node,
          `routes[${route.index}]`,
          'CONFIG_CONFLICT',
          `routes[${prev.index}] and routes[${route.index}] send to ${up.url.origin} with different tls_skip_verify / tls_custom_ca_file settings`,
          'give every route to the same upstream the same TLS settings',
        )
      }
    }
  }
  const authenticate = compileAuthenticate(r, values.get('authenticate_service_url'), str('authenticate_service_url'))
  if (authenticate !== undefined) {
    checkAuthenticateNotRouted(r, authenticate, routes, routesNode)
    if (values.has('cookie_domain'))
      r.warn(
        values.get('cookie_domain'),
        'cookie_domain',
        'CONFIG_CONFLICT',
        'cookie_domain is ignored with authenticate_service_url: every route host keeps its own host-only cookie and gets the session from the sign-in host',
        'remove cookie_domain',
      )
  }
  const seen = new Map<string, number>()
  const uniqueRoutes = routes.map((route) => {
    const n = seen.get(route.id) ?? 0
    seen.set(route.id, n + 1)
    return n === 0 ? route : { ...route, id: `${route.id}#${route.index}` }
  })

  if (selfSigned) {
    // As Pomerium: no certificate and no insecure_server means HTTPS with a certificate made here.
    const hosts = [...new Set(uniqueRoutes.map((route) => route.host))]
    const generated = generateSelfSigned(hosts)
    certificatePem = generated.certificatePem
    certificateKeyPem = generated.keyPem
    r.warn(
      root,
      'certificate_file',
      'CONFIG_SELF_SIGNED',
      `no certificate_file and no insecure_server: serving HTTPS with a self-signed certificate made at start for ${hosts.length === 0 ? 'localhost' : hosts.join(', ')}; browsers will warn and clients must skip verification`,
      'set certificate_file and certificate_key_file (a certificate your clients trust), or insecure_server: true behind a TLS-terminating load balancer',
    )
  }

  const downstreamMtls = compileDownstreamMtls(
    r,
    {
      global: { node: values.get('downstream_mtls'), map: values.get('downstream_mtls') },
      clientCa: {
        node: values.get('client_ca') ?? values.get('client_ca_file'),
        text: secret('client_ca'),
        fromFile: values.has('client_ca_file'),
      },
      routeCas: routeClientCas(r, routesNode, readFile),
      insecureServer: insecure,
      root,
    },
    readFile,
  )

  const listen = address('address', ':443') ?? { host: '0.0.0.0', port: 443 }
  const metricsAddress = address('metrics_address', undefined)
  const cookieExpireMs = duration('cookie_expire', 14 * 3_600_000) as number
  const sessionRefreshIntervalMs = duration('session_refresh_interval', undefined)
  const sameSite = oneOf<SameSite>('cookie_same_site', 'lax')
  const logLevel = oneOf<LogLevel>('log_level', 'info')
  const cookieName = str('cookie_name') ?? '_gatehouse'
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName))
    r.problem(values.get('cookie_name'), 'cookie_name', 'CONFIG_BAD_VALUE', `cookie_name "${cookieName}" is not a valid cookie name`)

  let forwardAuthHost: ForwardAuthHost | undefined
  const forwardAuthUrl = str('forward_auth_url')
  if (forwardAuthUrl !== undefined) {
    const parsed = parseForwardAuthUrl(forwardAuthUrl)
    if (!parsed.ok) r.problem(values.get('forward_auth_url'), 'forward_auth_url', 'CONFIG_BAD_URL', parsed.message)
    else {
      forwardAuthHost = parsed.value
      const fa = parsed.value
      const clash = uniqueRoutes.find((rt) => rt.host === fa.host && (rt.port === undefined || fa.port === undefined || rt.port === fa.port))
      if (clash !== undefined)
        r.problem(
          values.get('forward_auth_url'),
          'forward_auth_url',
          'CONFIG_BAD_VALUE',
          `forward_auth_url's host ${fa.host} is also the host of the route from ${clash.from.href}: requests to it could not be both`,
          'give forward-auth a host of its own',
        )
      if (authenticate !== undefined && authenticate.hostname === fa.host)
        r.problem(
          values.get('forward_auth_url'),
          'forward_auth_url',
          'CONFIG_CONFLICT',
          `forward_auth_url and authenticate_service_url name the same host ${fa.host}: requests to it could not be both`,
          'give forward-auth and the sign-in host a host each',
        )
    }
  }

  if (r.problems.length > 0 || cookieSecret === undefined || providerUrl === undefined || clientId === undefined)
    return { problems: sortProblems(r.problems), warnings: r.warnings }

  const config: CompiledConfig = {
    file,
    address: listen,
    insecureServer: insecure,
    certificatePem,
    certificateKeyPem,
    authenticate,
    forwardAuthHost,
    idp: {
      provider,
      providerUrl,
      clientId,
      clientSecret,
      clientAuthMethod,
      clientPrivateKeyPem,
      ...(values.has('idp_client_private_key_id') ? { clientPrivateKeyId: str('idp_client_private_key_id') } : {}),
      scopes,
      scopesExplicit: values.has('idp_scopes'),
      groupsClaim: str('idp_groups_claim') ?? 'groups',
      groupsFilter,
    },
    cookie: {
      name: cookieName,
      secret: cookieSecret,
      secretGenerated,
      // With a sign-in host every route host's cookie is host-only (a warning above says so).
      domain: authenticate === undefined ? str('cookie_domain') : undefined,
      expireMs: cookieExpireMs,
      sameSite,
    },
    signingKeyPem,
    jwtAssertionHeader: str('jwt_assertion_header') ?? 'X-Gatehouse-Jwt-Assertion',
    jwtClaimsHeaders: claimsHeaders,
    passIdentityHeaders: bool('pass_identity_headers') ?? false,
    sessionRefreshIntervalMs,
    storage,
    metricsAddress,
    workers,
    logLevel,
    trustedProxies,
    xffNumTrustedHops: Number.isInteger(xffNumTrustedHops) && xffNumTrustedHops >= 0 ? xffNumTrustedHops : 0,
    timeoutReadMs,
    maxUpstreamRequestsPerClient: Number.isInteger(maxUpstreamRequestsPerClient) && maxUpstreamRequestsPerClient >= 0 ? maxUpstreamRequestsPerClient : 64,
    downstreamMtls,
    directory,
    roles,
    routes: uniqueRoutes,
    routeTable: buildRouteTable(uniqueRoutes),
    warnings: r.warnings,
  }
  if (r.problems.length > 0) return { problems: sortProblems(r.problems), warnings: r.warnings }
  return { config: deepFreeze(config), warnings: r.warnings }
}

/** Most worker processes a config may ask for: far past any core count, short of a typo's 10000. */
export const MAX_WORKERS = 256

function workerCount(r: Reader, node: Node | undefined): number | 'auto' {
  if (node === undefined) return 1
  const v = isScalar(node) ? node.value : undefined
  if (typeof v === 'string' && v.trim().toLowerCase() === 'auto') return 'auto'
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    r.problem(
      node,
      'workers',
      'CONFIG_BAD_VALUE',
      `workers must be a whole number from 1 to ${MAX_WORKERS}, or auto; found ${JSON.stringify(v ?? null)}`,
      'auto starts one worker per CPU available to gatehouse',
    )
    return 1
  }
  return n
}

function sortProblems(ps: Problem[]): Problem[] {
  return [...ps].sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file < b.file ? -1 : 1))
}

function deepFreeze<T>(o: T): T {
  if (o === null || typeof o !== 'object' || Object.isFrozen(o) || o instanceof RegExp || o instanceof URL || ArrayBuffer.isView(o)) return o
  for (const v of Object.values(o as object))
    if (typeof v === 'object' && v !== null && !(typeof (v as { evaluate?: unknown }).evaluate === 'function')) deepFreeze(v)
  return Object.freeze(o)
}

/** Each route's tls_downstream_client_ca(_file), read here: they join the one downstream mTLS bundle. */
function routeClientCas(
  r: Reader,
  routesNode: Node | undefined,
  readFile: (p: string) => string,
): Array<{ node: Node | undefined; path: string; text: string; fromFile: boolean }> {
  const out: Array<{ node: Node | undefined; path: string; text: string; fromFile: boolean }> = []
  if (routesNode === undefined || !isSeq(routesNode)) return out
  routesNode.items.forEach((item, i) => {
    if (!isMap(item)) return
    for (const [k, pair] of r.entries(item)) {
      if (k !== 'tls_downstream_client_ca' && k !== 'tls_downstream_client_ca_file') continue
      const node = pair.value as Node | undefined
      const path = `routes[${i}].${k}`
      const value = r.string(node, path)
      if (value === undefined) continue
      if (k === 'tls_downstream_client_ca') out.push({ node, path, text: value, fromFile: false })
      else
        try {
          out.push({ node, path, text: readFile(value), fromFile: true })
        } catch (err) {
          r.problem(node, path, 'CONFIG_FILE_UNREADABLE', `cannot read ${value} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
        }
    }
  })
  return out
}
