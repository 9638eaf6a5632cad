/** One route: YAML map → CompiledRoute, every problem collected with its position. */
import { isMap, isScalar, isSeq, type Node, type YAMLMap } from 'yaml'
import { compilePolicy, concatPolicies, didYouMean, legacyRules, parsePolicy, warningsFor, type PolicyAst } from '../policy/index.js'
import { parseDuration } from './durations.js'
import { ROUTE_KEY_MAP } from './keys.js'
import { compileLinearRegex, LINEAR_REGEX_HINT } from './linear-regex.js'
import type { Reader } from './reader.js'
import { compileRouteBearer, type BearerDefaults } from './bearer.js'
import { unknownRolesIn } from './roles.js'
import type { CompiledRoute, PathMatcher, RoleGrant, Upstream } from './types.js'

export interface RouteDeps {
  readonly readFile: (path: string) => string
  /** `default_upstream_timeout`: a route's `timeout` when it sets none. */
  readonly defaultTimeoutMs: number
  readonly bearer: BearerDefaults
  /** idp_roles, when set: a `claim/roles` naming no role is worth a warning. */
  readonly roles?: readonly RoleGrant[] | undefined
}

function parseFrom(r: Reader, node: Node, path: string): URL | undefined {
  const raw = r.string(node, path)
  if (raw === undefined) return undefined
  let url: URL
  try {
    url = new URL(raw.replace('://*.', '://wildcard-placeholder.'))
  } catch {
    r.problem(node, path, 'CONFIG_BAD_URL', `"${raw}" is not a URL`, 'for example https://app.corp.example')
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    r.problem(node, path, 'CONFIG_BAD_URL', `from must be an http:// or https:// URL, not ${url.protocol}//`)
  else if (url.pathname !== '/' || raw.replace(/\/$/, '').split('://')[1]?.includes('/'))
    r.problem(node, path, 'CONFIG_BAD_URL', `from "${raw}" contains a path, but it should be set using the path, prefix or regex field instead`)
  else if (url.search !== '' || url.hash !== '') r.problem(node, path, 'CONFIG_BAD_URL', `from "${raw}" must not have a query or fragment`)
  else if (url.username !== '' || url.password !== '') r.problem(node, path, 'CONFIG_BAD_URL', `from "${raw}" must not contain credentials`)
  else return url
  return undefined
}

function parseUpstream(r: Reader, node: Node, path: string): Upstream | undefined {
  const raw = r.string(node, path)
  if (raw === undefined) return undefined
  // Pomerium's weight suffix: `http://a:8080,3`.
  const comma = raw.lastIndexOf(',')
  let urlText = raw
  let weight = 1
  if (comma !== -1) {
    urlText = raw.slice(0, comma).trim()
    weight = Number(raw.slice(comma + 1).trim())
    if (!Number.isInteger(weight) || weight < 1 || weight > 1000) {
      r.problem(node, path, 'CONFIG_BAD_VALUE', `the weight after "," must be a whole number from 1 to 1000, found "${raw.slice(comma + 1)}"`)
      return undefined
    }
  }
  let url: URL
  try {
    url = new URL(urlText)
  } catch {
    r.problem(node, path, 'CONFIG_BAD_URL', `"${urlText}" is not a URL`, 'for example http://grafana:3000')
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    r.problem(node, path, 'CONFIG_BAD_URL', `to must be an http:// or https:// URL, not ${url.protocol}//`)
    return undefined
  }
  if (url.username !== '' || url.search !== '' || url.hash !== '') {
    r.problem(node, path, 'CONFIG_BAD_URL', `to "${urlText}" must not contain credentials, a query or a fragment`)
    return undefined
  }
  return { url, weight }
}

/** A route regex: anchored to the whole path, with or without one trailing slash, in a linear-time engine. */
function compileRouteRegex(r: Reader, node: Node, path: string): PathMatcher | undefined {
  const raw = r.string(node, path)
  if (raw === undefined) return undefined
  // Input is the path without its trailing slash plus '/': the pattern matches either form.
  const tolerant = `(?:${raw})/|(?:${raw})`
  const exact = compileLinearRegex(raw, tolerant)
  const folded = compileLinearRegex(raw, tolerant, { caseInsensitive: true })
  if (!exact.ok || !folded.ok) {
    r.problem(
      node,
      path,
      'CONFIG_BAD_REGEX',
      `invalid regular expression: ${exact.ok ? (folded as { message: string }).message : exact.message}`,
      LINEAR_REGEX_HINT,
    )
    return undefined
  }
  return { kind: 'regex', source: raw, tolerant: exact.regex, tolerantFolded: folded.regex }
}

export function compileRoute(r: Reader, map: Node, index: number, deps: RouteDeps): CompiledRoute | undefined {
  const base = `routes[${index}]`
  if (!isMap(map)) {
    r.problem(map, base, 'CONFIG_BAD_TYPE', 'a route is a map with at least from and to')
    return undefined
  }
  const before = r.problems.length
  const v = new Map<string, Node>()
  for (const [k, pair] of r.entries(map as YAMLMap)) {
    const spec = ROUTE_KEY_MAP.get(k)
    const node = (pair.value ?? pair.key) as Node
    if (spec === undefined) {
      const hint = didYouMean(k, ROUTE_KEY_MAP.keys())
      r.problem(pair.key as Node, `${base}.${k}`, 'CONFIG_UNKNOWN_KEY', `unknown route key "${k}"`, hint)
      continue
    }
    if (spec.status === 'refused') {
      r.problem(
        pair.key as Node,
        `${base}.${k}`,
        'CONFIG_UNSUPPORTED_RESTRICTION',
        `route key "${k}" restricts access or decides what the upstream serves in Pomerium, and gatehouse does not support it yet: it cannot be ignored`,
        spec.doc,
      )
      continue
    }
    if (spec.status === 'not-yet') {
      r.warn(pair.key as Node, `${base}.${k}`, 'CONFIG_UNSUPPORTED_KEY', `route key "${k}" is a Pomerium option gatehouse does not support yet; it is ignored`)
      continue
    }
    v.set(k, node)
  }
  const path = (k: string): string => `${base}.${k}`
  const str = (k: string): string | undefined => (v.has(k) ? r.string(v.get(k), path(k)) : undefined)
  const bool = (k: string): boolean | undefined => (v.has(k) ? r.bool(v.get(k), path(k)) : undefined)
  const list = (k: string): string[] | undefined => (v.has(k) ? r.stringList(v.get(k), path(k)) : undefined)
  const smap = (k: string): Record<string, string> | undefined => (v.has(k) ? r.stringMap(v.get(k), path(k)) : undefined)

  const fromNode = v.get('from')
  const from = fromNode === undefined ? undefined : parseFrom(r, fromNode, path('from'))
  if (fromNode === undefined) r.problem(map, base, 'CONFIG_MISSING_KEY', 'route has no "from"', 'for example from: https://app.corp.example')

  const toNode = v.get('to')
  const to: Upstream[] = []
  // Without `to` the route answers forward-auth checks only; a request sent to gatehouse directly gets 404.
  if (toNode === undefined) {
    // nothing to parse
  } else if (isSeq(toNode))
    toNode.items.forEach((item, i) => {
      const u = parseUpstream(r, item as Node, `${path('to')}[${i}]`)
      if (u !== undefined) to.push(u)
    })
  else if (isScalar(toNode) && typeof toNode.value === 'string' && toNode.value.includes(' ')) {
    r.problem(toNode, path('to'), 'CONFIG_BAD_URL', 'several upstreams go in a YAML list, not a space-separated string')
  } else {
    const u = parseUpstream(r, toNode, path('to'))
    if (u !== undefined) to.push(u)
  }
  if (toNode !== undefined && isSeq(toNode) && toNode.items.length === 0) r.problem(toNode, path('to'), 'CONFIG_BAD_VALUE', 'to needs at least one upstream')

  const matchers = ['prefix', 'path', 'regex'].filter((k) => v.has(k))
  let pathMatcher: PathMatcher = { kind: 'any' }
  if (matchers.length > 1)
    r.problem(
      v.get(matchers[1] as string),
      path(matchers[1] as string),
      'CONFIG_CONFLICT',
      `a route takes one of prefix, path or regex, not ${matchers.join(' and ')}`,
    )
  else if (v.has('prefix')) {
    const p = str('prefix')
    if (p !== undefined && !p.startsWith('/')) r.problem(v.get('prefix'), path('prefix'), 'CONFIG_BAD_VALUE', 'prefix must start with "/"')
    else if (p !== undefined) pathMatcher = { kind: 'prefix', prefix: p }
  } else if (v.has('path')) {
    const p = str('path')
    if (p !== undefined && !p.startsWith('/')) r.problem(v.get('path'), path('path'), 'CONFIG_BAD_VALUE', 'path must start with "/"')
    else if (p !== undefined) pathMatcher = { kind: 'path', path: p }
  } else if (v.has('regex')) {
    const m = compileRouteRegex(r, v.get('regex') as Node, path('regex'))
    if (m !== undefined) pathMatcher = m
  }

  const routeDuration = (key: 'timeout' | 'idle_timeout'): number | undefined => {
    const node = v.get(key)
    if (node === undefined) return undefined
    const d = parseDuration(isScalar(node) ? node.value : undefined)
    if (d === undefined) r.problem(node, path(key), 'CONFIG_BAD_DURATION', `${key} must be a duration such as 30s or 2m`)
    return d
  }
  const idleTimeoutMs = routeDuration('idle_timeout')
  // As Pomerium: a route that sets idle_timeout and no timeout has no overall timeout (long-lived streams).
  const timeoutMs = routeDuration('timeout') ?? (v.has('idle_timeout') ? 0 : deps.defaultTimeoutMs)

  let tlsCustomCa: string | undefined
  const caFile = str('tls_custom_ca_file')
  if (caFile !== undefined) {
    try {
      tlsCustomCa = deps.readFile(caFile)
    } catch (err) {
      r.problem(
        v.get('tls_custom_ca_file'),
        path('tls_custom_ca_file'),
        'CONFIG_FILE_UNREADABLE',
        `cannot read ${caFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      )
    }
  }

  // Policy: legacy keys first, then `policy`, as one list of rules.
  const legacy = legacyRules(
    {
      allowPublicUnauthenticatedAccess: bool('allow_public_unauthenticated_access'),
      allowAnyAuthenticatedUser: bool('allow_any_authenticated_user'),
      allowedUsers: list('allowed_users'),
      allowedDomains: list('allowed_domains'),
      corsAllowPreflight: bool('cors_allow_preflight'),
    },
    r.pos(map),
    base,
  )
  let policyAst: PolicyAst | undefined = { rules: [] }
  const policyNode = v.get('policy')
  if (policyNode !== undefined) {
    policyAst = parsePolicy(policyNode, path('policy'), {
      positionOf: (n) => r.pos(n),
      report: (p) => r.problem(p.node, p.path, 'CONFIG_POLICY', p.message, p.hint),
    })
    if (policyAst !== undefined) {
      const found = [...warningsFor(policyAst), ...(deps.roles === undefined ? [] : unknownRolesIn(policyAst, deps.roles))]
      for (const w of found) r.warnings.push({ file: r.file, ...w.at, path: w.path, code: 'CONFIG_POLICY', message: w.message })
    }
  }
  const isPublic = bool('allow_public_unauthenticated_access') === true
  const bearer = compileRouteBearer(
    r,
    { map, base },
    { format: v.get('bearer_token_format'), audiences: v.get('idp_access_token_allowed_audiences'), pass: bool('pass_bearer_token') },
    deps.bearer,
  )

  const prefixRewrite = str('prefix_rewrite')
  const hostRewrite = str('host_rewrite')
  const setRequestHeaders = smap('set_request_headers') ?? {}
  const removeRequestHeaders = (list('remove_request_headers') ?? []).map((h) => h.toLowerCase())
  const setResponseHeaders = smap('set_response_headers') ?? {}
  const name = str('name')
  const flags = {
    preserveHostHeader: bool('preserve_host_header') ?? false,
    allowWebsockets: bool('allow_websockets') ?? false,
    allowPathParameters: bool('allow_path_parameters') ?? false,
    passIdentityHeaders: bool('pass_identity_headers') ?? false,
    tlsSkipVerify: bool('tls_skip_verify') ?? false,
  }

  if (r.problems.length > before || from === undefined || policyAst === undefined) return undefined
  const full = concatPolicies(legacy, policyAst)
  if (full.rules.length === 0)
    r.warn(
      map,
      base,
      'CONFIG_NO_POLICY',
      'route has no policy and no allow_* key, so it denies everyone',
      'add a policy, or allow_any_authenticated_user: true',
    )
  const host = from.hostname.replace('wildcard-placeholder.', '*.').toLowerCase()
  const pathLabel =
    pathMatcher.kind === 'prefix'
      ? pathMatcher.prefix
      : pathMatcher.kind === 'path'
        ? pathMatcher.path
        : pathMatcher.kind === 'regex'
          ? `~${pathMatcher.source}`
          : ''
  return {
    index,
    id: name ?? `${host}${from.port === '' ? '' : `:${from.port}`}${pathLabel}`,
    from,
    host,
    port: from.port === '' ? undefined : Number(from.port),
    scheme: from.protocol === 'https:' ? 'https' : 'http',
    path: pathMatcher,
    to,
    prefixRewrite,
    hostRewrite,
    timeoutMs,
    idleTimeoutMs: idleTimeoutMs ?? 5 * 60_000,
    setRequestHeaders,
    removeRequestHeaders,
    setResponseHeaders,
    tlsCustomCa,
    policy: compilePolicy(full),
    isPublic,
    bearer,
    at: r.pos(map),
    ...flags,
  }
}
