/**
 * The hop from a route host to the sign-in host (`authenticate_service_url`):
 * a signed, short-lived request that names the route host, the return URL and
 * the browser's binding (the digest of a nonce the route host keeps in a
 * host-only cookie), so that the one-time code the sign-in host hands back can
 * be redeemed only by the browser that started. HMAC-SHA256 under a key
 * derived from cookie_secret: every replica signs and checks alike. Pure: no I/O.
 *
 *   const start = startHandoff(snap.authenticate, 'https', 'app.corp.example', 'https://app.corp.example/x', now)
 *   // 302 to start.url, Set-Cookie <binding cookie>=start.binding on app.corp.example
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { PATHS } from '../constants.js'
import type { AuthenticateService } from '../config/types.js'

/** How long a signed request may take to reach the sign-in host (the hop is an immediate redirect). */
export const SIGN_IN_REQUEST_TTL_MS = 2 * 60_000
const MAX_REQUEST_CHARS = 12_000

export interface AuthenticateRuntime {
  readonly service: AuthenticateService
  /** Signs the route hosts' sign-in requests. */
  readonly requestKey: Buffer
  /** Ties a programmatic sign-in's token to its route host. */
  readonly tokenKey: Buffer
}

/** What a route host asks the sign-in host for. */
export interface SignInRequest {
  /** The route host as the browser names it (`app.corp.example:8443`), lower case. */
  readonly host: string
  readonly scheme: 'http' | 'https'
  /** Where the browser goes after the handoff: a URL on that route host. */
  readonly returnTo: string
  /** base64url SHA-256 of the nonce in the route host's binding cookie. */
  readonly binding: string
  readonly expiresAtMs: number
  /** Programmatic sign-in: the loopback URL that receives the token (instead of a code to the route host). */
  readonly loopback?: string
  /** The loopback asked with Pomerium's parameter name: the token comes back as `pomerium_jwt`. */
  readonly pomerium?: boolean
}

export function authenticateRuntime(service: AuthenticateService | undefined, cookieSecret: Uint8Array): AuthenticateRuntime | undefined {
  if (service === undefined) return undefined
  return {
    service,
    requestKey: Buffer.from(hkdfSync('sha256', cookieSecret, Buffer.alloc(0), 'gatehouse sign-in request v1', 32)),
    tokenKey: Buffer.from(hkdfSync('sha256', cookieSecret, Buffer.alloc(0), 'gatehouse programmatic token v1', 32)),
  }
}

function mac(key: Uint8Array, payload: string): Buffer {
  return createHmac('sha256', key).update('gatehouse sign-in request v1.').update(payload).digest()
}

export function signSignInRequest(key: Uint8Array, req: SignInRequest): string {
  const payload = Buffer.from(JSON.stringify(req)).toString('base64url')
  return `${payload}.${mac(key, payload).toString('base64url')}`
}

/** The request when its signature holds and it has not expired (`graceMs` past expiry is still accepted); else undefined. Never throws. */
export function openSignInRequest(key: Uint8Array, text: string | null | undefined, nowMs: number, graceMs = 0): SignInRequest | undefined {
  if (typeof text !== 'string' || text.length > MAX_REQUEST_CHARS || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/.test(text)) return undefined
  const [payload, sig] = text.split('.') as [string, string]
  const want = mac(key, payload)
  const got = Buffer.from(sig, 'base64url')
  if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined
  let req: SignInRequest
  try {
    req = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SignInRequest
  } catch {
    return undefined
  }
  if (typeof req !== 'object' || req === null) return undefined
  if (typeof req.host !== 'string' || typeof req.returnTo !== 'string' || typeof req.binding !== 'string' || typeof req.expiresAtMs !== 'number')
    return undefined
  if (req.scheme !== 'http' && req.scheme !== 'https') return undefined
  if (req.loopback !== undefined && typeof req.loopback !== 'string') return undefined
  if (req.pomerium !== undefined && req.pomerium !== true) return undefined
  if (nowMs > req.expiresAtMs + graceMs) return undefined
  return req
}

export function bindingDigest(nonce: string): string {
  return createHash('sha256').update(nonce).digest('base64url')
}

/** The binding cookie's name on the route host: one per attempt (several tabs may sign in at once). */
export function bindingCookieName(loginCookiePrefix: string, digest: string): string {
  return `${loginCookiePrefix}h${digest.slice(0, 12).replace(/[-_]/g, 'x')}`
}

export interface HandoffStart {
  /** The sign-in host's `/.gatehouse/sign_in?request=…`. */
  readonly url: string
  /** The nonce the route host keeps in its binding cookie. */
  readonly binding: string
  readonly bindingDigest: string
}

/** A new signed request from a route host to the sign-in host, and the nonce that binds it to this browser. */
export function startHandoff(
  rt: AuthenticateRuntime,
  target: { scheme: 'http' | 'https'; host: string; returnTo: string; loopback?: string; pomerium?: boolean },
  nowMs: number,
): HandoffStart {
  const binding = randomBytes(24).toString('base64url')
  const digest = bindingDigest(binding)
  const request = signSignInRequest(rt.requestKey, {
    host: target.host,
    scheme: target.scheme,
    returnTo: target.returnTo,
    binding: digest,
    expiresAtMs: nowMs + SIGN_IN_REQUEST_TTL_MS,
    ...(target.loopback === undefined ? {} : { loopback: target.loopback }),
    ...(target.pomerium === true ? { pomerium: true } : {}),
  })
  return { url: `${rt.service.origin}${PATHS.signIn}?request=${request}`, binding, bindingDigest: digest }
}

/** Whether a Host header names the sign-in host (a URL without a port matches any port, as a route's `from`). */
export function isAuthenticateHost(service: AuthenticateService, hostname: string, port: number): boolean {
  return hostname === service.hostname && (service.port === undefined || service.port === port)
}
