/**
 * The one reader of the Cookie request header, used by every caller (the
 * session and login-state cookies, and the upstream header rules that drop
 * gatehouse's own cookies). It reads the header the way browsers write it
 * (RFC 6265 §5.4): pairs separated by `;`, each trimmed, the name being
 * everything before the first `=`, compared whole. A name is never searched
 * for inside the text: `theme="x __Host-_gatehouse=S"` is one cookie named
 * `theme`, so a sibling subdomain cannot plant or hide gatehouse's cookies
 * inside another cookie's value (cookie tossing).
 *
 * Bounded: one pass, and at most `limit` pairs are looked at.
 */

/** Pairs looked at, at most: a header with thousands of cookies costs one bounded pass. */
export const MAX_COOKIE_PAIRS = 256

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09
}

/** `text.slice(start, end)` without leading and trailing spaces or tabs. */
function trimmed(text: string, start: number, end: number): string {
  while (start < end && isBlank(text.charCodeAt(start))) start++
  while (end > start && isBlank(text.charCodeAt(end - 1))) end--
  return text.slice(start, end)
}

/** A value in double quotes (RFC 6265 allows them) is read without them. */
function unquoted(v: string): string {
  return v.length >= 2 && v.charCodeAt(0) === 0x22 && v.charCodeAt(v.length - 1) === 0x22 ? v.slice(1, -1) : v
}

/**
 * Calls `visit(name, value, raw)` for each pair in header order; `raw` is the
 * trimmed pair as sent. A pair without `=` is a nameless cookie (name ''),
 * as RFC 6265bis reads it: it can never be one of gatehouse's. Stops when
 * `visit` returns false.
 */
export function forEachCookie(
  header: string | readonly string[] | undefined,
  visit: (name: string, value: string, raw: string) => boolean | void,
  limit = MAX_COOKIE_PAIRS,
): void {
  if (header === undefined) return
  const text = typeof header === 'string' ? header : header.join('; ')
  let start = 0
  for (let seen = 0; start <= text.length && seen < limit; seen++) {
    let end = text.indexOf(';', start)
    if (end === -1) end = text.length
    const eq = text.indexOf('=', start)
    const raw = trimmed(text, start, end)
    if (raw.length > 0) {
      const named = eq !== -1 && eq < end
      const name = named ? trimmed(text, start, eq) : ''
      const value = named ? unquoted(trimmed(text, eq + 1, end)) : raw
      if (visit(name, value, raw) === false) return
    }
    start = end + 1
  }
}

/** The value of the first cookie named exactly `name`, or undefined. */
export function readCookie(header: string | readonly string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  // Most requests carry none of gatehouse's cookies: one substring check before any parsing.
  if ((typeof header === 'string' ? header : header.join('; ')).indexOf(name) === -1) return undefined
  let found: string | undefined
  forEachCookie(header, (n, v) => {
    if (n !== name) return true
    found = v
    return false
  })
  return found
}

/** Cookies whose whole name starts with `prefix`, first of each name, in header order; at most `limit` of them. */
export function readCookies(header: string | readonly string[] | undefined, prefix: string, limit = 32): Map<string, string> {
  const out = new Map<string, string>()
  if (header === undefined) return out
  if ((typeof header === 'string' ? header : header.join('; ')).indexOf(prefix) === -1) return out
  forEachCookie(header, (n, v) => {
    if (n.startsWith(prefix) && !out.has(n)) out.set(n, v)
    return out.size < limit
  })
  return out
}

/**
 * True when a `Set-Cookie` value from an upstream would set one of
 * gatehouse's own cookies (the session, login-state and CSRF cookies, plain
 * or with a `__Host-`/`__Secure-` prefix, any letter case): an upstream must
 * never be able to plant or replace them.
 */
export function setsOwnCookie(setCookie: string, cookieName: string): boolean {
  const semi = setCookie.indexOf(';')
  const pair = semi === -1 ? setCookie : setCookie.slice(0, semi)
  const eq = pair.indexOf('=')
  // A nameless cookie (`Set-Cookie: value`) cannot be one of ours.
  if (eq === -1) return false
  const name = pair.slice(0, eq).trim().toLowerCase()
  const own = cookieName.toLowerCase()
  return name.startsWith(own) || name.startsWith('__host-' + own) || name.startsWith('__secure-' + own)
}
