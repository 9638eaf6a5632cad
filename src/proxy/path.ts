/**
 * Request-path normalisation. The policy decides on exactly the path the
 * upstream receives, so the path is made canonical once, here:
 * - dot segments (`.`, `..`, and their percent-encoded forms) are resolved;
 * - percent-encoded unreserved characters are decoded (`%61dmin` is `admin`),
 *   other escapes are kept with upper-case hex;
 * - anything an upstream could read differently is refused: an encoded slash
 *   or backslash, a raw backslash, `..;`, a NUL or control character, an
 *   invalid escape, or a double-encoded separator (`%252e`, `%252f`, `%255c`,
 *   and `;`, `?`, `#`, `%`, control characters encoded twice), which an
 *   upstream or a second proxy that decodes twice would read as the separator.
 *
 * Path parameters (`;x` in a segment) are reported, not refused, here: the
 * route decides (see proxy/path-params.ts), because servlet containers strip
 * them per segment and so serve another path than the one written.
 */

export type PathResult =
  | {
      readonly ok: true
      readonly path: string
      readonly query: string
      /** Some segment holds a `;` (raw or `%3B`): a servlet container would strip what follows it. */
      readonly hasParams?: true
    }
  | { readonly ok: false; readonly reason: string }

const MAX_PATH_LENGTH = 8192

const UNRESERVED = /^[A-Za-z0-9\-._~]$/

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48
  if (code >= 65 && code <= 70) return code - 55
  if (code >= 97 && code <= 102) return code - 87
  return -1
}

/**
 * `%25` (any run of them) followed by the escape of a separator: decoded twice
 * it is that separator. Checked on the canonical segment, where `%25%32%65`
 * has already become `%252e`.
 */
const DOUBLE_ENCODED = /%25(?:25)*(?:2[EeFf35]|5[Cc]|3[BbFf]|[01][0-9A-Fa-f]|7[Ff])/

/** Canonicalise one segment, or return a refusal reason. */
function canonicalSegment(seg: string): string | { reason: string } {
  if (seg.indexOf('%') === -1) {
    for (let i = 0; i < seg.length; i++) {
      const c = seg.charCodeAt(i)
      if (c < 0x20 || c === 0x7f) return { reason: 'control character in path' }
      if (c === 0x5c) return { reason: 'backslash in path' }
    }
    return seg
  }
  let out = ''
  for (let i = 0; i < seg.length; i++) {
    const ch = seg[i] as string
    const c = seg.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return { reason: 'control character in path' }
    if (c === 0x5c) return { reason: 'backslash in path' }
    if (ch !== '%') {
      out += ch
      continue
    }
    const hi = hexValue(seg.charCodeAt(i + 1))
    const lo = hexValue(seg.charCodeAt(i + 2))
    if (hi < 0 || lo < 0) return { reason: 'invalid percent-encoding in path' }
    const byte = hi * 16 + lo
    if (byte === 0x2f) return { reason: 'encoded slash (%2F) in path' }
    if (byte === 0x5c) return { reason: 'encoded backslash (%5C) in path' }
    if (byte < 0x20 || byte === 0x7f) return { reason: 'encoded control character in path' }
    const decoded = String.fromCharCode(byte)
    out += UNRESERVED.test(decoded) ? decoded : '%' + seg.slice(i + 1, i + 3).toUpperCase()
    i += 2
  }
  if (out.indexOf('%25') !== -1 && DOUBLE_ENCODED.test(out)) return { reason: 'double-encoded separator (such as %252e or %252f) in path' }
  return out
}

/**
 * Printable ASCII that canonicalisation never changes: everything but `%`
 * (escapes), `\\`, `#`, `?`, control characters and DEL. `.` and `/` are
 * plain only where they cannot form a dot segment or an empty segment.
 */
const PLAIN = new Uint8Array(128)
for (let c = 0x21; c < 0x7f; c++) PLAIN[c] = 1
for (const ch of '%\\#?;') PLAIN[ch.charCodeAt(0)] = 0

/** True when the path is already canonical: no escapes, no dot segments, no `//`, nothing refused. */
function isPlainPath(rawPath: string): boolean {
  let prev = 0
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i)
    if (c >= 128 || PLAIN[c] === 0) return false
    if (prev === 0x2f && (c === 0x2f || c === 0x2e)) return false
    prev = c
  }
  return true
}

