/**
 * Path parameters (`/admin;x/users`, `;jsessionid=…`) as a servlet container
 * reads them. Tomcat, Jetty and Spring strip everything from a `;` to the end
 * of each segment and merge the empty segments that leaves, so
 * `/;x/admin/users`, `/admin;x/users` and `/settings/billing;x` are served as
 * `/admin/users` and `/settings/billing`, while a plain string comparison
 * would send them to another route. gatehouse therefore refuses a `;` in a
 * path segment (400), unless the route says `allow_path_parameters: true`; on
 * such a route the policy judges the path with the parameters removed (what a
 * servlet container serves) and the upstream receives them intact.
 */

/** The path a servlet container serves for a canonical path: `;…` cut from each segment, empty segments merged. */
export function stripPathParams(path: string): string {
  const parts = path.split('/')
  const kept: string[] = []
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i] as string
    const cut = paramStart(seg)
    const bare = cut === -1 ? seg : seg.slice(0, cut)
    // Keep a trailing empty segment (a trailing slash), as the canonical form does.
    if (bare === '' && i !== parts.length - 1) continue
    kept.push(bare)
  }
  // `/;x` leaves '/' (Tomcat serves the root).
  return '/' + kept.join('/')
}

/** Index of the first `;` or `%3B` in a canonical segment (escapes there are upper-case), or -1. */
function paramStart(seg: string): number {
  const raw = seg.indexOf(';')
  const enc = seg.indexOf('%3B')
  if (raw === -1) return enc
  if (enc === -1) return raw
  return Math.min(raw, enc)
}
