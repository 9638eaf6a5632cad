/**
 * Writing cookies. Reading them has exactly one implementation,
 * proxy/cookie-header.ts (whole names after splitting on `;`, bounded),
 * re-exported here for the endpoints.
 */
export { readCookie, readCookies } from '../proxy/cookie-header.js'

export interface CookieOptions {
  readonly maxAgeSeconds?: number
  readonly path?: string
  readonly domain?: string
  readonly secure: boolean
  readonly httpOnly?: boolean
  readonly sameSite: 'lax' | 'strict' | 'none'
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const VALUE = /^[!#-+\--:<-[\]-~]*$/

export function serializeCookie(name: string, value: string, opts: CookieOptions): string {
  if (!TOKEN.test(name)) throw new Error(`invalid cookie name ${JSON.stringify(name)}`)
  if (!VALUE.test(value)) throw new Error('invalid cookie value')
  let s = `${name}=${value}; Path=${opts.path ?? '/'}`
  if (opts.maxAgeSeconds !== undefined) s += `; Max-Age=${Math.max(0, Math.floor(opts.maxAgeSeconds))}`
  if (opts.domain !== undefined) s += `; Domain=${opts.domain}`
  if (opts.httpOnly !== false) s += '; HttpOnly'
  if (opts.secure) s += '; Secure'
  s += `; SameSite=${opts.sameSite === 'lax' ? 'Lax' : opts.sameSite === 'strict' ? 'Strict' : 'None'}`
  return s
}

export function expireCookie(name: string, opts: Omit<CookieOptions, 'maxAgeSeconds'>): string {
  return serializeCookie(name, '', { ...opts, maxAgeSeconds: 0 })
}