/**
 * Split a request target (`/a/b?x=1`) into a canonical path and the raw query.
 * Refuses absolute-form and asterisk-form targets: a proxy for browsers only
 * needs origin-form.
 */
export function normalizeRequestPath(target: string): PathResult {
  if (target.length === 0 || target.charCodeAt(0) !== 0x2f) return { ok: false, reason: 'request target must start with "/"' }
  const q = target.indexOf('?')
  const rawPath = q === -1 ? target : target.slice(0, q)
  const query = q === -1 ? '' : target.slice(q)
  if (rawPath.length > MAX_PATH_LENGTH) return { ok: false, reason: 'path too long' }
  // Most paths are already canonical: one scan instead of split, decode and join.
  if (isPlainPath(rawPath)) return { ok: true, path: rawPath, query }
  return canonicalPath(rawPath, query)
}

/** The full canonicalisation (also the reference the fast path is tested against). */
export function canonicalPath(rawPath: string, query: string): PathResult {
  if (rawPath.indexOf('#') !== -1) return { ok: false, reason: 'fragment in request target' }

  const parts = rawPath.split('/')
  const out: string[] = []
  // parts[0] is '' (leading slash)
  for (let i = 1; i < parts.length; i++) {
    const seg = canonicalSegment(parts[i] as string)
    if (typeof seg !== 'string') return { ok: false, reason: seg.reason }
    const isLast = i === parts.length - 1
    if (seg === '.') {
      if (isLast) out.push('')
      continue
    }
    if (seg === '..') {
      out.pop()
      if (isLast) out.push('')
      continue
    }
    // `..;param` is read as `..` by some servlet containers.
    if (seg.startsWith('..;') || seg.startsWith('.;') || seg.startsWith('..%3B') || seg.startsWith('.%3B'))
      return { ok: false, reason: 'dot segment with parameters ("..;") in path' }
    out.push(seg)
  }
  // Collapse empty segments (`//admin` is `/admin` to most upstreams) except a trailing slash.
  const kept: string[] = []
  for (let i = 0; i < out.length; i++) {
    const seg = out[i] as string
    if (seg === '' && i !== out.length - 1) continue
    kept.push(seg)
  }
  const path = '/' + kept.join('/')
  // Judged on the result: a segment with parameters that `..` removed is gone from what the upstream receives.
  const hasParams = path.indexOf(';') !== -1 || path.indexOf('%3B') !== -1
  return hasParams ? { ok: true, path, query, hasParams } : { ok: true, path, query }
}

/** The route's parts that decide the upstream path. */
export interface RewriteRule {
  readonly path:
    | { readonly kind: 'any' }
    | { readonly kind: 'prefix'; readonly prefix: string }
    | { readonly kind: 'path'; readonly path: string }
    | { readonly kind: 'regex' }
  readonly prefixRewrite: string | undefined
}

/**
 * The path the upstream receives: `prefix_rewrite` replaces the matched prefix; a `to` path is prepended.
 * undefined when the result is not canonical: `prefix: /pub1` rewritten to `/public/` would turn
 * `/pub1../private` into `/public/../private`, outside the rewrite base. The caller refuses with 400.
 */
export function upstreamPath(route: RewriteRule, path: string, toPath: string): string | undefined {
  let p = path
  if (route.prefixRewrite !== undefined) {
    const prefix = route.path.kind === 'prefix' ? route.path.prefix : route.path.kind === 'path' ? route.path.path : '/'
    p = joinPath(route.prefixRewrite, path.startsWith(prefix) ? path.slice(prefix.length) : path)
  }
  if (toPath !== '/' && toPath !== '') p = joinPath(toPath, p)
  if (!p.startsWith('/')) p = '/' + p
  if (p === path) return p
  // Re-check after the rewrite: no dot segment, empty segment or anything the request path check refuses.
  const again = canonicalPath(p, '')
  return again.ok && again.path === p ? p : undefined
}

/** `a` + `b` with exactly one slash between them when both have one there. */
export function joinPath(a: string, b: string): string {
  if (b === '') return a
  if (a.endsWith('/') && b.startsWith('/')) return a + b.slice(1)
  if (!a.endsWith('/') && !b.startsWith('/')) return `${a}/${b}`
  return a + b
}
