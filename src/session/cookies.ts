/**
 * A deliberately small cookie reader and writer. Reading is bounded: a header
 * with thousands of cookies costs one pass and keeps only the names gatehouse
 * owns, so a hostile Cookie header cannot make work grow.
 */

export interface CookieOptions {
  readonly maxAgeSeconds?: number
  readonly path?: string
  readonly domain?: string
  readonly secure: boolean
  readonly httpOnly?: boolean
  readonly sameSite: 'lax' | 'strict' | 'none'
}

/** Cookies whose name starts with `prefix`, in header order; at most `limit` of them. */
export function readCookies(header: string | string[] | undefined, prefix: string, limit = 32): Map<string, string> {
  const out = new Map<string, string>()
  if (header === undefined) return out
  const text = Array.isArray(header) ? header.join('; ') : header
  if (text.indexOf(prefix) === -1) return out
  let start = 0
  while (start < text.length && out.size < limit) {
    let end = text.indexOf(';', start)
    if (end === -1) end = text.length
    const eq = text.indexOf('=', start)
    if (eq !== -1 && eq < end) {
      const name = text.slice(start, eq).trim()
      if (name.startsWith(prefix) && !out.has(name)) {
        let value = text.slice(eq + 1, end).trim()
        if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
        out.set(name, value)
      }
    }
    start = end + 1
  }
  return out
}

/** The value of the cookie named exactly `name` (the first one sent), or undefined. */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  const text = Array.isArray(header) ? header.join('; ') : header
  let from = 0
  for (;;) {
    const i = text.indexOf(name + '=', from)
    if (i === -1) return undefined
    const before = i === 0 ? ';' : text[i - 1]
    if (before === ';' || before === ' ') {
      const start = i + name.length + 1
      const end = text.indexOf(';', start)
      const v = text.slice(start, end === -1 ? undefined : end).trim()
      return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v
    }
    from = i + 1
  }
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
