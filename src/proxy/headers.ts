/**
 * What goes upstream. Per route, built once at load: the set of header names
 * gatehouse owns (client-sent copies are dropped in any casing or underscore
 * spelling), the route's set/remove rules, and the templates in
 * `set_request_headers`. Per request: one pass over the incoming headers.
 */
import type { CompiledConfig, CompiledRoute } from '../config/types.js'
import type { Identity } from '../policy/types.js'
import { CLAIM_HEADER_PREFIX, REQUEST_ID_HEADER } from '../constants.js'
import { forEachCookie } from './cookie-header.js'

/** Prefixes of names only gatehouse may set (after `_` → `-`, lower case). */
const OWNED_PREFIXES = ['x-gatehouse-', 'x-pomerium-', 'x-forwarded-', 'x-auth-request-'] as const

/** Identity and forwarding headers other proxies use; an upstream may trust them, so a client must never send them. */
const OWNED_NAMES = [
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'remote-user',
  'x-remote-user',
  'x-remote-email',
  'x-remote-groups',
  'x-remote-name',
  'x-user',
  'x-email',
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  REQUEST_ID_HEADER,
] as const

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1), `host` (set from the route), and
 * `expect` (node has already answered a 100-continue; the upstream gets the body).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
])

/** Extra names the client listed in its Connection header (`Connection: close, X-Foo`): hop-by-hop too. */
function connectionListed(connection: string | string[] | undefined): Set<string> | undefined {
  if (typeof connection !== 'string' || (connection.indexOf(',') === -1 && /^\s*(keep-alive|close|upgrade)\s*$/i.test(connection))) return undefined
  const names = new Set<string>()
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase()
    if (name.length > 0 && name !== 'keep-alive' && name !== 'close' && name !== 'upgrade') names.add(name)
  }
  return names.size === 0 ? undefined : names
}

export type TemplatePart = string | { readonly token: 'id_token' | 'access_token' | 'jwt' }

export type IdentityForHeaders = Identity & { readonly idToken: string; readonly accessToken: string }

export interface UpstreamHeaderFacts {
  readonly requestId: string
  readonly forwardedFor: string
  readonly forwardedProto: string
  readonly forwardedHost: string
  /** The upstream Host header (after preserve_host_header / host_rewrite). */
  readonly host: string
  readonly who: IdentityForHeaders | undefined
  readonly assertion: string | undefined
  /** gatehouse's own cookie name (`cookie_name`); every cookie whose name starts with it or with `__Host-` + it is dropped. */
  readonly cookieName: string
  /** A WebSocket upgrade (the tunnel path): keep `Connection: Upgrade` and `Upgrade`. Any other request drops them. */
  readonly websocket?: boolean
}

export interface HeaderRules {
  /** Build the upstream request headers from the client's. */
  upstream(incoming: Readonly<Record<string, string | string[] | undefined>>, facts: UpstreamHeaderFacts): Record<string, string | string[]>
  readonly setResponseHeaders: Readonly<Record<string, string>>
}

const TEMPLATE = /\$\{(?:gatehouse|pomerium)\.(id_token|access_token|jwt)\}/g

export function parseHeaderTemplate(value: string): readonly TemplatePart[] {
  const parts: TemplatePart[] = []
  let last = 0
  for (const m of value.matchAll(TEMPLATE)) {
    const idx = m.index ?? 0
    if (idx > last) parts.push(value.slice(last, idx))
    parts.push({ token: m[1] as 'id_token' | 'access_token' | 'jwt' })
    last = idx + m[0].length
  }
  if (last < value.length) parts.push(value.slice(last))
  return parts
}

function canonicalName(name: string): string {
  const lower = name.toLowerCase()
  return lower.indexOf('_') === -1 ? lower : lower.replace(/_/g, '-')
}

/**
 * A list in one header value, unambiguously: items joined with `,`, and in
 * each item `%`, `,` and every character outside printable ASCII
 * percent-encoded (UTF-8). A group named `a,b` is sent as `a%2Cb`, so it
 * never reads as two groups; plain names are sent as they are.
 */
export function encodeHeaderList(items: readonly string[]): string {
  let out = ''
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ','
    out += encodeListItem(items[i] as string)
  }
  return out
}

function encodeListItem(item: string): string {
  for (let i = 0; i < item.length; i++) {
    const c = item.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x25 || c === 0x2c)
      return item.replace(/[^\x20-\x24\x26-\x2b\x2d-\x7e]/gu, (ch) => encodeURIComponent(ch).replace(/,/g, '%2C'))
  }
  return item
}

function claimText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined
  if (Array.isArray(v)) return encodeHeaderList(v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))))
  if (typeof v === 'string') return v
  return JSON.stringify(v)
}

/** A claim for jwt_claims_headers: the identity's own fields first (Pomerium calls `sub` "user"). */
function claimOf(who: IdentityForHeaders, claim: string): string | undefined {
  switch (claim) {
    case 'groups':
      return encodeHeaderList(who.groups)
    case 'roles':
      return who.roles === undefined ? claimText(who.claims.roles) : encodeHeaderList(who.roles)
    case 'email':
      return who.email
    case 'name':
      return who.name
    case 'sub':
    case 'user':
      return who.sub
    default:
      return claimText(who.claims[claim])
  }
}

/** Strip CR/LF and other control characters so a claim can never split a header. */
function safeHeaderValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(v) ? v.replace(/[\x00-\x1f\x7f]/g, ' ') : v
}

function dropOwnCookies(cookie: string, cookieName: string): string | undefined {
  if (cookie.indexOf(cookieName) === -1) return cookie
  const hostPrefixed = '__Host-' + cookieName
  const securePrefixed = '__Secure-' + cookieName
  const kept: string[] = []
  // The same reader as every other caller; no bound here, the header's own size limit is the bound.
  forEachCookie(
    cookie,
    (name, _value, raw) => {
      if (!name.startsWith(cookieName) && !name.startsWith(hostPrefixed) && !name.startsWith(securePrefixed)) kept.push(raw)
    },
    Number.MAX_SAFE_INTEGER,
  )
  return kept.length === 0 ? undefined : kept.join('; ')
}

export function buildHeaderRules(config: CompiledConfig, route: CompiledRoute): HeaderRules {
  const assertionHeader = config.jwtAssertionHeader.toLowerCase()
  const passIdentity = route.passIdentityHeaders || config.passIdentityHeaders
  const claimHeaders = Object.entries(config.jwtClaimsHeaders).map(([claim, header]) => [claim, header.toLowerCase()] as const)
  const setHeaders = Object.entries(route.setRequestHeaders).map(([name, value]) => [name.toLowerCase(), parseHeaderTemplate(value)] as const)

  // The Authorization header that carried a token gatehouse verified was meant for gatehouse.
  const PROGRAMMATIC_TOKEN = /^(bearer (gatehouse|pomerium)-|pomerium )/i
  const stripBearer = route.bearer.format !== 'default' && !route.bearer.passToken
  const owned = new Set<string>([...OWNED_NAMES, canonicalName(assertionHeader)])
  for (const [, h] of claimHeaders) owned.add(canonicalName(h))
  for (const [h] of setHeaders) owned.add(canonicalName(h))
  for (const h of route.removeRequestHeaders) owned.add(canonicalName(h))

  function isOwned(name: string): boolean {
    const c = canonicalName(name)
    if (owned.has(c)) return true
    for (const p of OWNED_PREFIXES) if (c.startsWith(p)) return true
    return false
  }

  return {
    setResponseHeaders: route.setResponseHeaders,
    upstream(incoming, f) {
      const out: Record<string, string | string[]> = {}
      const listed = connectionListed(incoming.connection)
      for (const name in incoming) {
        const v = incoming[name]
        if (v === undefined || HOP_BY_HOP.has(name) || isOwned(name) || listed?.has(name) === true) continue
        if (stripBearer && name === 'authorization' && typeof v === 'string' && /^bearer /i.test(v)) continue
        // A programmatic sign-in's token is a session handle for gatehouse: never the upstream's.
        if (name === 'authorization' && typeof v === 'string' && PROGRAMMATIC_TOKEN.test(v)) continue
        if (name === 'cookie') {
          const kept = dropOwnCookies(Array.isArray(v) ? v.join('; ') : v, f.cookieName)
          if (kept !== undefined) out.cookie = kept
          continue
        }
        out[name] = v
      }
      // A WebSocket upgrade needs these; everything else is hop-by-hop.
      const upgrade = incoming.upgrade
      if (f.websocket === true && typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket') {
        out.connection = 'Upgrade'
        out.upgrade = upgrade
      }
      out.host = f.host
      out[REQUEST_ID_HEADER] = f.requestId
      out['x-forwarded-for'] = f.forwardedFor
      out['x-forwarded-proto'] = f.forwardedProto
      out['x-forwarded-host'] = f.forwardedHost
      const who = f.who
      if (who !== undefined) {
        if (f.assertion !== undefined) out[assertionHeader] = f.assertion
        if (passIdentity) {
          out[CLAIM_HEADER_PREFIX + 'sub'] = safeHeaderValue(who.sub)
          if (who.email !== undefined) out[CLAIM_HEADER_PREFIX + 'email'] = safeHeaderValue(who.email)
          if (who.name !== undefined) out[CLAIM_HEADER_PREFIX + 'name'] = safeHeaderValue(who.name)
          out[CLAIM_HEADER_PREFIX + 'groups'] = encodeHeaderList(who.groups)
          if (who.roles !== undefined) out[CLAIM_HEADER_PREFIX + 'roles'] = encodeHeaderList(who.roles)
          for (const [claim, header] of claimHeaders) {
            const v = claimOf(who, claim)
            if (v !== undefined) out[header] = safeHeaderValue(v)
          }
        }
      }
      for (const [name, parts] of setHeaders) {
        let value = ''
        for (const p of parts) {
          if (typeof p === 'string') value += p
          else if (p.token === 'jwt') value += f.assertion ?? ''
          else if (p.token === 'id_token') value += who?.idToken ?? ''
          else value += who?.accessToken ?? ''
        }
        out[name] = safeHeaderValue(value)
      }
      return out
    },
  }
}
